/**
 * Soak test of the node (a script, not a jest test): a synthetic RGB-D bag (MCAP, rgb8 + 16UC1 + CameraInfo) is
 * replayed in a loop at `--rate` x its recorded rate (default 2x) through DeclipNode on the in-process runtime with
 * the real DeclipPipeline (Perceiver + PosePipeline, CPU model package), live behaviour (latest frame wins).
 * Measured: RSS and heap over time (growth of the post-GC floor after warm-up), frames processed / dropped, end-to-end latency as the
 * node reports it (ObjectInstanceArray.total_ms), event-loop delay (perf_hooks.monitorEventLoopDelay) and
 * event-loop stalls outside the pipeline's process() calls (a late 10 ms tick counts as a stall when the main
 * thread used at least half the late time in CPU, so being descheduled on a shared machine is not blamed on the
 * node). Prints one JSON object; exits 1 when RSS grew by
 * >= --max-rss-growth-pct (default 5) after warm-up, when a stall outside process() exceeded --max-stall-ms
 * (default 200), or when no frame was processed.
 *
 *   npm run soak -- --duration 60              # the CI short form (scripts/test.sh)
 *   npm run soak -- --duration 600 --out out/soak-long.json   # the long form, by hand
 *
 * Options: --duration S, --rate X, --queries "red, blue", --model DIR, --frames N, --width W, --height H,
 * --warmup S, --out FILE, --qos-depth N (messages later than N periods are lost in transport, default 5),
 * --inference-delay-ms N (an extra asynchronous wait in every process() call: a slower model that frees the
 * event loop, so frames arriving meanwhile go through the latest-frame-wins slot), --fake-instances N (replace the model by a pipeline returning N instances per query:
 * measures the node's own output cost).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import { createBagWriter, openBag } from '../src/bag/bag';
import { cameraInfoFromIntrinsics, depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../src/bag/image';
import { defaultCodec } from '../src/node/codec';
import { createDeclipPipeline } from '../src/node/declipPipeline';
import { InProcRuntime } from '../src/node/inproc';
import { DeclipNode } from '../src/node/node';
import type { Pipeline, PipelineInstance, PipelineResult } from '../src/node/pipeline';
import { generateSequence } from '../src/synth';
import type { Frame } from '../src/types';

interface Args {
  duration: number;
  rate: number;
  queries: string;
  model: string;
  frames: number;
  width: number;
  height: number;
  warmup: number;
  out: string;
  fakeInstances: number;
  maxRssGrowthPct: number;
  maxStallMs: number;
  qosDepth: number;
  inferenceDelayMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    duration: 60,
    rate: 2,
    queries: 'red, blue, green',
    model: path.resolve('test/models/tiny-analytic'),
    frames: 30,
    width: 640,
    height: 480,
    warmup: -1,
    out: '',
    fakeInstances: 0,
    maxRssGrowthPct: 5,
    maxStallMs: 200,
    qosDepth: 5,
    inferenceDelayMs: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${k} needs a number, got '${v}'`);
      i++;
      return n;
    };
    if (k === '--duration') a.duration = num();
    else if (k === '--rate') a.rate = num();
    else if (k === '--frames') a.frames = num();
    else if (k === '--width') a.width = num();
    else if (k === '--height') a.height = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k === '--fake-instances') a.fakeInstances = num();
    else if (k === '--max-rss-growth-pct') a.maxRssGrowthPct = num();
    else if (k === '--max-stall-ms') a.maxStallMs = num();
    else if (k === '--qos-depth') a.qosDepth = num();
    else if (k === '--inference-delay-ms') a.inferenceDelayMs = num();
    else if (k === '--queries') a.queries = argv[++i];
    else if (k === '--model') a.model = path.resolve(argv[++i]);
    else if (k === '--out') a.out = argv[++i];
    else throw new Error(`unknown option ${k} (see bench/soak.ts)`);
  }
  // allocator arenas and onnxruntime buffers settle in the first tens of seconds
  if (a.warmup < 0) a.warmup = Math.max(10, Math.min(0.5 * a.duration, 60));
  return a;
}

const TOPICS = {
  color: '/camera/color/image_raw',
  depth: '/camera/aligned_depth_to_color/image_raw',
  info: '/camera/color/camera_info',
};

/** Renders a synthetic sequence and records it as an MCAP bag (15 Hz). Returns the bag path and duration. */
async function makeBag(dir: string, a: Args): Promise<{ bag: string; periodNs: bigint }> {
  const hz = 15;
  const fx = (a.width / 640) * 591;
  const seq = generateSequence({
    seed: 11,
    numFrames: a.frames,
    frameRateHz: hz,
    camera: { width: a.width, height: a.height, fx, fy: fx, cx: a.width / 2, cy: a.height / 2 },
  });
  const bag = path.join(dir, 'soak.mcap');
  const w = await createBagWriter(bag, { overwrite: true });
  await w.addTopic(TOPICS.color, 'sensor_msgs/msg/Image');
  await w.addTopic(TOPICS.depth, 'sensor_msgs/msg/Image');
  await w.addTopic(TOPICS.info, 'sensor_msgs/msg/CameraInfo');
  for (const f of seq.frames) {
    const h = headerFromNs(f.stampNs, 'camera_color_optical_frame');
    await w.write(TOPICS.info, f.stampNs, cameraInfoFromIntrinsics(f.camera, h));
    await w.write(TOPICS.color, f.stampNs, rgbToImageMsg(f.rgb, h));
    await w.write(
      TOPICS.depth,
      f.stampNs + 1000n,
      depthMmToImageMsg(f.depthMm, f.camera.width, f.camera.height, h),
    );
  }
  await w.close();
  return { bag, periodNs: BigInt(Math.round(1e9 / hz)) };
}

