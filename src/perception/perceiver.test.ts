/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PerceptionInputError } from './errors';
import { Perceiver } from './perceiver';
import type { PerceptionLogger } from './session';

const MODELS = path.resolve(__dirname, '../../test/models');

function capture(): PerceptionLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
}

/** 192x128 grey image with a red square (x,y 32..95) and a blue block (x 128..159, y 64..127). */
function scene(): { width: number; height: number; data: Uint8Array; red: Uint8Array; blue: Uint8Array } {
  const width = 192;
  const height = 128;
  const data = new Uint8Array(width * height * 3).fill(128);
  const red = new Uint8Array(width * height);
  const blue = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (x >= 32 && x < 96 && y >= 32 && y < 96) {
        data.set([255, 0, 0], i * 3);
        red[i] = 1;
      } else if (x >= 128 && x < 160 && y >= 64) {
        data.set([0, 0, 255], i * 3);
        blue[i] = 1;
      }
    }
  return { width, height, data, red, blue };
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] && b[k]) i++;
    if (a[k] || b[k]) u++;
  }
  return u ? i / u : 1;
}

describe('Perceiver on the analytic tiny package (known masks)', () => {
  let p: Perceiver;
  const log = capture();
  beforeAll(async () => {
    p = await Perceiver.load(path.join(MODELS, 'tiny-analytic'), {
      device: 'auto',
      logger: log,
      intraOpThreads: 1,
      minAreaPx: 32,
    });
  });
  afterAll(() => p.release());

  it('loads on cpu after trying cuda and webgpu, with warnings', () => {
    expect(p.devices).toEqual({ imageEncoder: 'cpu', textEncoder: 'cpu', vfm: undefined });
    expect(
      log.lines.filter((l) => /warn .*running on cpu; cuda unavailable .*; webgpu unavailable/.test(l))
        .length,
    ).toBe(2);
  });

  it('segments the red and blue regions exactly where they are (IoU > 0.9) and nothing for an absent colour', async () => {
    const s = scene();
    const r = await p.segment({ rgb: s }, ['red', 'blue', 'green']);
    expect([r.width, r.height, r.plan.gridWidth, r.plan.gridHeight]).toEqual([192, 128, 6, 4]);
    expect(r.scoreMaps.map((m) => m.length)).toEqual([192 * 128, 192 * 128, 192 * 128]);
    expect(iou(r.masks[0], s.red)).toBeGreaterThan(0.9);
    expect(iou(r.masks[1], s.blue)).toBeGreaterThan(0.9);
    expect(r.masks[2].reduce((a, b) => a + b, 0)).toBe(0);
    expect(r.instances2d.map((i) => i.query)).toEqual(['red', 'blue']);
    const red = r.instances2d[0];
    const want = [32, 32, 95, 95];
    red.box.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThanOrEqual(8));
    expect(red.score).toBeGreaterThan(0.8);
    expect(r.scoreMaps[0][10 * 192 + 180]).toBeLessThan(0.05);
    expect(r.timings.totalMs).toBeGreaterThanOrEqual(r.timings.encoderMs);
    expect(r.globalEmbedding.length).toBe(4);
  });

  it('caches text embeddings with prompt-template ensembling (normalised)', async () => {
    const a = await p.embedText('red');
    expect(await p.embedText('  red ')).toBe(a);
    expect(Array.from(a).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([1, 0, 0, 0]);
  });

  it('accepts bgr8 / mono8 raw images with row padding', async () => {
    const s = scene();
    const step = s.width * 3 + 4;
    const bgr = new Uint8Array(step * s.height);
    for (let y = 0; y < s.height; y++)
      for (let x = 0; x < s.width; x++) {
        const i = (y * s.width + x) * 3;
        bgr.set([s.data[i + 2], s.data[i + 1], s.data[i]], y * step + x * 3);
      }
    const r = await p.segment({ width: s.width, height: s.height, encoding: 'bgr8', step, data: bgr }, [
      'red',
    ]);
    expect(iou(r.masks[0], s.red)).toBeGreaterThan(0.9);
    const mono = await p.segment(
      { width: 64, height: 32, encoding: 'mono8', data: new Uint8Array(64 * 32).fill(200) },
      ['red'],
    );
    expect(mono.masks[0].length).toBe(64 * 32);
  });

  it('rejects empty queries and warns when a query is truncated to the context length', async () => {
    const s = scene();
    await expect(p.segment({ rgb: s }, [])).rejects.toThrow(PerceptionInputError);
    await expect(p.segment({ rgb: s }, ['red', '  '])).rejects.toThrow(/queries\[1\]: is empty/);
    const long = Array.from({ length: 90 }, () => 'red').join(' ');
    const r = await p.segment({ rgb: s }, [long]);
    expect(r.warnings.some((w) => /longer than the context length 77; truncated/.test(w))).toBe(true);
    expect(iou(r.masks[0], s.red)).toBeGreaterThan(0.9);
    await expect(p.segment({ width: 0, height: 10, data: new Uint8Array(0) }, ['red'])).rejects.toThrow(
      /image.width\/height/,
    );
  });
});

