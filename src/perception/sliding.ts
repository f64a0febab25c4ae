/**
 * Sliding-window inference for high-resolution frames: the normalised NCHW network input is cut into overlapping
 * square tiles (multiples of the patch), each tile runs through the image encoder, and the dense features are
 * averaged where tiles overlap and re-normalised, giving one feature grid for the whole input.
 */
import { PerceptionInputError } from './errors';
import type { DenseFeatures } from './masks';

/** Tile size and stride in network-input pixels (multiples of the patch size). */
export interface SlidingWindowOptions {
  tilePx: number;
  stridePx: number;
}

/** Runs the encoder on one tile [1,3,th,tw] and returns its dense features [th/p, tw/p, D]. */
export type TileEncoder = (
  pixels: Float32Array,
  heightPx: number,
  widthPx: number,
) => Promise<{ data: Float32Array; dim: number }>;

/** Tile origins along one axis: 0, stride, ..., with the last tile flush with the end. */
export function tileOrigins(lengthPx: number, tilePx: number, stridePx: number): number[] {
  if (lengthPx <= tilePx) return [0];
  const out: number[] = [];
  for (let o = 0; o + tilePx < lengthPx; o += stridePx) out.push(o);
  out.push(lengthPx - tilePx);
  return [...new Set(out)];
}

/**
 * Dense features of a [1,3,H,W] input by sliding-window tiles. Tile and stride must be multiples of `patchPx`;
 * H and W must be multiples of `patchPx` too. Tiles on an axis shorter than the tile use that axis' full length.
 */
export async function slidingWindowFeatures(
  pixels: Float32Array,
  heightPx: number,
  widthPx: number,
  patchPx: number,
  o: SlidingWindowOptions,
  encode: TileEncoder,
): Promise<DenseFeatures & { tiles: number }> {
  for (const [name, v] of [
    ['tilePx', o.tilePx],
    ['stridePx', o.stridePx],
    ['height', heightPx],
    ['width', widthPx],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % patchPx !== 0) {
      throw new PerceptionInputError(
        `slidingWindow.${name}`,
        `${v} must be a positive multiple of the patch size ${patchPx}`,
      );
    }
  }
  if (o.stridePx > o.tilePx) {
    throw new PerceptionInputError(
      'slidingWindow.stridePx',
      `${o.stridePx} > tilePx ${o.tilePx} would leave gaps; use a stride <= tile`,
    );
  }
  const gh = heightPx / patchPx;
  const gw = widthPx / patchPx;
  const ys = tileOrigins(heightPx, o.tilePx, o.stridePx);
  const xs = tileOrigins(widthPx, o.tilePx, o.stridePx);
  const th = Math.min(o.tilePx, heightPx);
  const tw = Math.min(o.tilePx, widthPx);
  const tile = new Float32Array(3 * th * tw);
  const plane = heightPx * widthPx;
  const counts = new Float32Array(gh * gw);
  let acc: Float32Array | null = null;
  let D = 0;
  for (const y0 of ys) {
    for (const x0 of xs) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < th; y++) {
          const src = c * plane + (y0 + y) * widthPx + x0;
          tile.set(pixels.subarray(src, src + tw), (c * th + y) * tw);
        }
      }
      const f = await encode(tile, th, tw);
      D = f.dim;
      const tgh = th / patchPx;
      const tgw = tw / patchPx;
      if (f.data.length !== tgh * tgw * D) {
        throw new PerceptionInputError(
          'dense_features',
          `tile ${th}x${tw} gave ${f.data.length} values, expected ${tgh}x${tgw}x${D}`,
        );
      }
      acc ??= new Float32Array(gh * gw * D);
      const gy0 = y0 / patchPx;
      const gx0 = x0 / patchPx;
      for (let ty = 0; ty < tgh; ty++) {
        for (let tx = 0; tx < tgw; tx++) {
          const g = (gy0 + ty) * gw + gx0 + tx;
          counts[g]++;
          const so = (ty * tgw + tx) * D;
          const dOff = g * D;
          for (let d = 0; d < D; d++) acc[dOff + d] += f.data[so + d];
        }
      }
    }
  }
  const data = acc!;
  for (let g = 0; g < gh * gw; g++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += data[g * D + d] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < D; d++) data[g * D + d] *= inv;
  }
  return { data, gridHeight: gh, gridWidth: gw, dim: D, tiles: ys.length * xs.length };
}
