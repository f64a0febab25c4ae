/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * `declip replay` under faults: the input bag dies mid-way (corrupt chunk) and the process gets SIGTERM
 * mid-way. In every case the output written so far must be a valid, finalised MCAP (summary, indexes, CRCs),
 * and --skip-bad must continue and report what it skipped.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { McapIndexedReader, McapStreamReader, type McapTypes } from '@mcap/core';
import {
  BagError,
  FileReadable,
  cameraInfoFromIntrinsics,
  createBagWriter,
  depthMmToImageMsg,
  ensureZstd,
  headerFromNs,
  mcapDecompressHandlers,
  rgbToImageMsg,
} from '../bag';
import { replayBag } from './commands/replay';

const REPO = path.join(__dirname, '..', '..');
const MODEL = path.join(REPO, 'test', 'models', 'tiny-analytic');
const T0 = 1_700_000_000_000_000_000n;
const W = 64;
const H = 48;

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-replayfault-'));
  await ensureZstd();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A bag of `n` RGB-D frames at 30 Hz (a red square on grey), small uncompressed chunks. */
async function makeBag(file: string, n: number): Promise<void> {
  const w = await createBagWriter(file, { chunkSizeBytes: 20000, compression: 'none' });
  const cam = { width: W, height: H, fx: 60, fy: 60, cx: W / 2, cy: H / 2 };
  await w.addTopic('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo');
  await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image');
  for (let i = 0; i < n; i++) {
    const t = T0 + BigInt(i) * 33_333_333n;
    const h = headerFromNs(t, 'cam');
    const rgb = new Uint8Array(W * H * 3).fill(128);
    for (let y = 10; y < 30; y++)
      for (let x = 10 + (i % 20); x < 30 + (i % 20); x++) rgb.set([255, 0, 0], 3 * (y * W + x));
    const depth = new Uint16Array(W * H).fill(800);
    await w.write('/camera/color/camera_info', t, cameraInfoFromIntrinsics(cam, h));
    await w.write('/camera/color/image_raw', t, rgbToImageMsg({ width: W, height: H, data: rgb }, h));
    await w.write('/camera/aligned_depth_to_color/image_raw', t, depthMmToImageMsg(depth, W, H, h));
  }
  await w.close();
}

/** Checks that `file` is a finalised MCAP: indexed open works, every CRC holds; returns its message count. */
async function validMcap(file: string): Promise<number> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const size = BigInt((await fh.stat()).size);
    const ix = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, size, file),
      decompressHandlers: mcapDecompressHandlers(),
    });
    expect(ix.footer).toBeDefined();
    const n = Number(ix.statistics?.messageCount ?? -1n);
    const stream = new McapStreamReader({ validateCrcs: true, decompressHandlers: mcapDecompressHandlers() });
    stream.append(new Uint8Array(fs.readFileSync(file)));
    let counted = 0;
    let footer = false;
    for (let r: McapTypes.TypedMcapRecord | undefined; (r = stream.nextRecord());) {
      if (r.type === 'Message') counted++;
      if (r.type === 'Footer') footer = true;
    }
    expect(stream.done()).toBe(true);
    expect(footer).toBe(true);
    expect(counted).toBe(n);
    return n;
  } finally {
    await fh.close();
  }
}

/** Flips a byte inside the records of the `k`-th chunk (so its CRC fails). */
function corruptChunk(file: string, k: number): void {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const reader = new McapStreamReader({ includeChunks: true });
  reader.append(bytes);
  const chunks: McapTypes.TypedMcapRecords['Chunk'][] = [];
  for (let r; (r = reader.nextRecord());) if (r.type === 'Chunk') chunks.push(r);
  const at = Buffer.from(bytes).indexOf(Buffer.from(chunks[k].records.subarray(0, 64)));
  expect(at).toBeGreaterThan(0);
  bytes[at + 500] ^= 0xff;
  fs.writeFileSync(file, bytes);
}

describe('declip replay under faults', () => {
  it('input dies mid-way (corrupt chunk): the error names it and the output is a valid MCAP; --skip-bad continues and counts', async () => {
    const bag = path.join(tmp, 'in.mcap');
    await makeBag(bag, 40);
    corruptChunk(bag, 20);
    const out = path.join(tmp, 'out-err.mcap');
    const err = await replayBag({
      bag,
      out,
      queries: 'red',
      modelPath: MODEL,
      device: 'cpu',
      quiet: true,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BagError);
    expect(err.message).toMatch(/corrupt chunk.*CRC.*skip-bad/);
    const written = await validMcap(out);
    expect(written).toBeGreaterThan(10);

    const out2 = path.join(tmp, 'out-skip.mcap');
    const r = await replayBag({
      bag,
      out: out2,
      queries: 'red',
      modelPath: MODEL,
      device: 'cpu',
      quiet: true,
      skipBad: true,
    });
    expect(r.skippedRecords).toBe(1);
    expect(r.messages).toBeGreaterThan(written / 2);
    expect(r.messages).toBeLessThan(120);
    expect(r.stats.processed).toBeGreaterThan(20);
    expect(await validMcap(out2)).toBeGreaterThan(written);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s mid-way: exit code 130, the output holds what was replayed and is a valid MCAP',
    async (sig) => {
      const bag = path.join(tmp, 'long.mcap');
      if (!fs.existsSync(bag)) await makeBag(bag, 1200);
      const out = path.join(tmp, `out-${sig}.mcap`);
      // Run the CLI from source in a child (TypeScript transpiled on load), so no build is needed.
      const hook =
        "const ts=require('typescript'),fs=require('fs');" +
        "require.extensions['.ts']=(m,f)=>m._compile(ts.transpileModule(fs.readFileSync(f,'utf8')," +
        '{compilerOptions:{module:ts.ModuleKind.CommonJS,target:ts.ScriptTarget.ES2022,esModuleInterop:true},' +
        'fileName:f}).outputText,f);' +
        "require('./src/cli/main.ts').runCli(process.argv.slice(1)).then((c)=>process.exit(c));";
      const child = spawn(
        process.execPath,
        [
          '-e',
          hook,
          'replay',
          bag,
          '--query',
          'red',
          '--model',
          MODEL,
          '--device',
          'cpu',
          '--out',
          out,
          '--json',
        ],
        { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // wait until the replay has written a good part of the output, then terminate it
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        if (fs.existsSync(out) && fs.statSync(out).size > 30_000) break; // a few chunks flushed
        if (child.exitCode !== null) break;
      }
      expect(child.exitCode).toBeNull(); // still running: the signal lands mid-way
      child.kill(sig);
      const code = await exited;
      expect({ code, stderr: code === 130 ? '' : stderr }).toEqual({ code: 130, stderr: '' });
      const summary = JSON.parse(stdout.slice(stdout.indexOf('{')));
      expect(summary.interrupted).toBe(true);
      expect(summary.messages).toBeLessThan(3600);
      expect(summary.messages).toBeGreaterThan(0);
      const n = await validMcap(out);
      expect(n).toBeGreaterThanOrEqual(summary.messages); // inputs copied + node publications
    },
  );
});