describe('Perceiver sliding-window inference', () => {
  it('gives the same masks as a single pass on the patch-local analytic package', async () => {
    const s = scene();
    const opts = { device: 'cpu' as const, logger: capture(), minAreaPx: 32 };
    const a = await Perceiver.load(path.join(MODELS, 'tiny-analytic'), opts);
    const b = await Perceiver.load(path.join(MODELS, 'tiny-analytic'), {
      ...opts,
      slidingWindow: { tilePx: 16, stridePx: 8 },
    });
    const ra = await a.segment({ rgb: s }, ['red', 'blue']);
    const rb = await b.segment({ rgb: s }, ['red', 'blue']);
    expect(iou(rb.masks[0], ra.masks[0])).toBeGreaterThan(0.999);
    expect(iou(rb.masks[1], ra.masks[1])).toBeGreaterThan(0.999);
    expect(iou(rb.masks[0], s.red)).toBeGreaterThan(0.9);
    await Promise.all([a.release(), b.release()]);
  });
});

describe('Perceiver on the random tiny packages', () => {
  it.each(['tiny-random', 'tiny-random-fp16'])(
    '%s runs end to end and returns frame-size maps',
    async (name) => {
      const p = await Perceiver.load(path.join(MODELS, name), {
        device: 'cpu',
        logger: capture(),
        minAreaPx: 1,
        threshold: 0,
      });
      const img = { width: 80, height: 60, data: new Uint8Array(80 * 60 * 3).map((_, i) => (i * 37) % 256) };
      const r = await p.segment(img, ['red mug', 'blue box']);
      expect([r.plan.dstWidth, r.plan.dstHeight]).toEqual([40, 32]); // short side 60 -> 32, long side 42.7 -> 40 (multiple of 8)
      expect(r.masks.map((m) => m.length)).toEqual([4800, 4800]);
      for (let i = 0; i < 4800; i += 97) {
        const total = r.scoreMaps[0][i] + r.scoreMaps[1][i];
        expect(total).toBeGreaterThan(0);
        expect(total).toBeLessThanOrEqual(1 + 1e-5);
      }
      // With threshold 0 and no area limit, every pixel where a query beats the background belongs to one mask only.
      for (let i = 0; i < 4800; i += 13) expect(r.masks[0][i] + r.masks[1][i]).toBeLessThanOrEqual(1);
      await p.release();
    },
  );
});

describe('Perceiver with a ProxyCLIP package (vfm.onnx)', () => {
  it('loads, validates and runs the VFM graph next to the encoders', async () => {
    const p = await Perceiver.load(path.join(MODELS, 'tiny-proxyclip'), {
      device: 'auto',
      logger: capture(),
    });
    expect(p.manifest.architecture).toBe('proxyclip');
    expect(p.devices.vfm).toBe('cpu');
    const px = new Float32Array(3 * 32 * 48);
    px.fill(1, 0, 32 * 48); // red channel high everywhere
    const f = await p.encodeVfm(px, 32, 48);
    expect([f.gridHeight, f.gridWidth, f.dim]).toEqual([4, 6, 4]);
    expect(f.data[0]).toBeCloseTo(1 / Math.hypot(1, 0.5), 5);
    const r = await p.segment({ width: 48, height: 32, data: new Uint8Array(48 * 32 * 3).fill(7) }, ['mug']);
    expect(r.masks[0].length).toBe(48 * 32);
    await p.release();
    const a = await Perceiver.load(path.join(MODELS, 'tiny-analytic'), {
      device: 'cpu',
      logger: capture(),
      skipWarmup: true,
    });
    await expect(a.encodeVfm(px, 32, 48)).rejects.toThrow(
      /vfm: package tiny-analytic \(clip-vanilla\) has no vfm.onnx/,
    );
    await a.release();
  });
});

describe('Perceiver with a CLIP-BPE package', () => {
  it('tokenizes with the CLIP BPE and feeds int32 ids (shared CLIP vectors)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpe-pkg-'));
    const src = path.join(MODELS, 'tiny-random-bpe');
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    await expect(Perceiver.load(dir, { device: 'cpu', logger: capture() })).rejects.toThrow(
      /bpe_simple_vocab_16e6.txt.gz \(tokenizer.vocab_file\): tokenizer vocabulary missing/,
    );
    const shared = path.resolve(__dirname, '../../../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
    fs.copyFileSync(shared, path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
    const p = await Perceiver.load(dir, { device: 'cpu', logger: capture() });
    expect(p.tokenizer.tokenize('a photo of a red mug.').ids.slice(0, 9)).toEqual([
      49406, 320, 1125, 539, 320, 736, 9722, 269, 49407,
    ]);
    const a = await p.embedText('red mug');
    const b = await p.embedText('blue box');
    expect(a.length).toBe(16);
    expect(Math.abs(Math.hypot(...a) - 1)).toBeLessThan(1e-5);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    const r = await p.segment({ width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90) }, [
      'red mug',
    ]);
    expect(r.masks[0].length).toBe(64 * 48);
    await p.release();
  });
});