/** A pipeline returning `n` instances per query with masks and points (node output cost only). */
function fakePipeline(n: number): Pipeline {
  return {
    async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
      const w = frame.rgb.width;
      const results = queries.map((q) => ({
        query: q,
        instances: Array.from({ length: n }, (_, k): PipelineInstance => {
          const x = (k * 37) % Math.max(1, w - 40);
          return {
            label: q,
            instanceId: k + 1,
            score: 0.5 + 0.01 * (k % 50),
            roi: { x, y: 20, width: 40, height: 40 },
            pose: {
              R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]),
              tM: new Float64Array([0.01 * k, 0, 0.8]),
            },
            sizeM: [0.05, 0.05, 0.05],
            poseSource: 'box',
            fitness: 1,
            pointCount: 400,
            mask: { width: 40, height: 40, data: new Uint8Array(1600).fill(255) },
            pointsM: new Float32Array(1200).fill(0.5),
          };
        }),
      }));
      return { results, timingsMs: { preprocess: 0, features: 0, masks: 0, instances: 0, pose: 0 } };
    },
    describe: () => ({ device: 'none', model: `fake (${n} instances per query)` }),
  };
}

/**
 * A copy of a CDR message whose std_msgs/Header (the first field of Image and CameraInfo: int32 sec at byte 4,
 * uint32 nanosec at byte 8, after the encapsulation header) is moved `shiftNs` later.
 */
function restamp(data: Uint8Array, shiftNs: bigint): Uint8Array {
  const out = Uint8Array.from(data);
  const little = out[1] === 1;
  const dv = new DataView(out.buffer);
  const ns = BigInt(dv.getInt32(4, little)) * 1_000_000_000n + BigInt(dv.getUint32(8, little)) + shiftNs;
  dv.setInt32(4, Number(ns / 1_000_000_000n), little);
  dv.setUint32(8, Number(ns % 1_000_000_000n), little);
  return out;
}

const TASK_STAT = `/proc/self/task/${process.pid}/stat`;
const HAS_TASK_STAT = fs.existsSync(TASK_STAT);

/**
 * CPU time of the main (JavaScript) thread, ms: from /proc on Linux (utime + stime of the thread, 10 ms ticks),
 * else the whole process (process.cpuUsage, which also counts onnxruntime and GC helper threads).
 */
