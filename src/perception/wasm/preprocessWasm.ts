import { MemoryLayout } from '../../geometry/wasm/layout';
import { WASM_BASE64 } from './preprocess.wasm';

type HorizontalFn = (
  src: number,
  step: number,
  srcH: number,
  cw: number,
  T: number,
  off: number,
  w: number,
  rows: number,
  swz: number,
) => void;
type VerticalFn = (
  rows: number,
  cw: number,
  ch: number,
  W: number,
  contentX: number,
  contentY: number,
  plane: number,
  T: number,
  vtab: number,
  out: number,
  norm: number,
) => void;

let compiled: WebAssembly.Module | null = null;

/** Source and output geometry of one preprocessing plan, and the taps (a fixed count per axis, zero-padded). */
export interface ResizeKernelSpec {
  srcWidth: number;
  srcHeight: number;
  /** bytes per source row */
  step: number;
  /** content (resized image) size and its place in the W x H output */
  cw: number;
  ch: number;
  W: number;
  H: number;
  contentX: number;
  contentY: number;
  /** horizontal taps: T per output column; byte offsets within a source row and weights */
  xT: number;
  xOff: Int32Array;
  xW: Float32Array;
  /** vertical taps: T per output row; source row indices and weights */
  yT: number;
  yRow: Int32Array;
  yW: Float32Array;
}

/** Pads 1 or 2 taps per output pixel to 3 (zero weights at the first tap), for the unrolled passes. */
function padTaps(s: ResizeKernelSpec): ResizeKernelSpec {
  const pad = (T: number, n: number, idx: Int32Array, w: Float32Array) => {
    if (T >= 3) return { T, idx, w };
    const i3 = new Int32Array(3 * n);
    const w3 = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) {
        i3[3 * i + k] = idx[i * T + (k < T ? k : 0)];
        w3[3 * i + k] = k < T ? w[i * T + k] : 0;
      }
    }
    return { T: 3, idx: i3, w: w3 };
  };
  const x = pad(s.xT, s.cw, s.xOff, s.xW);
  const y = pad(s.yT, s.ch, s.yRow, s.yW);
  return { ...s, xT: x.T, xOff: x.idx, xW: x.w, yT: y.T, yRow: y.idx, yW: y.w };
}

/**
 * The separable resize + normalise of preprocess.ts in WebAssembly SIMD (wasm/preprocess.wat), for one plan: the
 * memory holds the source copy, the taps, the horizontal pass's pixel rows and the NCHW output, whose view
 * `out` is reused by every call (as preprocessImage's scratch output was).
 */
export class ResizeKernel {
  readonly spec: ResizeKernelSpec;
  readonly out: Float32Array;
  private readonly src: Uint8Array;
  private readonly swz: Uint8Array;
  private readonly norm: Float32Array;
  private readonly h: HorizontalFn;
  private readonly v: VerticalFn;
  private readonly p: {
    src: number;
    off: number;
    w: number;
    rows: number;
    vtab: number;
    swz: number;
    norm: number;
  };

  constructor(spec: ResizeKernelSpec) {
    compiled ??= new WebAssembly.Module(Buffer.from(WASM_BASE64, 'base64'));
    const s = padTaps(spec);
    this.spec = s;
    const layout = new MemoryLayout(16);
    const take = (bytes: number): number => layout.take(bytes);
    const pOut = take(4 * 3 * s.H * s.W);
    const pSrc = take(s.step * s.srcHeight + 16); // a pixel's 4-byte load may read 3 bytes past the last one
    const pOff = take(4 * s.xT * s.cw);
    const pW = take(4 * s.xT * s.cw);
    const pRows = take(16 * s.cw * s.srcHeight);
    const pVtab = take(8 * s.yT * s.ch);
    const pSwz = take(16);
    const pNorm = take(32);
    const mem = new WebAssembly.Memory({ initial: layout.pages });
    const ex = new WebAssembly.Instance(compiled, { env: { mem } }).exports;
    // T <= 3 (padded to 3): the unrolled passes; more taps: the tap loops
    const h3 = ex.horizontal3 as (...a: number[]) => void;
    const v3 = ex.vertical3 as (...a: number[]) => void;
    this.h =
      s.xT === 3
        ? (src, step, srcH, cw, _T, off, w, rows, swz) => h3(src, step, srcH, cw, off, w, rows, swz)
        : (ex.horizontal as HorizontalFn);
    this.v =
      s.yT === 3
        ? (rows, cw, ch, W, cx, cy, plane, _T, vtab, out, norm) =>
            v3(rows, cw, ch, W, cx, cy, plane, vtab, out, norm)
        : (ex.vertical as VerticalFn);
    const b = mem.buffer;
    this.out = new Float32Array(b, pOut, 3 * s.H * s.W);
    this.src = new Uint8Array(b, pSrc, s.step * s.srcHeight);
    this.swz = new Uint8Array(b, pSwz, 16);
    this.norm = new Float32Array(b, pNorm, 8);
    new Int32Array(b, pOff, s.xT * s.cw).set(s.xOff);
    new Float32Array(b, pW, s.xT * s.cw).set(s.xW);
    // per output row: T (byte offset of the source pixel row, weight) pairs
    const vi = new Int32Array(b, pVtab, 2 * s.yT * s.ch);
    const vf = new Float32Array(b, pVtab, 2 * s.yT * s.ch);
    for (let i = 0; i < s.yT * s.ch; i++) {
      vi[2 * i] = 16 * s.cw * s.yRow[i];
      vf[2 * i + 1] = s.yW[i];
    }
    this.p = { src: pSrc, off: pOff, w: pW, rows: pRows, vtab: pVtab, swz: pSwz, norm: pNorm };
  }

  /**
   * Resizes `data` (the source bytes, `step` per row; channel byte offsets r, g, b within a pixel) and writes
   * v * scale - offset per channel into `out` (NCHW; the letterbox border is left as it is).
   */
  run(
    data: Uint8Array,
    r: number,
    g: number,
    bIdx: number,
    scale: readonly [number, number, number],
    offset: readonly [number, number, number],
  ): Float32Array {
    const s = this.spec;
    const p = this.p;
    const n = s.step * s.srcHeight;
    this.src.set(data.length > n ? data.subarray(0, n) : data); // the last row may lack its padding
    // bytes 0..2 of each pixel's load in r, g, b order; an index >= 16 reads as zero
    this.swz.fill(0xff);
    this.swz[0] = r;
    this.swz[1] = g;
    this.swz[2] = bIdx;
    this.norm.set([scale[0], scale[1], scale[2], 0, offset[0], offset[1], offset[2], 0]);
    this.h(p.src, s.step, s.srcHeight, s.cw, s.xT, p.off, p.w, p.rows, p.swz);
    this.v(p.rows, s.cw, s.ch, s.W, s.contentX, s.contentY, 4 * s.H * s.W, s.yT, p.vtab, 0, p.norm);
    return this.out;
  }
}
