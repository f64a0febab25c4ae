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

  it('matches torch F.interpolate(bilinear, antialias=True) down and up (reference values from torch 1.13)', () => {
    const W = 11;
    const H = 7;
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < data.length; i++) data[i] = Number(((BigInt(i) * 2654435761n) % 2n ** 32n) >> 24n);
    const ref: Record<string, number[]> = {
      '4x3': [
        0.468726, 0.531186, 0.523119, 0.52369, 0.454552, 0.54233, 0.472784, 0.478833, 0.540549, 0.558263,
        0.512895, 0.482576,
      ],
      '16x8': [
        0.0, 0.454167, 0.823162, 0.723407, 0.621324, 0.519975, 0.420221, 0.320466, 0.219363, 0.148407,
        0.738848, 0.921446, 0.821324, 0.718873, 0.61826, 0.541176, 0.321814, 0.342647, 0.329289, 0.229534,
        0.613657, 0.844079, 0.742134, 0.642279, 0.542272, 0.447817, 0.475283, 0.427574, 0.32775, 0.227489,
        0.508433, 0.86299, 0.668382, 0.589216, 0.487623, 0.387868, 0.474387, 0.50098, 0.398529, 0.298652,
        0.436152, 0.789216, 0.686765, 0.585907, 0.486152, 0.386397, 0.431863, 0.519363, 0.450245, 0.37225,
        0.394738, 0.681702, 0.634681, 0.534444, 0.433509, 0.332253, 0.382721, 0.571147, 0.470213, 0.369079,
        0.320956, 0.609436, 0.631373, 0.552206, 0.357598, 0.280515, 0.303431, 0.589216, 0.542034, 0.565809,
        0.768015, 0.679412, 0.578309, 0.478554, 0.378799, 0.277451, 0.228309, 0.516789, 0.53953, 0.461275,
        0.704167, 0.627083, 0.526739, 0.42513, 0.324395, 0.41826, 0.793015, 0.713059, 0.611956, 0.521201,
        0.637132, 0.62402, 0.521936, 0.422181, 0.322426, 0.245343, 0.8625, 0.785417, 0.685662, 0.585907,
        0.595588, 0.570711, 0.470956, 0.371201, 0.270098, 0.19326, 0.654289, 0.782652, 0.680936, 0.580676,
        0.568995, 0.591912, 0.368627, 0.291544, 0.191789, 0.092034, 0.586029, 0.892525, 0.79277, 0.693015,
        0.591912, 0.489583, 0.389828, 0.290074, 0.189951, 0.0875, 0.457475, 0.913725,
      ],
    };
    for (const [key, want] of Object.entries(ref)) {
      const [w, h] = key.split('x').map(Number);
      // patch 1 so any size is allowed; 'fixed' stretches to exactly w x h. Values are the red plane.
      const plan = planResize(W, H, { policy: 'fixed', inputSize: [h, w], patchSize: 1 });
      const r = preprocessImage({ width: W, height: H, encoding: 'rgb8', data }, plan, [0, 0, 0], [1, 1, 1]);
      want.forEach((v, i) => expect(Math.abs(r.pixels[i] - v)).toBeLessThan(2e-6));
    }
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
