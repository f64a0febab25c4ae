import { MemoryLayout } from '../../geometry/wasm/layout';
import { WASM_BASE64 } from './maskpost.wasm';

type FrameFn = (
  pairs: number,
  pairBytes: number,
  nM: number,
  hasBg: number,
  W: number,
  H: number,
  ytab: number,
  thr: number,
  scores: number,
  masks: number,
) => void;
type RunsFn = (mask: number, W: number, H: number, out: number) => number;

interface Kernel {
  mem: WebAssembly.Memory;
  frame: FrameFn;
  runs: RunsFn;
  exports: Record<string, unknown>;
}

let compiled: WebAssembly.Module | null = null;
/** The one instance, its memory grown as frames need (calls never overlap: each runs synchronously). */
let cached: Kernel | null = null;
/** A frame needing more gets an instance of its own, not kept after it. */
const CACHE_MAX_BYTES = 64 << 20;

function instanceWith(bytes: number): Kernel {
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  if (cached) {
    const have = cached.mem.buffer.byteLength / 65536;
    if (have >= pages) return cached;
    if (bytes <= CACHE_MAX_BYTES) {
      cached.mem.grow(pages - have);
      return cached;
    }
  }
  compiled ??= new WebAssembly.Module(Buffer.from(WASM_BASE64, 'base64'));
  const mem = new WebAssembly.Memory({ initial: pages });
  const ex = new WebAssembly.Instance(compiled, { env: { mem } }).exports;
  const k: Kernel = { mem, frame: ex.frame as FrameFn, runs: ex.runs as RunsFn, exports: ex };
  if (bytes <= CACHE_MAX_BYTES) cached = k;
  return k;
}

/**
 * The frame-size pass of masksFromDenseFeatures in WebAssembly SIMD (wasm/maskpost.wat), for one frame: nM maps
 * (the best background prompt first when `hasBg`, then the queries) are lerped between two of their grid rows
 * (already lerped along x) per frame row, each query's score map is written, and every pixel goes to the winning
 * query's mask by the same rule and the same float arithmetic as the TypeScript path. The caller fills each map's
 * grid row pairs and the row taps, calls `run`, then copies out `scores(k)` / `masks(k)` and reads `runs(k)`.
 * Views are valid until the next frame is made (the memory of frames up to 64 MiB is reused).
 */
export class MaskFrame {
  readonly nQueries: number;
  private readonly k: Kernel;
  private readonly p: { pairs: number; ytab: number; scores: number; masks: number; runs: number };
  private readonly pairBytes: number;

  /** `nPairs`: the number of distinct (first, second) grid row pairs the frame rows lerp between. */
  constructor(
    readonly nMaps: number,
    readonly hasBg: boolean,
    readonly width: number,
    readonly height: number,
    readonly nPairs: number,
  ) {
    if (width < 4) throw new RangeError(`MaskFrame needs a frame at least 4 pixels wide, got ${width}`);
    this.nQueries = nMaps - (hasBg ? 1 : 0);
    if (this.nQueries < 1) throw new RangeError('MaskFrame needs at least one query map');
    const plane = width * height;
    this.pairBytes = 16 * width * nPairs;
    const layout = new MemoryLayout(16);
    const take = (bytes: number): number => layout.take(bytes);
    const pairs = take(this.pairBytes * nMaps);
    const ytab = take(16 * height);
    const scores = take(4 * plane * this.nQueries);
    const masks = take(plane * this.nQueries + 16); // the run scan's 16-byte loads read past the last row
    // at most ceil(W/2) runs per row, 3 i32 each
    const runs = take(12 * Math.ceil(width / 2) * height);
    this.p = { pairs, ytab, scores, masks, runs };
    this.k = instanceWith(layout.bytes);
  }

