/**
 * IEEE 754 binary16 <-> binary32 conversion over typed arrays (Node 20 has no Float16Array). Float16 values are
 * carried as their bit patterns in a Uint16Array, which is what onnxruntime's 'float16' tensors hold.
 * float32 -> float16 rounds to nearest, ties to even; overflow gives +-Infinity; NaN stays NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Lookup tables for float16 -> float32 (built once: 64K entries). */
let HALF_TO_FLOAT: Float32Array | null = null;

function halfBitsToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function halfTable(): Float32Array {
  if (!HALF_TO_FLOAT) {
    HALF_TO_FLOAT = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF_TO_FLOAT[i] = halfBitsToFloat(i);
  }
  return HALF_TO_FLOAT;
}

/** One float32 value -> float16 bits (round to nearest even). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000; // implicit 1
    const shift = 14 - e; // 14..24
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // Rounding may carry into the exponent, which is the correct result (up to Inf).
  return sign | (rem > 0x1000 || (rem === 0x1000 && half & 1) ? half + 1 : half);
}

/** Float32 (or any numeric array) -> float16 bit patterns. `out` is reused when given. */
export function float32ToFloat16(src: ArrayLike<number>, out?: Uint16Array): Uint16Array {
  const dst = out ?? new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) dst[i] = toHalfBits(src[i]);
  return dst;
}

/** Float16 bit patterns -> Float32Array (exact). `out` is reused when given. */
export function float16ToFloat32(src: Uint16Array, out?: Float32Array): Float32Array {
  const t = halfTable();
  const dst = out ?? new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}
