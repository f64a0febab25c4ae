/**
 * End-to-end pipeline benchmark (not a test): a synthetic RGB-D stream (rgb8 + 16UC1 + CameraInfo CDR, as a
 * RealSense bag has it) is replayed through the real node core — InProcRuntime + DeclipNode + DeclipPipeline
 * (Perceiver + PosePipeline) — in two modes:
 *   - `1x` (or any `<r>x`): real-time pacing at r times the recorded rate, live behaviour (the node's
 *     latest-frame-wins slot drops frames that arrive while it is busy; drops are counted);
 *   - `max`: each frame is delivered when the previous one has been published (throughput).
 * Measured per frame: the node's stage timings (ObjectInstanceArray preprocess_ms / features_ms / masks_ms /
 * instances_ms / pose_ms / total_ms), queue + decode (frame delivered -> pipeline start), publish (pipeline end ->
 * last publication of the frame), and latency from frame arrival (the time the frame's last message was due at
 * the replay rate) to its last publication. Also: throughput, frames dropped, peak RSS, GPU memory (--gpu-mem,
 * via nvidia-smi) and the image encoder alone (--encoder-reps runs on a fixed input).
 *
 *   npm run bench -- pipeline                                         # default: tiny test model, quick
 *   node out/bench-build/bench/pipeline.bench.js --model out/models/b16-224 --size 224 --device cpu
 *   node out/bench-build/bench/pipeline.bench.js --model M --sweep size=224,336,448 --modes max
 *   node out/bench-build/bench/pipeline.bench.js --help
 *
 * Writes JSON (--out, default out/bench/pipeline.json) and a Markdown table (out/bench/pipeline.md; appended to
 * BENCHMARKS.md with --append-md BENCHMARKS.md), each with machine, date, commit, command and load average.
 */
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { cameraInfoFromIntrinsics, depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../src/bag/image';
import { defaultCodec } from '../src/node/codec';
import {
  createDeclipPipeline,
  defaultPipelineSettings,
  type DeclipPipeline,
} from '../src/node/declipPipeline';
import { InProcRuntime } from '../src/node/inproc';
import { DeclipNode, type NodeStats } from '../src/node/node';
import type { Pipeline } from '../src/node/pipeline';
import type { Device } from '../src/perception/session';
import { generateSequence } from '../src/synth';
import { COLOUR_NAMES } from '../src/synth/materials';
import { CATEGORIES } from '../src/synth/mesh';
import { quantiles, type Quantiles } from './stats';

const HELP = `pipeline.bench: end-to-end replay through DeclipNode + DeclipPipeline
  --model DIR          model package (default test/models/tiny-random)
  --device D           auto | cuda | webgpu | cpu (default cpu)
  --size N             network input N x N ('fixed' resize) for packages with dynamic H,W (default: the package's)
  --queries "a, b"     explicit queries (default: objects of the scene, see --num-queries)
  --num-queries N      number of queries (default 1)
  --instances N        objects in the synthetic scene (default 4)
  --frames N           distinct frames rendered (looped; default 30)
  --hz F               recorded frame rate (default 30)
  --width W --height H frame size (default 640 x 480)
  --modes LIST         comma list of 1x, 2x, ... and max (default 1x,max)
  --duration S         seconds per paced mode (default 10)
  --max-frames N       frames in max mode (default 30)
  --warmup N           frames processed before measuring (default 3)
  --encoder-reps N     image encoder alone, N runs (default 20; 0 = skip)
  --threads N          onnxruntime CPU intra-op threads (node param cpu_threads; default 0 = onnxruntime's)
  --sweep K=V1,V2      repeat for size | queries | instances values (e.g. size=224,336,448)
  --gpu-mem            sample nvidia-smi memory.used (GPU machines)
  --label TEXT         a label for the table rows
  --out FILE           JSON (default out/bench/pipeline.json)
  --md FILE            Markdown table (default out/bench/pipeline.md)
  --append-md FILE     also append the table to FILE (e.g. BENCHMARKS.md)`;

interface Args {
  model: string;
  device: Device;
  size: number;
  queries: string[];
  numQueries: number;
  instances: number;
  frames: number;
  hz: number;
  width: number;
  height: number;
  modes: string[];
  durationS: number;
  maxFrames: number;
  warmup: number;
  encoderReps: number;
  threads: number;
  sweep: { key: 'size' | 'queries' | 'instances'; values: number[] } | null;
  gpuMem: boolean;
  label: string;
  out: string;
  md: string;
  appendMd: string;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = {
    model: path.resolve('test/models/tiny-random'),
    device: 'cpu',
    size: 0,
    queries: [],
    numQueries: 1,
    instances: 4,
    frames: 30,
    hz: 30,
    width: 640,
    height: 480,
    modes: ['1x', 'max'],
    durationS: 10,
    maxFrames: 30,
    warmup: 3,
    encoderReps: 20,
    threads: 0,
    sweep: null,
    gpuMem: false,
    label: '',
    out: 'out/bench/pipeline.json',
    md: 'out/bench/pipeline.md',
    appendMd: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const str = (): string => {
      if (v === undefined) throw new Error(`${k} needs a value (see --help)`);
      i++;
      return v;
    };
    const num = (): number => {
      const n = Number(str());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${k} needs a non-negative number, got '${v}'`);
      return n;
    };
    if (k === '--help' || k === '-h') {
      process.stdout.write(HELP + '\n');
      process.exit(0);
    } else if (k === '--model') a.model = path.resolve(str());
    else if (k === '--device') {
      const d = str();
      if (!['auto', 'cuda', 'webgpu', 'cpu'].includes(d))
        throw new Error(`--device: '${d}' is not auto|cuda|webgpu|cpu`);
      a.device = d as Device;
    } else if (k === '--size') a.size = num();
    else if (k === '--queries')
      a.queries = str()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (k === '--num-queries') a.numQueries = num();
    else if (k === '--instances') a.instances = num();
    else if (k === '--frames') a.frames = num();
    else if (k === '--hz') a.hz = num();
    else if (k === '--width') a.width = num();
    else if (k === '--height') a.height = num();
    else if (k === '--modes')
      a.modes = str()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (k === '--duration') a.durationS = num();
    else if (k === '--max-frames') a.maxFrames = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k === '--encoder-reps') a.encoderReps = num();
    else if (k === '--threads') a.threads = num();
    else if (k === '--gpu-mem') a.gpuMem = true;
    else if (k === '--label') a.label = str();
    else if (k === '--out') a.out = str();
    else if (k === '--md') a.md = str();
    else if (k === '--append-md') a.appendMd = str();
    else if (k === '--sweep') {
      const m = /^(size|queries|instances)=([\d,]+)$/.exec(str());
      if (!m)
        throw new Error(
          `--sweep needs size=..|queries=..|instances=.. with comma-separated numbers, got '${v}'`,
        );
      a.sweep = { key: m[1] as 'size' | 'queries' | 'instances', values: m[2].split(',').map(Number) };
    } else throw new Error(`unknown option ${k} (see --help)`);
  }
  for (const m of a.modes) {
    if (m !== 'max' && !/^\d+(\.\d+)?x$/.test(m))
      throw new Error(`--modes: '${m}' is not max or <rate>x (e.g. 1x)`);
  }
  if (a.size && a.size % 1 !== 0) throw new Error('--size must be an integer');
  return a;
}

const TOPICS = {
  color: '/camera/color/image_raw',
  depth: '/camera/aligned_depth_to_color/image_raw',
  info: '/camera/color/camera_info',
};

interface BagMsg {
  topic: string;
  type: string;
  /** Offset from the first frame, ns. */
  offsetNs: bigint;
  data: Uint8Array;
  /** Index of the frame whose set this message completes (depth, sent last), else -1. */
  completes: number;
}

/** Renders a synthetic sequence and encodes it as the CDR messages a RealSense bag holds (info, color, depth). */
function makeStream(a: { frames: number; hz: number; width: number; height: number; instances: number }) {
  const fx = (a.width / 640) * 591;
  const seq = generateSequence({
    seed: 23,
    numFrames: a.frames,
    frameRateHz: a.hz,
    numObjects: a.instances,
    camera: { width: a.width, height: a.height, fx, fy: fx, cx: a.width / 2, cy: a.height / 2 },
  });
  const codec = defaultCodec();
  const t0 = seq.frames[0].stampNs;
  const msgs: BagMsg[] = [];
  seq.frames.forEach((f, i) => {
    const h = headerFromNs(f.stampNs, 'camera_color_optical_frame');
    const off = f.stampNs - t0;
    msgs.push({
      topic: TOPICS.info,
      type: 'sensor_msgs/msg/CameraInfo',
      offsetNs: off,
      data: codec.encode('sensor_msgs/msg/CameraInfo', cameraInfoFromIntrinsics(f.camera, h)),
      completes: -1,
    });
    msgs.push({
      topic: TOPICS.color,
      type: 'sensor_msgs/msg/Image',
      offsetNs: off,
      data: codec.encode('sensor_msgs/msg/Image', rgbToImageMsg(f.rgb, h)),
      completes: -1,
    });
    msgs.push({
      topic: TOPICS.depth,
      type: 'sensor_msgs/msg/Image',
      offsetNs: off + 1000n,
      data: codec.encode(
        'sensor_msgs/msg/Image',
        depthMmToImageMsg(f.depthMm, f.camera.width, f.camera.height, h),
      ),
      completes: i,
    });
  });
  const labels = seq.scene.objects.map((o) => `${o.material.colour} ${o.category}`);
  return { msgs, startNs: t0, periodNs: BigInt(Math.round(1e9 / a.hz)), labels, frames: seq.frames };
}

/** Queries: the scene's objects ("red mug"), then other colour x category pairs, deduplicated. */
export function pickQueries(sceneLabels: string[], n: number): string[] {
  const out: string[] = [];
  for (const l of sceneLabels) if (!out.includes(l) && out.length < n) out.push(l);
  for (const c of CATEGORIES) {
    for (const col of COLOUR_NAMES) {
      if (out.length >= n) return out;
      const q = `${col} ${c}`;
      if (!out.includes(q)) out.push(q);
    }
  }
  return out;
}

/**
 * A copy of a CDR Image / CameraInfo message whose header stamp (int32 sec at byte 4, uint32 nanosec at byte 8,
 * after the 4-byte encapsulation header) is `shiftNs` later.
 */
export function restampCdr(data: Uint8Array, shiftNs: bigint): Uint8Array {
  const out = data.slice();
  const little = out[1] === 1;
  const dv = new DataView(out.buffer);
  const ns = BigInt(dv.getInt32(4, little)) * 1_000_000_000n + BigInt(dv.getUint32(8, little)) + shiftNs;
  dv.setInt32(4, Number(ns / 1_000_000_000n), little);
  dv.setUint32(8, Number(ns % 1_000_000_000n), little);
  return out;
}

/** A copy of the package with model.json's input size set to size x size ('fixed'), other files linked. */
function packageAtSize(dir: string, size: number, tmp: string): string {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  if (m.image.input_size[0] === size && m.image.input_size[1] === size && m.image.resize === 'fixed')
    return dir;
  if (!m.image.dynamic_hw) {
    throw new Error(
      `--size ${size}: ${dir} was exported with a fixed input size; export it at --size ${size}`,
    );
  }
  if (size % m.image.patch_size !== 0)
    throw new Error(`--size ${size} is not a multiple of the patch ${m.image.patch_size}`);
  const out = path.join(tmp, `pkg-${size}`);
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(dir)) {
    if (f !== 'model.json' && !fs.existsSync(path.join(out, f)))
      fs.symlinkSync(path.resolve(dir, f), path.join(out, f));
  }
  m.image.input_size = [size, size];
  m.image.resize = 'fixed';
  fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(m, null, 2));
  return out;
}

interface FrameRecord {
  dueMs: number;
  deliveredMs: number;
  startMs?: number;
  endMs?: number;
  firstPubMs?: number;
  lastPubMs?: number;
  stages?: Record<string, number>;
  instances: number;
}

/** Samples RSS (and GPU memory) while a mode runs. */
class MemorySampler {
  peakRssMB = 0;
  peakGpuMB = -1;
  private timer?: NodeJS.Timeout;
  private gpuTimer?: NodeJS.Timeout;
  constructor(private readonly gpu: boolean) {}
  start(): void {
    const sample = () => {
      this.peakRssMB = Math.max(this.peakRssMB, process.memoryUsage.rss() / 1048576);
    };
    sample();
    this.timer = setInterval(sample, 100);
    if (this.gpu) {
      const poll = () =>
        execFile(
          'nvidia-smi',
          ['--query-gpu=memory.used', '--format=csv,noheader,nounits'],
          { timeout: 2000 },
          (err, stdout) => {
            if (err) return;
            const v = Math.max(...stdout.trim().split('\n').map(Number).filter(Number.isFinite));
            if (Number.isFinite(v)) this.peakGpuMB = Math.max(this.peakGpuMB, v);
          },
        );
      poll();
      this.gpuTimer = setInterval(poll, 250);
    }
  }
  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.gpuTimer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const r1 = (x: number) => Math.round(x * 10) / 10;

interface ModeResult {
  mode: string;
  wallS: number;
  framesOffered: number;
  synced: number;
  processed: number;
  /** Frames replaced in the node's latest-frame-wins slot. */
  droppedLatestWins: number;
  /** Offered frames that were never processed (latest-wins drops + frames still unsynced). */
  droppedTotal: number;
  droppedPct: number;
  throughputHz: number;
  instancesPerFrame: number;
  latencyMs: Quantiles;
  latencyFromDeliveryMs: Quantiles;
  stagesMs: Record<string, Quantiles>;
  peakRssMB: number;
  peakGpuMB: number | null;
  feederMaxLateMs: number;
  pipelineErrors: number;
  /**
   * Process CPU time (all threads: JS + onnxruntime pool) per processed frame, ms. Unlike wall time it hardly
   * depends on other jobs sharing the machine: cores * 1000 / cpuMsPerFrame bounds the rate on an idle machine.
   */
  cpuMsPerFrame: number;
}

/** One replay through a fresh node (the pipeline, and so the loaded sessions, are shared). */
async function runMode(
  mode: string,
  a: Args,
  pipeline: DeclipPipeline,
  stream: ReturnType<typeof makeStream>,
  params: Record<string, string | number | boolean>,
): Promise<ModeResult> {
  const codec = defaultCodec();
  const records = new Map<bigint, FrameRecord>();
  let lastEnded: bigint | undefined;
  const wrapped: Pipeline = {
    configure: pipeline.configure.bind(pipeline),
    describe: pipeline.describe.bind(pipeline),
    async process(frame, queries) {
      const rec = records.get(frame.stampNs);
      if (rec) rec.startMs = performance.now();
      try {
        return await pipeline.process(frame, queries);
      } finally {
        if (rec) rec.endMs = performance.now();
        lastEnded = frame.stampNs;
      }
    },
  };
  const rt = new InProcRuntime({ parameterOverrides: params, recordPublications: false });
  rt.onPublish((r) => {
    if (r.node === '' || r.topic === '/diagnostics' || lastEnded === undefined) return;
    const rec = records.get(lastEnded);
    if (!rec) return;
    const t = performance.now();
    rec.firstPubMs ??= t;
    rec.lastPubMs = t;
    if (r.topic.endsWith('/instances')) {
      const m = codec.decode(r.type, r.data);
      rec.instances += m.instances.length;
      rec.stages ??= {
        preprocess: m.preprocess_ms,
        features: m.features_ms,
        masks: m.masks_ms,
        instances: m.instances_ms,
        pose: m.pose_ms,
        node_total: m.total_ms,
      };
    }
  });
  const mem = new MemorySampler(a.gpuMem);
  const nFrames = stream.frames.length;
  const loopSpanNs = BigInt(nFrames) * stream.periodNs;
  let node: DeclipNode | undefined;
  let offered = 0;
  let feederMaxLateMs = 0;
  const paced = mode !== 'max';
  const rate = paced ? Number(mode.slice(0, -1)) : 0;
  const totalFrames = paced ? Math.max(1, Math.round(a.durationS * a.hz * rate)) : a.maxFrames;
  mem.start();
  const cpu0 = process.cpuUsage();
  const startWall = performance.now() + 20;
  for (let k = 0; k < totalFrames; k++) {
    const loop = BigInt(Math.floor(k / nFrames));
    const shift = loop * loopSpanNs;
    const base = (k % nFrames) * 3;
    for (let j = 0; j < 3; j++) {
      const m = stream.msgs[base + j];
      const offNs = m.offsetNs + shift;
      const due = paced ? startWall + Number(offNs) / 1e6 / rate : performance.now();
      const now = performance.now();
      if (due > now) await sleep(due - now);
      else feederMaxLateMs = Math.max(feederMaxLateMs, now - due);
      const stampNs = stream.startNs + offNs;
      if (!node) {
        rt.setTime(stampNs, true);
        node = await DeclipNode.create({ runtime: rt, codec, pipeline: wrapped });
      } else if (stampNs >= rt.nowNs()) rt.advanceTo(stampNs);
      if (m.completes >= 0) {
        records.set(stream.startNs + stream.msgs[base].offsetNs + shift, {
          dueMs: due,
          deliveredMs: performance.now(),
          instances: 0,
        });
        offered++;
      }
      rt.publish(m.topic, m.type, shift === 0n ? m.data : restampCdr(m.data, shift));
    }
    if (!paced) await node!.idle();
  }
  await node?.idle();
  const wallS = (performance.now() - startWall) / 1000;
  const cpu = process.cpuUsage(cpu0);
  mem.stop();
  const stats: NodeStats = node!.stats();
  await node!.destroy();

  const done = [...records.values()].filter((r) => r.lastPubMs !== undefined && r.stages);
  const stage = (f: (r: FrameRecord) => number) => quantiles(done.map(f));
  const stagesMs: Record<string, Quantiles> = {
    queue_decode: stage((r) => r.startMs! - r.deliveredMs),
  };
  for (const s of ['preprocess', 'features', 'masks', 'instances', 'pose'])
    stagesMs[s] = stage((r) => r.stages![s]);
  stagesMs.pipeline = stage((r) => r.endMs! - r.startMs!);
  stagesMs.publish = stage((r) => r.lastPubMs! - r.endMs!);
  stagesMs.node_total = stage((r) => r.stages!.node_total);
  const firstDone = Math.min(...done.map((r) => r.deliveredMs));
  const lastDone = Math.max(...done.map((r) => r.lastPubMs!));
  return {
    mode,
    wallS: r1(wallS),
    framesOffered: offered,
    synced: stats.synced,
    processed: stats.processed,
    droppedLatestWins: stats.dropped,
    droppedTotal: offered - stats.processed,
    droppedPct: offered ? r1(((offered - stats.processed) / offered) * 100) : 0,
    // frames published per second between the first delivery and the last publication
    throughputHz:
      done.length > 1 ? Math.round((done.length / ((lastDone - firstDone) / 1000)) * 100) / 100 : 0,
    instancesPerFrame: done.length ? r1(done.reduce((s, r) => s + r.instances, 0) / done.length) : 0,
    latencyMs: stage((r) => r.lastPubMs! - r.dueMs),
    latencyFromDeliveryMs: stage((r) => r.lastPubMs! - r.deliveredMs),
    stagesMs,
    peakRssMB: Math.round(mem.peakRssMB),
    peakGpuMB: mem.peakGpuMB >= 0 ? mem.peakGpuMB : null,
    feederMaxLateMs: Math.round(feederMaxLateMs),
    pipelineErrors: stats.pipelineErrors,
    cpuMsPerFrame: stats.processed ? r1((cpu.user + cpu.system) / 1000 / stats.processed) : 0,
  };
}

interface RunConfig {
  size: number;
  numQueries: number;
  instances: number;
}

async function runConfig(a: Args, c: RunConfig, tmp: string) {
  const stream = makeStream({ ...a, instances: c.instances });
  const queries = a.queries.length ? a.queries : pickQueries(stream.labels, c.numQueries);
  const modelPath = c.size ? packageAtSize(a.model, c.size, tmp) : a.model;
  const logs: string[] = [];
  const pipeline = createDeclipPipeline({
    modelPath,
    device: a.device,
    logger: { info: (m) => logs.push(m), warn: (m) => logs.push(`warning: ${m}`) },
  });
  const params = {
    queries: queries.join(', '),
    model_path: modelPath,
    device: a.device,
    cpu_threads: a.threads,
  };
  const tLoad = performance.now();
  await pipeline.configure(defaultPipelineSettings({ modelPath, device: a.device, cpuThreads: a.threads }));
  const loadS = (performance.now() - tLoad) / 1000;
  const perceiver = pipeline.perception!;
  // warm-up: text embeddings cached, onnxruntime arenas sized, JIT warm
  const { frames } = stream;
  for (let i = 0; i < a.warmup; i++) {
    const f = frames[i % frames.length];
    const depthM = Float32Array.from(f.depthMm, (d) => d / 1000);
    await pipeline.process(
      { stampNs: f.stampNs, frameId: 'cam', rgb: f.rgb, depthM, camera: f.camera },
      queries,
    );
  }
  const modes: ModeResult[] = [];
  for (const mode of a.modes) {
    process.stderr.write(`  mode ${mode} ...\n`);
    modes.push(await runMode(mode, a, pipeline, stream, params));
  }
  let encoder: (Quantiles & { inputHw: number[]; cpuMsPerRun: number }) | null = null;
  if (a.encoderReps > 0) {
    const seg = await perceiver.segment(frames[0], queries);
    const [h, w] = [seg.plan.dstHeight, seg.plan.dstWidth];
    const px = new Float32Array(3 * h * w).map((_, i) => Math.sin(i) * 0.5);
    const ts: number[] = [];
    await perceiver.encodeImage(px, h, w);
    const c0 = process.cpuUsage();
    for (let i = 0; i < a.encoderReps; i++) {
      const t = performance.now();
      await perceiver.encodeImage(px, h, w);
      ts.push(performance.now() - t);
    }
    const c = process.cpuUsage(c0);
    encoder = {
      ...quantiles(ts),
      inputHw: [h, w],
      cpuMsPerRun: r1((c.user + c.system) / 1000 / a.encoderReps),
    };
  }
  const desc = pipeline.describe();
  await pipeline.dispose();
  return {
    config: {
      model: path.relative(process.cwd(), a.model) || a.model,
      modelName: desc.model,
      device: `${a.device} -> ${desc.device}`,
      size:
        c.size || JSON.parse(fs.readFileSync(path.join(a.model, 'model.json'), 'utf8')).image.input_size[0],
      queries,
      numQueries: queries.length,
      sceneObjects: c.instances,
      frame: `${a.width}x${a.height} rgb8 + 16UC1, recorded at ${a.hz} Hz, ${a.frames} distinct frames`,
      cpuThreads: a.threads,
    },
    loadS: r1(loadS),
    encoderAloneMs: encoder,
    modes,
    logs: logs.slice(0, 20),
  };
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(): string {
  const cpus = os.cpus();
  let gpu = '';
  try {
    gpu = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    })
      .trim()
      .split('\n')[0];
  } catch {
    gpu = 'no nvidia-smi';
  }
  return `${cpus.length}x ${cpus[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${gpu}, ${os.platform()} ${os.release()}, node ${process.version}`;
}

type Run = Awaited<ReturnType<typeof runConfig>>;

/** Markdown table of the runs: one row per (config, mode). */
export function markdownTable(meta: Record<string, unknown>, runs: Run[], label: string): string {
  const f = (x: number | undefined) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const pq = (q: Quantiles) => `${f(q.p50)} / ${f(q.p95)}`;
  const lines = [
    `### Pipeline end to end${label ? `: ${label}` : ''}`,
    '',
    `- Machine: ${meta.machine}`,
    `- Date: ${meta.date}, commit ${meta.commit}${meta.dirty ? ' (+ uncommitted changes)' : ''}`,
    `- Load average before / after: ${meta.loadBefore} / ${meta.loadAfter} (${meta.cores} cores${Number(String(meta.loadBefore).split(' ')[0]) > Number(meta.cores) * 0.5 ? '; the machine was shared with other jobs, so times are pessimistic' : ''})`,
    `- Command: \`${meta.command}\``,
    '',
    '| model | device | size | queries | objects | mode | Hz | dropped | inst/frame | latency p50 / p95 / p99 ms | decode | preprocess | encoder | masks | instances | pose | publish | encoder alone p50 / p95 ms | CPU ms / frame (encoder alone) | peak RSS MB | GPU MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of runs) {
    for (const m of r.modes) {
      const s = m.stagesMs;
      lines.push(
        `| ${path.basename(r.config.model)} | ${r.config.device} | ${r.config.size} | ${r.config.numQueries} | ${r.config.sceneObjects} | ${m.mode} | ${m.throughputHz.toFixed(2)} | ${m.droppedTotal}/${m.framesOffered} | ${m.instancesPerFrame} | ${f(m.latencyMs.p50)} / ${f(m.latencyMs.p95)} / ${f(m.latencyMs.p99)} | ${pq(s.queue_decode)} | ${pq(s.preprocess)} | ${pq(s.features)} | ${pq(s.masks)} | ${pq(s.instances)} | ${pq(s.pose)} | ${pq(s.publish)} | ${r.encoderAloneMs ? pq(r.encoderAloneMs) : '-'} | ${f(m.cpuMsPerFrame)}${r.encoderAloneMs ? ` (${f(r.encoderAloneMs.cpuMsPerRun)})` : ''} | ${m.peakRssMB} | ${m.peakGpuMB ?? '-'} |`,
      );
    }
  }
  lines.push(
    '',
    'Stage cells are p50 / p95 ms per processed frame. "decode" is frame delivered -> pipeline start (CDR -> Frame, plus waiting in the latest-frame-wins slot in paced modes); "encoder" is the node\'s features_ms (image encoder; text embeddings are cached); "publish" is pipeline end -> last publication of the frame (CDR encoding of every output). Latency is from the time the frame\'s last message was due at the replay rate to its last publication. "dropped" counts offered frames that were never processed. "CPU ms / frame" is process CPU time (JS + onnxruntime threads) per processed frame, which depends little on other jobs: on an idle machine the rate is at most cores x 1000 / that.',
    '',
  );
  return lines.join('\n');
}

/** Runs the benchmark with command-line `argv` (exported for scripts/bench-gpu.sh's module probe). */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const a = parseArgs(argv);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-pbench-'));
  const loadBefore = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const configs: RunConfig[] = [];
  const base: RunConfig = { size: a.size, numQueries: a.numQueries, instances: a.instances };
  if (!a.sweep) configs.push(base);
  else {
    for (const v of a.sweep.values) {
      configs.push({
        ...base,
        ...(a.sweep.key === 'size'
          ? { size: v }
          : a.sweep.key === 'queries'
            ? { numQueries: v }
            : { instances: v }),
      });
    }
  }
  const runs: Run[] = [];
  try {
    for (const c of configs) {
      process.stderr.write(
        `pipeline.bench: ${path.basename(a.model)} size ${c.size || 'package'} queries ${c.numQueries} objects ${c.instances} on ${a.device}\n`,
      );
      runs.push(await runConfig(a, c, tmp));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const meta = {
    date: new Date().toISOString(),
    machine: machine(),
    cores: os.cpus().length,
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'src', 'bench']) !== '',
    command: `node out/bench-build/bench/pipeline.bench.js ${argv.join(' ')}`.trim(),
    loadBefore,
    loadAfter: os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' '),
    peakRssProcessMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  const report = { ...meta, runs };
  const json = JSON.stringify(report, null, 2);
  fs.mkdirSync(path.dirname(path.resolve(a.out)), { recursive: true });
  fs.writeFileSync(a.out, json + '\n');
  const md = markdownTable(meta, runs, a.label);
  fs.mkdirSync(path.dirname(path.resolve(a.md)), { recursive: true });
  fs.writeFileSync(a.md, md);
  if (a.appendMd) fs.appendFileSync(a.appendMd, '\n' + md);
  process.stdout.write(md + '\n');
  process.stdout.write(`JSON: ${a.out}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`pipeline.bench: ${(e as Error).stack ?? e}\n`);
      process.exit(2);
    },
  );
}