  /**
   * Map m's row pairs from its grid rows `rows` (grid rows x width f32, lerped along x): pair j is the rows
   * pairs[2j] and pairs[2j + 1], stored as a = the first row and d = second - first (f64, the TypeScript lerp's
   * a and b - a).
   */
  fillPairs(m: number, rows: Float32Array, pairs: Int32Array): void {
    const W = this.width;
    const v = new Float64Array(this.k.mem.buffer, this.p.pairs + m * this.pairBytes, 2 * W * this.nPairs);
    for (let j = 0; j < this.nPairs; j++) {
      const r0 = pairs[2 * j] * W;
      const r1 = pairs[2 * j + 1] * W;
      const o = 2 * W * j;
      for (let x = 0; x < W; x++) {
        const a = rows[r0 + x];
        v[o + x] = a;
        v[o + W + x] = rows[r1 + x] - a;
      }
    }
  }

  /** Per frame row: the index of its grid row pair and the weight of the pair's second row. */
  setRowTaps(pairOfRow: Int32Array, fy: Float32Array): void {
    const b = this.k.mem.buffer;
    const vi = new Int32Array(b, this.p.ytab, 4 * this.height);
    const vf = new Float64Array(b, this.p.ytab, 2 * this.height);
    for (let y = 0; y < this.height; y++) {
      vi[4 * y] = pairOfRow[y] * 16 * this.width;
      vf[2 * y + 1] = fy[y];
    }
  }

  /** Score maps, winner and masks of every pixel (score >= `threshold` and the argmax). */
  run(threshold: number): void {
    const p = this.p;
    this.k.frame(
      p.pairs,
      this.pairBytes,
      this.nMaps,
      this.hasBg ? 1 : 0,
      this.width,
      this.height,
      p.ytab,
      threshold,
      p.scores,
      p.masks,
    );
  }

  /** Query k's frame-size score map. */
  scores(k: number): Float32Array {
    const plane = this.width * this.height;
    return new Float32Array(this.k.mem.buffer, this.p.scores + 4 * k * plane, plane);
  }

  /** Query k's 0/1 mask. */
  masks(k: number): Uint8Array {
    const plane = this.width * this.height;
    return new Uint8Array(this.k.mem.buffer, this.p.masks + k * plane, plane);
  }

  /**
   * The runs of query k's mask as it is now in memory, (start, exclusive end, row) triples in raster order; the
   * view is overwritten by the next call.
   */
  runs(k: number): Int32Array {
    const n = this.k.runs(this.p.masks + k * this.width * this.height, this.width, this.height, this.p.runs);
    return new Int32Array(this.k.mem.buffer, this.p.runs, 3 * n);
  }
}

type DotsFn = (f: number, P: number, D: number, t: number, C: number, scale: number, out: number) => void;

/**
 * logits [C, P] = f32(scale * <f_p, t_c>) for the features `f` [P, D] and class embeddings `text` [C, D], in
 * WebAssembly SIMD (maskpost.wat `dots`): f64 dot products in the same order as rowDotProducts, so the logits are
 * those of the TypeScript similarityLogits, bit for bit.
 */
export function similarityLogitsWasm(
  f: Float32Array,
  P: number,
  D: number,
  text: Float32Array,
  C: number,
  scale: number,
): Float32Array {
  const blocks = Math.ceil(C / 8);
  const layout = new MemoryLayout(16);
  const take = (bytes: number): number => layout.take(bytes);
  const pf = take(4 * P * D);
  const pt = take(64 * D * blocks);
  const po = take(4 * C * P);
  const k = instanceWith(layout.bytes);
  const b = k.mem.buffer;
  new Float32Array(b, pf, P * D).set(f.subarray(0, P * D));
  const t = new Float64Array(b, pt, 8 * D * blocks);
  t.fill(0);
  for (let c = 0; c < C; c++) {
    const o = 8 * D * Math.floor(c / 8) + (c % 8);
    for (let d = 0; d < D; d++) t[o + 8 * d] = text[c * D + d];
  }
  (k.exports.dots as DotsFn)(pf, P, D, pt, C, scale, po);
  return new Float32Array(b, po, C * P).slice();
}
