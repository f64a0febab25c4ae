import { WASM_BASE64 } from './knngrid.wasm';
import { MemoryLayout } from './layout';

/** Signature of knngrid.wat's `grid` (pointers are byte offsets into the memory). */
type GridFn = (
  gx: number,
  gy: number,
  gz: number,
  gi: number,
  start: number,
  nx: number,
  ny: number,
  nz: number,
  lx: number,
  ly: number,
  lz: number,
  c: number,
  queries: number,
  order: number,
  qStart: number,
  k: number,
  lim1: number,
  maxScan: number,
  outIdx: number,
  outD2: number,
  done: number,
  bk: number,
  idBits: number,
  rows: number,
  tmpD: number,
  tmpP: number,
) => void;

let compiled: WebAssembly.Module | null = null;
/** The last instance, reused by the next batch that fits (batches never overlap: each runs synchronously). */
let cached: { mem: WebAssembly.Memory; fn: GridFn; pages: number } | null = null;
/** Larger batches get a memory of their own, not kept after them. */
const CACHE_MAX_PAGES = 1024; // 64 MiB

/** An instance of knngrid.wat with at least `pages` pages of memory (fresh pages are zero; reused are not). */
function instanceWith(pages: number): { mem: WebAssembly.Memory; fn: GridFn } {
  if (cached && cached.pages >= pages) return cached;
  compiled ??= new WebAssembly.Module(Buffer.from(WASM_BASE64, 'base64'));
  const mem = new WebAssembly.Memory({ initial: pages });
  const fn = new WebAssembly.Instance(compiled, { env: { mem } }).exports.grid as GridFn;
  if (pages <= CACHE_MAX_PAGES) cached = { mem, fn, pages };
  return { mem, fn };
}

/** A uniform grid's cells per axis and its low corner (metres). */
export interface GridAxes {
  nx: number;
  ny: number;
  nz: number;
  lx: number;
  ly: number;
  lz: number;
}

/** Grid geometry: cells per axis, the grid's low corner and the cell side `c` (metres). */
export interface GridShape extends GridAxes {
  c: number;
}

/**
 * The arrays of one batch kNN through a uniform grid, in the memory of one instance of knngrid.wat, and its
 * query loop. The caller fills the inputs through the views, then calls `run`:
 * - `gx`, `gy`, `gz`, `gi`: the indexed points sorted by cell (x fastest), and their original indices;
 * - `start`: cell c's points are start[c]..start[c+1]-1 (nCells + 1 entries);
 * - `queries`: the query xyz (f32, interleaved); `order` / `qStart`: the query ids sorted by cell, cell c's
 *   being order[qStart[c]..qStart[c+1]-1];
 * - outputs `outIdx` / `outD2` (row q: the k nearest, ascending; rows of queries not done are not written)
 *   and `done` (1 where row q was written).
 * A batch's views are valid until the next batch is made: the memory of batches up to 64 MiB is reused.
 */
export class KnnGridBatch {
  readonly gx: Float64Array;
  readonly gy: Float64Array;
  readonly gz: Float64Array;
  readonly gi: Int32Array;
  readonly start: Int32Array;
  readonly queries: Float32Array;
  readonly order: Int32Array;
  readonly qStart: Int32Array;
  readonly outIdx: Int32Array;
  readonly outD2: Float32Array;
  readonly done: Uint8Array;
  private readonly fn: GridFn;
  private readonly ptr: number[];

  /** m indexed points, nCells grid cells, nq queries, k neighbours each; blocks of up to maxScan points. */
  constructor(
    m: number,
    nCells: number,
    nq: number,
    readonly k: number,
    readonly maxScan: number,
  ) {
    // f64 arrays first (8-aligned), then 4-byte ones, then bytes
    const layout = new MemoryLayout(8);
    const take = (bytes: number): number => layout.take(bytes);
    const pGx = take(8 * m);
    const pGy = take(8 * m);
    const pGz = take(8 * m);
    const pBk = take(8 * k);
    const pTmpD = take(8 * maxScan);
    const pGi = take(4 * m);
    const pStart = take(4 * (nCells + 1));
    const pQueries = take(12 * nq);
    const pOrder = take(4 * nq);
    const pQStart = take(4 * (nCells + 1));
    const pOutIdx = take(4 * nq * k);
    const pOutD2 = take(4 * nq * k);
    const pRows = take(8 * 9);
    const pTmpP = take(4 * maxScan);
    const pDone = take(nq);
    const { mem, fn } = instanceWith(layout.pages);
    this.fn = fn;
    const b = mem.buffer;
    this.gx = new Float64Array(b, pGx, m);
    this.gy = new Float64Array(b, pGy, m);
    this.gz = new Float64Array(b, pGz, m);
    this.gi = new Int32Array(b, pGi, m);
    this.start = new Int32Array(b, pStart, nCells + 1);
    this.queries = new Float32Array(b, pQueries, 3 * nq);
    this.order = new Int32Array(b, pOrder, nq);
    this.qStart = new Int32Array(b, pQStart, nCells + 1);
    this.outIdx = new Int32Array(b, pOutIdx, nq * k);
    this.outD2 = new Float32Array(b, pOutD2, nq * k);
    this.done = new Uint8Array(b, pDone, nq);
    // a reused memory holds the last batch: the counts and flags start at zero
    this.start.fill(0);
    this.qStart.fill(0);
    this.done.fill(0);
    this.ptr = [
      pGx,
      pGy,
      pGz,
      pGi,
      pStart,
      pQueries,
      pOrder,
      pQStart,
      pOutIdx,
      pOutD2,
      pDone,
      pBk,
      -1,
      pRows,
      pTmpD,
      pTmpP,
    ];
    // list indices (< maxScan) go into the low bits of the k-best keys
    this.ptr[12] = Math.max(1, Math.ceil(Math.log2(maxScan)));
  }

  /**
   * The query loop: each cell's queries scan the points of its 3x3x3 block (blocks of more than `maxScan` points
   * are skipped) for their k nearest within `lim1` (squared), or, when fewer are found there, within their
   * exactness radius (c + distance to the cell's nearest face); those with k found are written and marked done.
   */
  run(g: GridShape, lim1: number): void {
    const p = this.ptr;
    this.fn(
      p[0],
      p[1],
      p[2],
      p[3],
      p[4],
      g.nx,
      g.ny,
      g.nz,
      g.lx,
      g.ly,
      g.lz,
      g.c,
      p[5],
      p[6],
      p[7],
      this.k,
      lim1,
      this.maxScan,
      p[8],
      p[9],
      p[10],
      p[11],
      p[12],
      p[13],
      p[14],
      p[15],
    );
  }
}
