import { slidingWindowFeatures, tileOrigins } from './sliding';

/** A patch-local fake encoder: feature of a patch = normalize([mean c0, mean c1, mean c2, 1]). */
function patchEncoder(patch: number) {
  const calls: [number, number][] = [];
  const enc = async (px: Float32Array, h: number, w: number) => {
    calls.push([h, w]);
    const gh = h / patch;
    const gw = w / patch;
    const out = new Float32Array(gh * gw * 4);
    for (let gy = 0; gy < gh; gy++)
      for (let gx = 0; gx < gw; gx++) {
        const o = (gy * gw + gx) * 4;
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let y = 0; y < patch; y++)
            for (let x = 0; x < patch; x++) s += px[c * h * w + (gy * patch + y) * w + gx * patch + x];
          out[o + c] = s / (patch * patch);
        }
        out[o + 3] = 1;
        const n = Math.hypot(out[o], out[o + 1], out[o + 2], out[o + 3]);
        for (let d = 0; d < 4; d++) out[o + d] /= n;
      }
    return { data: out, dim: 4 };
  };
  return { enc, calls };
}

describe('sliding window', () => {
  it('places tiles at 0, stride, ..., flush with the end', () => {
    expect(tileOrigins(100, 40, 20)).toEqual([0, 20, 40, 60]);
    expect(tileOrigins(96, 32, 32)).toEqual([0, 32, 64]);
    expect(tileOrigins(30, 40, 20)).toEqual([0]);
    expect(tileOrigins(50, 32, 24)).toEqual([0, 18]);
  });

  it('stitches patch-local features exactly like a single full-size pass', async () => {
    const H = 48;
    const W = 80;
    const px = new Float32Array(3 * H * W).map((_, i) => Math.sin(i * 0.013) + Math.cos(i * 0.0007));
    const full = await patchEncoder(8).enc(px, H, W);
    const { enc, calls } = patchEncoder(8);
    const r = await slidingWindowFeatures(px, H, W, 8, { tilePx: 32, stridePx: 16 }, enc);
    expect([r.gridHeight, r.gridWidth, r.dim, r.tiles]).toEqual([6, 10, 4, 2 * 4]);
    expect(calls.every(([h, w]) => h === 32 && w === 32)).toBe(true);
    let maxDiff = 0;
    for (let i = 0; i < full.data.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(full.data[i] - r.data[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('rejects sizes that are not multiples of the patch and strides larger than the tile', async () => {
    const { enc } = patchEncoder(8);
    const px = new Float32Array(3 * 32 * 32);
    await expect(slidingWindowFeatures(px, 32, 32, 8, { tilePx: 30, stridePx: 8 }, enc)).rejects.toThrow(
      /slidingWindow.tilePx: 30 must be/,
    );
    await expect(slidingWindowFeatures(px, 32, 32, 8, { tilePx: 16, stridePx: 24 }, enc)).rejects.toThrow(
      /would leave gaps/,
    );
  });
});
