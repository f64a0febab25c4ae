import { PerceptionInputError } from './errors';
import { axisWeights, planResize, preprocessImage, RawImage } from './preprocess';

const MEAN: [number, number, number] = [0.5, 0.5, 0.5];
const STD: [number, number, number] = [0.5, 0.5, 0.5];

function solid(w: number, h: number, rgb: [number, number, number], encoding = 'rgb8', pad = 0): RawImage {
  const layout: Record<string, number[]> = {
    rgb8: [0, 1, 2],
    bgr8: [2, 1, 0],
    rgba8: [0, 1, 2, -1],
    bgra8: [2, 1, 0, -1],
    mono8: [0],
  };
  const ch = layout[encoding].length;
  const step = w * ch + pad;
  const data = new Uint8Array(step * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      layout[encoding].forEach((c, k) => (data[y * step + x * ch + k] = c < 0 ? 255 : rgb[c]));
  return { width: w, height: h, encoding, step, data };
}

describe('planResize', () => {
  it('short side / long side / fixed produce multiples of the patch', () => {
    const s = planResize(640, 480, { policy: 'short_side', inputSize: [448, 448], patchSize: 16 });
    expect([s.dstWidth, s.dstHeight, s.gridWidth, s.gridHeight]).toEqual([592, 448, 37, 28]);
    const l = planResize(640, 480, { policy: 'long_side', inputSize: [224, 224], patchSize: 14 });
    expect([l.dstWidth, l.dstHeight]).toEqual([224, 168]);
    const f = planResize(640, 480, { policy: 'fixed', inputSize: [224, 224], patchSize: 16 });
    expect([f.dstWidth, f.dstHeight, f.contentWidth, f.contentHeight]).toEqual([224, 224, 224, 224]);
    const lb = planResize(640, 480, {
      policy: 'fixed',
      inputSize: [224, 224],
      patchSize: 16,
      letterbox: true,
    });
    expect([lb.contentX, lb.contentY, lb.contentWidth, lb.contentHeight]).toEqual([0, 28, 224, 168]);
    const nd = planResize(640, 480, {
      policy: 'short_side',
      inputSize: [224, 224],
      patchSize: 16,
      dynamicHw: false,
    });
    expect([nd.dstWidth, nd.dstHeight]).toEqual([224, 224]);
  });
  it('rejects zero-size frames', () => {
    expect(() => planResize(0, 480, { policy: 'fixed', inputSize: [224, 224], patchSize: 16 })).toThrow(
      PerceptionInputError,
    );
  });
});

describe('preprocessImage', () => {
  it('normalises every encoding (with row padding) to the same NCHW values', () => {
    const plan = planResize(40, 30, { policy: 'fixed', inputSize: [16, 32], patchSize: 8 });
    const rgb: [number, number, number] = [255, 0, 51];
    for (const enc of ['rgb8', 'bgr8', 'rgba8', 'bgra8']) {
      const r = preprocessImage(solid(40, 30, rgb, enc, 5), plan, MEAN, STD);
      expect(r.dims).toEqual([1, 3, 16, 32]);
      const plane = 16 * 32;
      expect(r.pixels[0]).toBeCloseTo(1, 5);
      expect(r.pixels[plane + 100]).toBeCloseTo(-1, 5);
      expect(r.pixels[2 * plane + 511]).toBeCloseTo(51 / 127.5 - 1, 5);
    }
    const m = preprocessImage(
      solid(40, 30, [102, 102, 102], 'mono8', 3),
      plan,
      [0.1, 0.2, 0.3],
      [0.2, 0.2, 0.2],
    );
    expect(m.pixels[0]).toBeCloseTo((0.4 - 0.1) / 0.2, 5);
    expect(m.pixels[2 * 16 * 32]).toBeCloseTo((0.4 - 0.3) / 0.2, 5);
  });

  it('downscales with antialiasing (a 1-px checkerboard averages to grey) and keeps a ramp monotone', () => {
    const w = 64;
    const h = 64;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) data.fill(((i % w) + Math.floor(i / w)) % 2 ? 255 : 0, i * 3, i * 3 + 3);
    const plan = planResize(w, h, { policy: 'fixed', inputSize: [16, 16], patchSize: 8 });
    const r = preprocessImage({ width: w, height: h, encoding: 'rgb8', data }, plan, [0, 0, 0], [1, 1, 1]);
    for (let i = 0; i < 256; i++) expect(Math.abs(r.pixels[i] - 0.5)).toBeLessThan(0.02);
    const aw = axisWeights(100, 10);
    expect(aw.count[5]).toBeGreaterThanOrEqual(19);
    const ramp = new Uint8Array(100 * 3);
    for (let x = 0; x < 100; x++) ramp.fill(x * 2, x * 3, x * 3 + 3);
    const p2 = planResize(100, 1, { policy: 'fixed', inputSize: [8, 24], patchSize: 8 });
    const r2 = preprocessImage(
      { width: 100, height: 1, encoding: 'rgb8', data: ramp },
      p2,
      [0, 0, 0],
      [1, 1, 1],
    );
    for (let x = 1; x < 24; x++) expect(r2.pixels[x]).toBeGreaterThan(r2.pixels[x - 1]);
  });

  it('fills letterbox padding with the normalised mean (0) and reuses scratch buffers', () => {
    const plan = planResize(64, 32, { policy: 'fixed', inputSize: [32, 32], patchSize: 8, letterbox: true });
    const scratch = {};
    const a = preprocessImage(solid(64, 32, [255, 255, 255]), plan, MEAN, STD, scratch);
    expect(a.pixels[0]).toBe(0); // top padding row
    expect(a.pixels[16 * 32 + 5]).toBeCloseTo(1, 5);
    const b = preprocessImage(solid(64, 32, [0, 0, 0]), plan, MEAN, STD, scratch);
    expect(b.pixels).toBe(a.pixels);
    expect(b.pixels[16 * 32 + 5]).toBeCloseTo(-1, 5);
  });

  it('rejects unknown encodings, step mismatch and short data with the field name', () => {
    const plan = planResize(4, 4, { policy: 'fixed', inputSize: [8, 8], patchSize: 8 });
    const img = solid(4, 4, [1, 2, 3]);
    expect(() => preprocessImage({ ...img, encoding: '16UC1' }, plan, MEAN, STD)).toThrow(
      /image.encoding: '16UC1' is not supported/,
    );
    expect(() => preprocessImage({ ...img, step: 10 }, plan, MEAN, STD)).toThrow(
      /image.step: 10 is less than width\*channels = 12/,
    );
    expect(() => preprocessImage({ ...img, data: img.data.subarray(0, 40) }, plan, MEAN, STD)).toThrow(
      /image.data: 40 bytes is too short/,
    );
    expect(() => preprocessImage(solid(5, 4, [1, 2, 3]), plan, MEAN, STD)).toThrow(/plan/);
  });
});
