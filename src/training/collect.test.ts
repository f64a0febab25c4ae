import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { createBagWriter } from '../bag';
import { depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../bag/image';
import { InProcRuntime } from '../node/inproc';
import { encodeMessage } from '../bag/codecs';
import type { RgbImage } from '../types';
import { collectFromBag, collectLive, FrameSampler, pickImageTopic, thumbnail, thumbDiff } from './collect';
import { MANIFEST_FILE, readManifest } from './dataset';

const W = 64;
const H = 48;
const T0 = 1_700_000_000_000_000_000n;
const DT = 100_000_000n; // 10 Hz

/** Frame i: a static scene for i < 10 (near-duplicates), then a square moving 3 px per frame. */
function frame(i: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  const sx = i < 10 ? 10 : 10 + 3 * (i - 9);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = 3 * (y * W + x);
      const inSq = x >= sx && x < sx + 16 && y >= 16 && y < 32;
      data[k] = inSq ? 250 : 40 + x;
      data[k + 1] = inSq ? 250 : 60 + y;
      data[k + 2] = inSq ? 240 : 90;
      // sensor noise below the dedup threshold on the static frames
      data[k + 2] += (x * 7 + y * 13 + i) % 3;
    }
  }
  return { width: W, height: H, data };
}

function mask(i: number): Uint16Array {
  const m = new Uint16Array(W * H);
  const sx = i < 10 ? 10 : 10 + 3 * (i - 9);
  for (let y = 16; y < 32; y++) for (let x = sx; x < Math.min(W, sx + 16); x++) m[y * W + x] = 1;
  return m;
}

let tmp: string;
let bag: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-collect-'));
  bag = path.join(tmp, 'frames.mcap');
  const w = await createBagWriter(bag);
  await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/ground_truth/instance_mask', 'sensor_msgs/msg/Image');
  for (let i = 0; i < 20; i++) {
    const ns = T0 + BigInt(i) * DT;
    const hdr = headerFromNs(ns, 'camera_color_optical_frame');
    // the mask of a frame is written after it for even frames, before it for odd ones
    if (i % 2) await w.write('/ground_truth/instance_mask', ns, depthMmToImageMsg(mask(i), W, H, hdr));
    await w.write('/camera/color/image_raw', ns, rgbToImageMsg(frame(i), hdr));
    await w.write(
      '/camera/aligned_depth_to_color/image_raw',
      ns,
      depthMmToImageMsg(new Uint16Array(W * H), W, H, hdr),
    );
    if (i % 2 === 0) await w.write('/ground_truth/instance_mask', ns, depthMmToImageMsg(mask(i), W, H, hdr));
  }
  await w.close();
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('FrameSampler', () => {
  const thumbs = (v: number) => () => new Uint8Array(32 * 24).fill(v);

  it('keeps at most one frame every N seconds (header stamps)', () => {
    const s = new FrameSampler({ everySec: 0.25, dedupThreshold: 0 });
    const kept = [];
    for (let i = 0; i < 12; i++)
      if (s.decide(T0 + BigInt(i) * DT, thumbs(i * 10)).decision === 'keep') kept.push(i);
    expect(kept).toEqual([0, 3, 6, 9]);
  });

  it('skips near-duplicates of the last kept frame and fast motion', () => {
    const s = new FrameSampler({ everySec: 0, dedupThreshold: 3, maxMotion: 20 });
    expect(s.decide(T0, thumbs(100)).decision).toBe('keep');
    expect(s.decide(T0 + DT, thumbs(102)).decision).toBe('duplicate');
    expect(s.decide(T0 + 2n * DT, thumbs(150)).decision).toBe('motion'); // 48 grey levels since the last message
    expect(s.decide(T0 + 3n * DT, thumbs(155)).decision).toBe('keep'); // slow again, and new
    expect(() => new FrameSampler({ everySec: -1 })).toThrow(/every/);
  });

  it('thumbnails average boxes of grey values', () => {
    const t = thumbnail(frame(0));
    expect(t.length).toBe(32 * 24);
    expect(thumbDiff(t, thumbnail(frame(1)))).toBeLessThan(3);
    expect(thumbDiff(t, thumbnail(frame(15)))).toBeGreaterThan(3);
  });
});

