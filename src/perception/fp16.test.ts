import { float16ToFloat32, float32ToFloat16, toHalfBits } from './fp16';

describe('fp16 conversion', () => {
  it('converts representative values to the exact IEEE binary16 bits', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // max half
      [65520, 0x7c00], // rounds to Inf
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // min normal
      [2 ** -24, 0x0001], // min subnormal
      [2 ** -25, 0x0000], // tie -> even (0)
      [3 * 2 ** -25, 0x0002], // tie -> even (2)
      [1 / 3, 0x3555],
      [0.1, 0x2e66],
      [1 + 2 ** -11, 0x3c00], // tie -> even down
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even up
    ];
    for (const [v, bits] of cases) expect([v, toHalfBits(v)]).toEqual([v, bits]);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(NaN) & 0x3ff).not.toBe(0);
  });

  it('round-trips every finite half value exactly and decodes specials', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = float16ToFloat32(all);
    const back = float32ToFloat16(f);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isNaN) expect(Number.isNaN(f[i])).toBe(true);
      else if (back[i] !== i) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(f[0x7c00]).toBe(Infinity);
    expect(f[0x3c00]).toBe(1);
    expect(f[0x0001]).toBe(2 ** -24);
  });

  it('stays within half precision of float32 inputs and reuses output buffers', () => {
    const src = new Float32Array(1000);
    for (let i = 0; i < src.length; i++) src[i] = Math.sin(i) * 10;
    const out = new Uint16Array(1000);
    expect(float32ToFloat16(src, out)).toBe(out);
    const back = float16ToFloat32(out);
    for (let i = 0; i < src.length; i++)
      expect(Math.abs(back[i] - src[i])).toBeLessThanOrEqual(Math.abs(src[i]) * 2 ** -11 + 1e-7);
  });
});
