/**
 * rosbag2 I/O benchmarks (not tests). Run: npx tsc -p tsconfig.json --outDir /tmp/bench-build && node
 * /tmp/bench-build/bench/bag.bench.js — writes and reads 60 RealSense-like frames (640x480 rgb8 + 16UC1 depth +
 * camera_info) to MCAP (zstd) and sqlite3, and prints wall times and throughput.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REAL275_INTRINSICS } from '../src/types';
import {
  cameraInfoFromIntrinsics,
  createBagWriter,
  depthMmToImageMsg,
  depthToMeters,
  getCodec,
  headerFromNs,
  imageToRgb,
  openBag,
  rgbToImageMsg,
  type BagStorage,
} from '../src/bag';

const FRAMES = 60;
const W = 640;
const H = 480;

async function bench(storage: BagStorage, dir: string): Promise<void> {
  const rgb = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  const depthMm = new Uint16Array(W * H);
  for (let i = 0; i < W * H; i++) {
    const x = i % W;
    const y = Math.floor(i / W);
    rgb.data[3 * i] = (x * 255) / W;
    rgb.data[3 * i + 1] = (y * 255) / H;
    rgb.data[3 * i + 2] = ((x ^ y) & 31) * 8;
    depthMm[i] = 800 + ((x * 7 + y * 13) % 400);
  }
  const bagPath = path.join(dir, storage);
  let t0 = performance.now();
  const w = await createBagWriter(bagPath, { storage, overwrite: true });
  await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo');
  for (let f = 0; f < FRAMES; f++) {
    const t = 1_700_000_000_000_000_000n + BigInt(f) * 33_333_333n;
    const header = headerFromNs(t, 'camera_color_optical_frame');
    await w.write('/camera/color/image_raw', t, rgbToImageMsg(rgb, header));
    await w.write('/camera/aligned_depth_to_color/image_raw', t, depthMmToImageMsg(depthMm, W, H, header));
    await w.write('/camera/color/camera_info', t, cameraInfoFromIntrinsics(REAL275_INTRINSICS, header));
  }
  await w.close();
  const writeMs = performance.now() - t0;
  const bytes = fs.readdirSync(bagPath).reduce((s, f) => s + fs.statSync(path.join(bagPath, f)).size, 0);
  const rawBytes = FRAMES * W * H * 5;

  t0 = performance.now();
  const bag = await openBag(bagPath);
  let n = 0;
  let checksum = 0;
  for await (const m of bag.messages()) {
    const msg = m.decode();
    if (m.topic === '/camera/color/image_raw') checksum += imageToRgb(msg).data[12345];
    else if (m.topic.includes('depth')) checksum += depthToMeters(msg)[54321];
    n++;
  }
  await bag.close();
  const readMs = performance.now() - t0;
  console.log(
    `${storage.padEnd(8)} ${FRAMES} frames: write ${writeMs.toFixed(0)} ms (${((FRAMES * 1000) / writeMs).toFixed(1)} fps), ` +
      `read+decode+convert ${readMs.toFixed(0)} ms (${((FRAMES * 1000) / readMs).toFixed(1)} fps), ` +
      `file ${(bytes / 1e6).toFixed(1)} MB (raw ${(rawBytes / 1e6).toFixed(1)} MB), messages ${n}, checksum ${checksum.toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bag-bench-'));
  try {
    getCodec('sensor_msgs/msg/Image');
    await bench('mcap', dir);
    await bench('sqlite3', dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