describe('collectFromBag', () => {
  it('samples every N seconds, drops near-duplicates, writes PNGs, masks and the manifest', async () => {
    const out = path.join(tmp, 'ds');
    const r = await collectFromBag(bag, { out, everySec: 0.25 });
    expect(r.topic).toBe('/camera/color/image_raw');
    expect(r.maskTopic).toBe('/ground_truth/instance_mask');
    const ents = readManifest(out);
    // 1, 2 are too soon after 0; 3..9 show the same static scene (near-duplicates of 0); 10 is the first new
    // view, then one frame every 0.25 s counted from the last kept one: 13, 16, 19
    expect(ents.map((e) => BigInt(e.source.stampNs) - T0)).toEqual([
      0n,
      10n * DT,
      13n * DT,
      16n * DT,
      19n * DT,
    ]);
    expect(r.stats.duplicates).toBe(7);
    expect(r.stats.tooSoon).toBe(8);
    expect(r.stats.kept).toBe(5);
    expect(ents.every((e) => e.mask && e.width === W && e.height === H)).toBe(true);
    const png = await sharp(path.join(out, ents[1].image)).raw().toBuffer({ resolveWithObject: true });
    expect(png.info.width).toBe(W);
    expect(Buffer.compare(png.data, Buffer.from(frame(10).data))).toBe(0);
    const m = await sharp(path.join(out, ents[1].mask!))
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer();
    const m16 = new Uint16Array(m.buffer, m.byteOffset, m.byteLength / 2);
    expect(Array.from(m16)).toEqual(Array.from(mask(10)));
    const header = JSON.parse(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8'));
    expect(header).toMatchObject({ format: 'declip-frames', frames: 5, withMasks: 5 });
    expect(header.sources).toEqual([{ bag: path.resolve(bag), topic: '/camera/color/image_raw', frames: 5 }]);
  });

  it('resumes after an interruption with the same frames as an uninterrupted run', async () => {
    const full = path.join(tmp, 'full');
    const part = path.join(tmp, 'part');
    const opts = { everySec: 0.1, dedupThreshold: 3, maskTopic: false as const };
    await collectFromBag(bag, { ...opts, out: full });
    await collectFromBag(bag, { ...opts, out: part, maxFrames: 3 });
    expect(readManifest(part)).toHaveLength(3);
    // a torn last line (killed while appending) is dropped and the run continues cleanly
    fs.appendFileSync(path.join(part, MANIFEST_FILE), '{"id":"000003","ima');
    const r = await collectFromBag(bag, { ...opts, out: part });
    expect(r.stats.resumedPast).toBeGreaterThan(0);
    const a = readManifest(full);
    const b = readManifest(part);
    expect(b).toEqual(a);
    expect(a.length).toBeGreaterThan(5);
    for (const e of a) {
      expect(
        fs.readFileSync(path.join(part, e.image)).equals(fs.readFileSync(path.join(full, e.image))),
      ).toBe(true);
    }
    // running again adds nothing
    const again = await collectFromBag(bag, { ...opts, out: part });
    expect(again.stats.kept).toBe(0);
    expect(readManifest(part)).toHaveLength(a.length);
  });

  it('names the topics when the colour topic is ambiguous or missing', () => {
    const topics = [
      { topic: '/a/image', type: 'sensor_msgs/msg/Image' },
      { topic: '/b/image', type: 'sensor_msgs/msg/Image' },
      { topic: '/a/depth', type: 'sensor_msgs/msg/Image' },
    ];
    expect(() => pickImageTopic(topics)).toThrow(/several colour topics.*--topic/);
    expect(pickImageTopic(topics, '/b/image')).toBe('/b/image');
    expect(() => pickImageTopic(topics, '/c')).toThrow(/not in the bag/);
    expect(() => pickImageTopic([{ topic: '/x', type: 'std_msgs/msg/String' }])).toThrow(
      /no colour image topic/,
    );
  });
});

describe('collectLive', () => {
  it('collects from a live topic through the runtime interface', async () => {
    const rt = new InProcRuntime();
    await rt.init();
    const out = path.join(tmp, 'live');
    const ac = new AbortController();
    const pub = rt.createNode('camera').createPublisher('sensor_msgs/msg/Image', '/cam/image', {
      reliability: 'best_effort',
      durability: 'volatile',
      depth: 5,
    });
    const done = collectLive(rt, { out, topic: '/cam/image', everySec: 0, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300)); // subscription set up
    for (const i of [0, 1, 12, 15]) {
      const hdr = headerFromNs(T0 + BigInt(i) * DT, 'cam');
      pub.publish(Buffer.from(encodeMessage('sensor_msgs/msg/Image', rgbToImageMsg(frame(i), hdr))));
      await new Promise((r) => setTimeout(r, 150));
    }
    ac.abort();
    const r = await done;
    await rt.shutdown();
    expect(r.stats.kept).toBe(3); // frame 1 is a near-duplicate of frame 0
    expect(readManifest(out).map((e) => e.source)).toEqual([
      { topic: '/cam/image', live: true, stampNs: String(T0) },
      { topic: '/cam/image', live: true, stampNs: String(T0 + 12n * DT) },
      { topic: '/cam/image', live: true, stampNs: String(T0 + 15n * DT) },
    ]);
  });
});