function mainThreadCpuMs(): number {
  if (HAS_TASK_STAT) {
    const st = fs.readFileSync(TASK_STAT, 'latin1');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // fields 14, 15 of stat(5); USER_HZ = 100
  }
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
function median(xs: number[]): number {
  return quantile(xs, 0.5);
}
const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const gc = (globalThis as { gc?: () => void }).gc;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-soak-'));
  const t0 = performance.now();
  const { bag, periodNs } = await makeBag(tmp, a);
  const bagMs = performance.now() - t0;
  const codec = defaultCodec();

  // pipeline, with busy tracking (stalls inside process() are the model's, outside are the node's)
  const inner: Pipeline =
    a.fakeInstances > 0
      ? fakePipeline(a.fakeInstances)
      : createDeclipPipeline({
          modelPath: a.model,
          device: 'cpu',
          logger: { info: () => {}, warn: () => {} },
        });
  let busy = 0;
  let lastBusyEndMs = 0;
  let gcEndMs = 0;
  const pipeline: Pipeline = {
    ...inner,
    configure: inner.configure?.bind(inner),
    describe: inner.describe?.bind(inner),
    async process(frame, queries) {
      busy++;
      try {
        // a slower (e.g. GPU) model that releases the event loop while it runs: frames arriving meanwhile
        // exercise the node's latest-frame-wins slot
        if (a.inferenceDelayMs > 0) await sleep(a.inferenceDelayMs);
        return await inner.process(frame, queries);
      } finally {
        busy--;
        lastBusyEndMs = performance.now();
      }
    },
  };

  const warnings: string[] = [];
  const rt = new InProcRuntime({
    parameterOverrides: { queries: a.queries, model_path: a.fakeInstances > 0 ? '' : a.model, device: 'cpu' },
    recordPublications: false,
    onLog: (r) => {
      if ((r.level === 'warn' || r.level === 'error') && warnings.length < 50) warnings.push(r.msg);
    },
  });
  const latencies: number[] = [];
  const latencyStamps = new Set<string>();
  let publications = 0;
  rt.onPublish((r) => {
    if (r.node === '') return;
    publications++;
    if (r.topic === '/declip_node/instances') {
      const m = codec.decode(r.type, r.data);
      const key = `${m.header.stamp.sec}.${m.header.stamp.nanosec}`;
      if (!latencyStamps.has(key)) {
        latencyStamps.add(key);
        if (latencyStamps.size > 1000) latencyStamps.clear();
        latencies.push(m.total_ms);
      }
    }
  });

  // event loop: histogram + a 10 ms ticker that attributes each late tick to process() or to the rest
  const eld = monitorEventLoopDelay({ resolution: 10 });
  let stallsOutside = 0;
  let maxLagOutsideMs = 0;
  let maxLagInsideMs = 0;
  let maxForcedGcLagMs = 0;
  let maxBusyLagOutsideMs = 0;
  let prevTick = performance.now();
  let prevCpu = mainThreadCpuMs();
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    const cpuMs = cpu - prevCpu;
    const lag = now - prevTick - 10;
    const overlapped = busy > 0 || lastBusyEndMs > prevTick;
    if (overlapped) maxLagInsideMs = Math.max(maxLagInsideMs, lag);
    else if (gcEndMs > prevTick) maxForcedGcLagMs = Math.max(maxForcedGcLagMs, lag);
    else {
      maxLagOutsideMs = Math.max(maxLagOutsideMs, lag);
      // A late tick while the main thread got little CPU is the OS scheduling others (a shared machine), not
      // our code blocking the loop: only CPU-bound lags count as stalls (10 ms clock ticks: allow one).
      if (cpuMs + 10 >= 0.5 * lag) {
        maxBusyLagOutsideMs = Math.max(maxBusyLagOutsideMs, lag);
        if (lag > a.maxStallMs) stallsOutside++;
      }
    }
    prevTick = now;
    prevCpu = cpu;
  }, 10);

  // memory samples (after a GC when --expose-gc is on)
  const samples: { tS: number; rssMB: number; heapMB: number; extMB: number }[] = [];
  let startWall = 0;
  const sampler = setInterval(() => {
    if (gc) {
      gc();
      gcEndMs = performance.now(); // the forced GC is the harness's, not a node stall
    }
    const m = process.memoryUsage();
    samples.push({
      tS: (performance.now() - startWall) / 1000,
      rssMB: mb(m.rss),
      heapMB: mb(m.heapUsed),
      extMB: mb(m.external + m.arrayBuffers),
    });
  }, 1000);

  let node: DeclipNode | undefined;
  let delivered = 0;
  let loops = 0;
  let maxFeederLateMs = 0;
  let transportDropped = 0;
  const transportQueueMs = (a.qosDepth * Number(periodNs)) / 1e6 / a.rate;
  eld.enable();
  startWall = performance.now();
  const endWall = startWall + a.duration * 1000;
  const first = await openBag(bag);
  const bagStart = first.info().startNs;
  // one loop spans the bag plus one frame period; later loops are re-stamped to continue the timeline
  const loopSpanNs = first.info().durationNs + periodNs;
  await first.close();
  outer: for (;;) {
    const reader = await openBag(bag);
    const shiftNs = BigInt(loops) * loopSpanNs;
    try {
      for await (const m of reader.messages()) {
        const due = startWall + Number(m.logTimeNs + shiftNs - bagStart) / 1e6 / a.rate;
        const now = performance.now();
        if (due > now) await sleep(due - now);
        else maxFeederLateMs = Math.max(maxFeederLateMs, now - due);
        if (performance.now() >= endWall) break outer;
        // Like a best-effort subscription with a bounded queue: a message that waited longer than the queue
        // holds (qos_depth periods at the replay rate) while the event loop was busy is lost in transport.
        if (performance.now() - due > transportQueueMs) {
          transportDropped++;
          continue;
        }
        const t = m.logTimeNs + shiftNs;
        if (!node) {
          rt.setTime(t, true);
          node = await DeclipNode.create({ runtime: rt, codec, pipeline });
        } else if (t >= rt.nowNs()) rt.advanceTo(t);
        rt.publish(m.topic, m.type, shiftNs === 0n ? m.data : restamp(m.data, shiftNs));
        delivered++;
      }
    } finally {
      await reader.close();
    }
    loops++;
  }
  await node?.idle();
  const wallS = (performance.now() - startWall) / 1000;
  eld.disable();
  clearInterval(ticker);
  clearInterval(sampler);
  const stats = node?.stats();
  await node?.destroy();
  await inner.dispose?.();
  fs.rmSync(tmp, { recursive: true, force: true });

  // Growth of the RSS floor: the lowest (post-GC) sample of the first and of the second half of the window after
  // warm-up. Floors ignore the frames in flight at a sample (tens of MB of message buffers come and go); a leak
  // raises the floor.
  const post = samples.filter((s) => s.tS >= a.warmup);
  const q = Math.max(1, Math.floor(post.length / 2));
  const baseline = Math.min(...post.slice(0, q).map((s) => s.rssMB));
  const final = Math.min(...post.slice(-q).map((s) => s.rssMB));
  const growthPct = baseline > 0 ? ((final - baseline) / baseline) * 100 : 0;
  const heapBase = Math.min(...post.slice(0, q).map((s) => s.heapMB));
  const heapFinal = Math.min(...post.slice(-q).map((s) => s.heapMB));
  const failures: string[] = [];
  if (post.length < 2) failures.push(`too few memory samples after the ${a.warmup} s warm-up; run longer`);
  if (growthPct >= a.maxRssGrowthPct)
    failures.push(`RSS grew ${growthPct.toFixed(1)}% after warm-up (limit ${a.maxRssGrowthPct}%)`);
  if (stallsOutside > 0)
    failures.push(
      `${stallsOutside} CPU-bound event-loop stall(s) > ${a.maxStallMs} ms outside the pipeline (max ${maxBusyLagOutsideMs.toFixed(0)} ms)`,
    );
  if (!stats || stats.processed === 0) failures.push('no frame was processed');
  const cpus = os.cpus();
  const report = {
    date: new Date().toISOString(),
    machine: `${cpus.length}x ${cpus[0]?.model ?? 'cpu'}, ${mb(os.totalmem())} MB, ${os.platform()} ${os.release()}, node ${process.version}`,
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
    config: {
      durationS: a.duration,
      rate: a.rate,
      queries: a.queries,
      inferenceDelayMs: a.inferenceDelayMs,
      model:
        a.fakeInstances > 0
          ? `fake, ${a.fakeInstances} instances/query`
          : path.relative(process.cwd(), a.model),
      frame: `${a.width}x${a.height} rgb8 + 16UC1 @ 15 Hz recorded, ${a.frames} frames/loop`,
      warmupS: a.warmup,
      gcBeforeSamples: Boolean(gc),
    },
    bagRenderS: Math.round(bagMs / 100) / 10,
    wallS: Math.round(wallS * 10) / 10,
    loops,
    messagesDelivered: delivered,
    transportDropped,
    transportQueueMs: Math.round(transportQueueMs),
    publications,
    frames: stats
      ? {
          synced: stats.synced,
          processed: stats.processed,
          dropped: stats.dropped,
          droppedPct: stats.synced ? Math.round((stats.dropped / stats.synced) * 1000) / 10 : 0,
          processedHz: Math.round((stats.processed / wallS) * 100) / 100,
          badInput: stats.badInput,
          pipelineErrors: stats.pipelineErrors,
          syncResets: stats.syncResets,
        }
      : null,
    latencyMs: {
      n: latencies.length,
      p50: Math.round(median(latencies) * 10) / 10,
      p95: Math.round(quantile(latencies, 0.95) * 10) / 10,
      max: Math.round(Math.max(0, ...latencies) * 10) / 10,
    },
    rssMB: {
      baseline,
      final,
      max: Math.max(...samples.map((s) => s.rssMB)),
      growthPct: Math.round(growthPct * 100) / 100,
    },
    heapMB: { baseline: heapBase, final: heapFinal },
    /** About 20 evenly spaced samples: [seconds, RSS MB, heap MB, external+arrayBuffers MB]. */
    memoryTimeline: samples
      .filter((_, i) => i % Math.max(1, Math.floor(samples.length / 20)) === 0)
      .map((x) => [Math.round(x.tS), x.rssMB, x.heapMB, x.extMB]),
    eventLoopMs: {
      p50: Math.round(eld.percentile(50) / 1e4) / 100,
      p99: Math.round(eld.percentile(99) / 1e4) / 100,
      max: Math.round(eld.max / 1e4) / 100,
      maxLagOutsidePipelineMs: Math.round(maxLagOutsideMs),
      maxCpuBoundLagOutsidePipelineMs: Math.round(maxBusyLagOutsideMs),
      maxLagInsidePipelineMs: Math.round(maxLagInsideMs),
      stallsOutsidePipeline: stallsOutside,
      maxLagDuringForcedGcMs: Math.round(maxForcedGcLagMs),
    },
    feederMaxLateMs: Math.round(maxFeederLateMs),
    warnings: warnings.slice(0, 10),
    pass: failures.length === 0,
    failures,
  };
  const text = JSON.stringify(report, null, 2);
  process.stdout.write(text + '\n');
  if (a.out) {
    fs.mkdirSync(path.dirname(path.resolve(a.out)), { recursive: true });
    fs.writeFileSync(a.out, text + '\n');
  }
  process.stderr.write(
    `soak ${report.pass ? 'passed' : `FAILED: ${failures.join('; ')}`} (${report.wallS} s at ${a.rate}x: ` +
      `${report.frames?.processed ?? 0} frames processed, ${report.frames?.dropped ?? 0} dropped by the node, ` +
      `${transportDropped} messages lost in transport; latency p95 ${report.latencyMs.p95} ms; ` +
      `RSS ${report.rssMB.growthPct}% after warm-up; ${stallsOutside} stalls)\n`,
  );
  return report.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? e}\n`);
    process.exit(2);
  },
);
