import { GeometryInputError, requireStride } from './errors';
import { type GridAxes, KnnGridBatch } from './wasm/knngrid';

/**
 * Static 3D kd-tree over interleaved xyz (Float32Array), built once by median splits on the widest side of each
 * cell. The finite points are copied once and partitioned in place (contiguous xyz, cache-friendly scans and
 * splits); nodes are laid out depth first, so a node's left child is the next node. All results use the
 * caller's indices. Non-finite points are skipped (never returned).
 */
export class KdTree {
  /** Number of indexed (finite) points. */
  readonly size: number;
  private readonly data: Float32Array;
  private readonly idx: Uint32Array;
  private readonly nStart: Int32Array;
  private readonly nEnd: Int32Array;
  /** Split axis (0..2) of an inner node, 3 for a leaf. */
  private readonly nDim: Uint8Array;
  private readonly nSplit: Float64Array;
  private readonly nRight: Int32Array;
  private nodeCount = 0;
  private readonly leafSize: number;
  /** Cell bounds per recursion depth during the build (lo xyz, hi xyz). */
  private bounds = new Float64Array(0);
  /** Bounds of the indexed points: lo xyz, hi xyz. */
  private readonly box: Float64Array;
  private readonly samples = new Float64Array(15);
  // query state (avoids closures in the hot recursion)
  private qx = 0;
  private qy = 0;
  private qz = 0;
  private k = 0;
  private found = 0;
  private bestD = new Float64Array(16);
  private bestI = new Int32Array(16);
  private r2 = 0;
  /** kNN traversal stack (node, cell distance, per-axis offsets); a stack entry per tree level is enough. */
  private stackNode = new Int32Array(0);
  private stackRd = new Float64Array(0);
  private stackOff = new Float64Array(0);
  private radOut: number[] = [];
  private radD2: number[] | null = null;

  /** Builds the tree; `leafSize` points per leaf (default 16). */
  constructor(points: Float32Array, leafSize = 16) {
    requireStride('points', points, 3);
    if (!(leafSize >= 1)) throw new GeometryInputError('leafSize', `must be >= 1, got ${leafSize}`);
    this.leafSize = Math.floor(leafSize);
    const n = points.length / 3;
    const idx = new Uint32Array(n);
    const data = new Float32Array(3 * n);
    const box = new Float64Array(6);
    const m = copyFinite(points, idx, data, box);
    this.box = box;
    const [lx, ly, lz, hx, hy, hz] = box;
    this.idx = m === n ? idx : idx.slice(0, m);
    this.data = m === n ? data : data.slice(0, 3 * m);
    this.size = m;
    // every split leaves at least a quarter of a node (> leafSize points) on each side
    const maxNodes = 2 * Math.ceil(m / Math.max(1, Math.floor((this.leafSize + 1) / 4))) + 3;
    this.nStart = new Int32Array(maxNodes);
    this.nEnd = new Int32Array(maxNodes);
    this.nDim = new Uint8Array(maxNodes);
    this.nSplit = new Float64Array(maxNodes);
    this.nRight = new Int32Array(maxNodes);
    if (m > 0) {
      // each split keeps at most 3/4 of a node on a side: depth <= log_{4/3}(m) + 1
      const depth = Math.ceil(Math.log(Math.max(2, m)) / Math.log(4 / 3)) + 2;
      this.bounds = new Float64Array(6 * (depth + 1));
      this.bounds.set([lx, ly, lz, hx, hy, hz]);
      this.build(0, m, 0);
      this.bounds = new Float64Array(0);
      this.stackNode = new Int32Array(depth + 2);
      this.stackRd = new Float64Array(depth + 2);
      this.stackOff = new Float64Array(3 * (depth + 2));
    }
  }

  private build(start: number, end: number, depth: number): void {
    const node = this.nodeCount++;
    this.nStart[node] = start;
    this.nEnd[node] = end;
    if (end - start <= this.leafSize) {
      this.nDim[node] = 3;
      this.nRight[node] = -1;
      return;
    }
    // split the widest side of the node's cell (bounds inherited from the parents: no per-node scan)
    const b = this.bounds;
    const o = 6 * depth;
    const sx = b[o + 3] - b[o];
    const sy = b[o + 4] - b[o + 1];
    const sz = b[o + 5] - b[o + 2];
    const dim = sx >= sy && sx >= sz ? 0 : sy >= sz ? 1 : 2;
    // one partition around the median of 15 samples; the exact median (quickselect) when that split is lopsided
    // (fewer than a quarter of the points on a side, e.g. many equal coordinates)
    const n = end - start;
    let mid = -1;
    let split = 0;
    if (n >= 32) {
      split = this.samplePivot(start, end, dim);
      mid = this.partition(start, end, dim, split);
      if (mid - start < n >> 2 || end - mid < n >> 2) mid = -1;
    }
    if (mid < 0) {
      mid = (start + end) >> 1;
      this.select(start, end - 1, mid, dim);
      split = this.data[3 * mid + dim];
    }
    this.nDim[node] = dim;
    this.nSplit[node] = split;
    // left child: the parent's cell with hi[dim] = split, at the next depth slot
    const c = o + 6;
    for (let k = 0; k < 6; k++) b[c + k] = b[o + k];
    b[c + 3 + dim] = split;
    this.build(start, mid, depth + 1);
    for (let k = 0; k < 6; k++) b[c + k] = b[o + k];
    b[c + dim] = split;
    this.nRight[node] = this.nodeCount;
    this.build(mid, end, depth + 1);
  }

  /** Median of 15 coordinates spread evenly over points start..end-1. */
  private samplePivot(start: number, end: number, dim: number): number {
    const s = this.samples;
    const step = (end - start) / 15;
    for (let t = 0; t < 15; t++) {
      const v = this.data[3 * (start + Math.floor((t + 0.5) * step)) + dim];
      let j = t;
      while (j > 0 && s[j - 1] > v) {
        s[j] = s[j - 1];
        j--;
      }
      s[j] = v;
    }
    return s[7];
  }

  /** Partitions points start..end-1 in place: coordinate < pivot first. Returns the first index >= pivot. */
  private partition(start: number, end: number, dim: number, pivot: number): number {
    const d = this.data;
    let i = start;
    let j = end - 1;
    for (;;) {
      while (i <= j && d[3 * i + dim] < pivot) i++;
      while (i <= j && !(d[3 * j + dim] < pivot)) j--;
      if (i >= j) return i;
      this.swapPoints(i, j);
      i++;
      j--;
    }
  }

  /** Swaps points i and j (xyz and original index). */
  private swapPoints(i: number, j: number): void {
    const d = this.data;
    const pi = 3 * i;
    const pj = 3 * j;
    let t = d[pi];
    d[pi] = d[pj];
    d[pj] = t;
    t = d[pi + 1];
    d[pi + 1] = d[pj + 1];
    d[pj + 1] = t;
    t = d[pi + 2];
    d[pi + 2] = d[pj + 2];
    d[pj + 2] = t;
    const ti = this.idx[i];
    this.idx[i] = this.idx[j];
    this.idx[j] = ti;
  }

  /** Quickselect on points lo..hi (in place, xyz and idx together) so point k is the k-th smallest along dim. */
  private select(lo: number, hi: number, k: number, dim: number): void {
    const d = this.data;
    while (hi > lo) {
      // median of three pivot
      const a = d[3 * lo + dim];
      const b = d[3 * ((lo + hi) >> 1) + dim];
      const c = d[3 * hi + dim];
      const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (d[3 * i + dim] < pivot) i++;
        while (d[3 * j + dim] > pivot) j--;
        if (i <= j) {
          this.swapPoints(i, j);
          i++;
          j--;
        }
      }
      if (k <= j) hi = j;
      else if (k >= i) lo = i;
      else return;
    }
  }

  private ensureK(k: number): void {
    if (this.bestD.length < k) {
      this.bestD = new Float64Array(k);
      this.bestI = new Int32Array(k);
    }
  }

  /**
   * Depth-first kNN search with an explicit stack, pruned by incremental cell distances (Arya & Mount): each
   * stacked far child carries the squared distance from the query to its cell and the per-axis offsets.
   */
  private knnSearchFrom(bound = Infinity): void {
    const d = this.data;
    const k = this.k;
    const bd = this.bestD;
    const bi = this.bestI;
    const qx = this.qx;
    const qy = this.qy;
    const qz = this.qz;
    const nDim = this.nDim;
    const nSplit = this.nSplit;
    const nRight = this.nRight;
    const nStart = this.nStart;
    const nEnd = this.nEnd;
    const sNode = this.stackNode;
    const sRd = this.stackRd;
    const sOff = this.stackOff;
    let found = 0;
    // a finite bound prunes as if k points at that distance were already found (nearestWithin)
    let worst = bound;
    let sp = 0;
    sNode[0] = 0;
    sRd[0] = 0;
    sOff[0] = sOff[1] = sOff[2] = 0;
    sp = 1;
    while (sp > 0) {
      sp--;
      const rd = sRd[sp];
      if (rd >= worst) continue;
      let node = sNode[sp];
      const o0 = sOff[3 * sp];
      const o1 = sOff[3 * sp + 1];
      const o2 = sOff[3 * sp + 2];
      const cur = rd;
      let dim = nDim[node];
      while (dim !== 3) {
        const diff = (dim === 0 ? qx : dim === 1 ? qy : qz) - nSplit[node];
        const d2 = diff * diff;
        const old = dim === 0 ? o0 : dim === 1 ? o1 : o2;
        const rdFar = cur - old + d2;
        const right = nRight[node];
        let far = right;
        if (diff < 0) node = node + 1;
        else {
          far = node + 1;
          node = right;
        }
        if (rdFar < worst) {
          sNode[sp] = far;
          sRd[sp] = rdFar;
          const so = 3 * sp;
          sOff[so] = dim === 0 ? d2 : o0;
          sOff[so + 1] = dim === 1 ? d2 : o1;
          sOff[so + 2] = dim === 2 ? d2 : o2;
          sp++;
        }
        dim = nDim[node];
      }
      for (let i = nStart[node], e = nEnd[node], o = 3 * i; i < e; i++, o += 3) {
        const dx = d[o] - qx;
        const dy = d[o + 1] - qy;
        const dz = d[o + 2] - qz;
        const dist = dx * dx + dy * dy + dz * dz;
        if (dist >= worst) continue;
        found = insertKBest(bd, bi, found, k, dist, i);
        if (found === k) worst = bd[k - 1];
      }
    }
    this.found = found;
  }

  /**
   * k nearest neighbours of (x, y, z). Writes original point indices (nearest first) to outIdx and squared
   * distances to outDist2; returns how many were found (min(k, size)). Depth-first search pruned by incremental
   * cell distances (Arya & Mount).
   */
  knn(
    x: number,
    y: number,
    z: number,
    k: number,
    outIdx: Int32Array,
    outDist2?: Float32Array | Float64Array,
  ): number {
    if (this.size === 0 || k <= 0) return 0;
    this.ensureK(k);
    this.qx = x;
    this.qy = y;
    this.qz = z;
    this.k = k;
    this.knnSearchFrom();
    for (let i = 0; i < this.found; i++) {
      outIdx[i] = this.idx[this.bestI[i]];
      if (outDist2) outDist2[i] = this.bestD[i];
    }
    return this.found;
  }

  /** Nearest neighbour index (or -1 when empty); its squared distance is in `lastDist2`. */
  nearest(x: number, y: number, z: number): number {
    if (this.size === 0) {
      this.lastDist2 = Infinity;
      return -1;
    }
    this.ensureK(1);
    this.qx = x;
    this.qy = y;
    this.qz = z;
    this.k = 1;
    this.knnSearchFrom();
    this.lastDist2 = this.bestD[0];
    return this.idx[this.bestI[0]];
  }
  /** Squared distance of the last `nearest` / `nearestWithin` call (Infinity when none was found). */
  lastDist2 = Infinity;

  /**
   * Nearest neighbour within `maxDistM` (inclusive), or -1: the bound prunes the search from the start, which
   * makes far queries (ICP correspondences of a wrong hypothesis) cheap.
   */
  nearestWithin(x: number, y: number, z: number, maxDistM: number): number {
    if (!(maxDistM > 0)) {
      this.lastDist2 = Infinity;
      return -1;
    }
    return this.nearestWithinSq(x, y, z, maxDistM * maxDistM);
  }

  /**
   * `nearestWithin` with the bound given as a squared distance (inclusive). ICP passes the squared distance to
   * the previous iteration's match when that is smaller: the nearest point is no farther, so the search stays
   * exact and prunes almost everything outside the query's own leaf.
   */
  nearestWithinSq(x: number, y: number, z: number, r2: number): number {
    this.lastDist2 = Infinity;
    if (this.size === 0 || !(r2 > 0)) return -1;
    this.ensureK(1);
    this.qx = x;
    this.qy = y;
    this.qz = z;
    this.k = 1;
    this.knnSearchFrom(r2 * (1 + 1e-12)); // the search skips dist >= bound; keep dist == r2
    if (this.found === 0 || this.bestD[0] > r2) return -1;
    this.lastDist2 = this.bestD[0];
    return this.idx[this.bestI[0]];
  }

  /**
   * kNN for every query point (interleaved xyz), nearest first. Missing neighbours (fewer than k points, or a
   * non-finite query) are -1 / Infinity. Large batches run through a uniform grid (see `knnGrid`); the results
   * are exact either way, and equal to `knn` up to the order of equidistant points (on the grid path, of points
   * whose squared distances agree to about 1e-12 relative, far below the float32 coordinates' precision).
   */
  knnSearch(queries: Float32Array, k: number): { indices: Int32Array; distances2: Float32Array } {
    requireStride('queries', queries, 3);
    const n = queries.length / 3;
    if (this.size === 0 || k <= 0) {
      return { indices: new Int32Array(n * k).fill(-1), distances2: new Float32Array(n * k).fill(Infinity) };
    }
    const grid = n >= KdTree.gridMinQueries ? this.knnGrid(queries, k) : null;
    const indices = grid ? grid.indices : new Int32Array(n * k).fill(-1);
    const distances2 = grid ? grid.distances2 : new Float32Array(n * k).fill(Infinity);
    this.knnEach(queries, k, grid ? grid.done : null, indices, distances2);
    return { indices, distances2 };
  }

  /**
   * `knn` for each query not flagged in `done` (all when null), into the rows of outIdx / outD2. Its own method:
   * inlined into `knnSearch`, the loop was compiled on-stack and deoptimised on every call.
   */
  private knnEach(
    queries: Float32Array,
    k: number,
    done: Uint8Array | null,
    outIdx: Int32Array,
    outD2: Float32Array,
  ): void {
    const n = queries.length / 3;
    const ti = new Int32Array(k);
    const td = new Float64Array(k);
    for (let q = 0; q < n; q++) {
      if (done !== null && done[q] === 1) continue;
      const x = queries[3 * q];
      const y = queries[3 * q + 1];
      const z = queries[3 * q + 2];
      if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
      const f = this.knn(x, y, z, k, ti, td);
      for (let j = 0; j < f; j++) {
        outIdx[q * k + j] = ti[j];
        outD2[q * k + j] = td[j];
      }
    }
  }

  /** Batches below this size skip the grid (its set-up would cost more than it saves). */
  static gridMinQueries = 2048;

  /**
   * Batch kNN through a uniform grid, for large query sets (normals, outlier statistics: the cloud queried
   * against itself). The cell side s is a high quantile (95%) of the k-th neighbour distance, measured by the tree
   * on a sample of the queries. Points and queries are sorted by cell (x fastest, so a row of cells is one
   * contiguous range). Each query scans the nine rows of its cell's 3x3x3 block for its k nearest within s; no
   * point outside the block is nearer to it than s plus its distance to its own cell's faces, so when fewer than
   * k are found within s, a second scan within that larger radius is still exact. The query loop runs in
   * WebAssembly (wasm/knngrid.wat), about 1.5x faster than it ran over typed arrays. The rest (a few %: sparse
   * spots, and cells whose block holds too many points for a scan to pay, as in dense clusters) and queries
   * outside the grid are left to the tree. Returns the result rows, with per-query "done" flags (the rows of the
   * others are -1 / Infinity), or null when the grid would be too large for the cloud (a sparse surface in a big
   * box).
   */
  private knnGrid(
    queries: Float32Array,
    k: number,
  ): { indices: Int32Array; distances2: Float32Array; done: Uint8Array } | null {
    const nq = queries.length / 3;
    const m = this.size;
    // 1. cell size from the k-th neighbour distances of an evenly spaced sample of the queries
    const sampleN = Math.min(nq, 256);
    const rk = new Float64Array(sampleN);
    const ti = new Int32Array(k);
    const td = new Float64Array(k);
    let ns = 0;
    for (let j = 0; j < sampleN; j++) {
      const q = Math.floor((j * nq) / sampleN);
      const x = queries[3 * q];
      const y = queries[3 * q + 1];
      const z = queries[3 * q + 2];
      if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
      if (this.knn(x, y, z, k, ti, td) < k) return null; // fewer than k points in all
      rk[ns++] = td[k - 1];
    }
    if (ns < 16) return null;
    const sorted = rk.subarray(0, ns).sort();
    const s2 = sorted[Math.min(ns - 1, Math.floor(0.95 * ns))];
    if (!(s2 > 0)) return null; // duplicates: k copies of one point
    const c = Math.sqrt(s2);
    const [lx, ly, lz, hx, hy, hz] = this.box;
    const inv = 1 / c;
    const nx = Math.floor((hx - lx) * inv) + 1;
    const ny = Math.floor((hy - ly) * inv) + 1;
    const nz = Math.floor((hz - lz) * inv) + 1;
    const nCells = nx * ny * nz;
    if (!(nCells <= 8 * m + 65536)) return null;
    // 2. the arrays, in the memory of the WebAssembly query loop; the points sorted by cell
    // a block scan pays while it tests at most this many points per query (a kd-tree query costs a few hundred)
    const maxScan = 48 * k + 256;
    let batch: KnnGridBatch;
    try {
      batch = new KnnGridBatch(m, nCells, nq, k, maxScan);
    } catch {
      return null; // no memory for the batch's arrays: the tree answers each query
    }
    const { gx, gy, gz, gi, start } = batch;
    const grid: GridIndex = { gx, gy, gz, gi, start, nx, ny, nz, lx, ly, lz, inv };
    sortPointsByCell(this.data, this.idx, grid);
    // 3. the queries, sorted by cell, then the query loop (knngrid.wat)
    sortQueriesByCell(grid, queries, batch.order, batch.qStart);
    batch.queries.set(queries);
    batch.run({ nx, ny, nz, lx, ly, lz, c }, c * c * (1 - 1e-9));
    // rows the grid did not write: -1 / Infinity (the tree fills those of finite queries)
    const indices = batch.outIdx.slice();
    const distances2 = batch.outD2.slice();
    const done = batch.done.slice();
    for (let q = 0; q < nq; q++) {
      if (done[q] === 0) {
        indices.fill(-1, q * k, q * k + k);
        distances2.fill(Infinity, q * k, q * k + k);
      }
    }
    return { indices, distances2, done };
  }

  private radiusRec(node: number): void {
    const dim = this.nDim[node];
    if (dim === 3) {
      const d = this.data;
      const r2 = this.r2;
      const qx = this.qx;
      const qy = this.qy;
      const qz = this.qz;
      for (let i = this.nStart[node], e = this.nEnd[node], o = 3 * i; i < e; i++, o += 3) {
        const dx = d[o] - qx;
        const dy = d[o + 1] - qy;
        const dz = d[o + 2] - qz;
        const dist = dx * dx + dy * dy + dz * dz;
        if (dist <= r2) {
          this.radOut.push(this.idx[i]);
          if (this.radD2) this.radD2.push(dist);
        }
      }
      return;
    }
    const diff = (dim === 0 ? this.qx : dim === 1 ? this.qy : this.qz) - this.nSplit[node];
    if (diff <= 0) {
      this.radiusRec(node + 1);
      if (diff * diff <= this.r2) this.radiusRec(this.nRight[node]);
    } else {
      this.radiusRec(this.nRight[node]);
      if (diff * diff <= this.r2) this.radiusRec(node + 1);
    }
  }

  /**
   * Indices of all points within `radiusM` (inclusive) of (x, y, z), in no particular order. Pass `out` to reuse
   * an array (it is cleared) and `outDist2` to also receive squared distances.
   */
  radiusSearch(
    x: number,
    y: number,
    z: number,
    radiusM: number,
    out: number[] = [],
    outDist2?: number[],
  ): number[] {
    out.length = 0;
    if (outDist2) outDist2.length = 0;
    if (this.size === 0 || !(radiusM >= 0)) return out;
    this.qx = x;
    this.qy = y;
    this.qz = z;
    this.r2 = radiusM * radiusM;
    this.radOut = out;
    this.radD2 = outDist2 ?? null;
    this.radiusRec(0);
    this.radD2 = null;
    return out;
  }
}

/** A uniform grid over points sorted by cell (x fastest); `start[c]..start[c+1]` are cell c's points. */
interface GridIndex extends GridAxes {
  gx: Float64Array;
  gy: Float64Array;
  gz: Float64Array;
  /** original point index of each sorted point */
  gi: Int32Array;
  start: Int32Array;
  /** 1 / cell side */
  inv: number;
}

/** Cell of each point (the last cell of an axis also takes points on its upper bound). */
function cellIndex(g: GridIndex, x: number, y: number, z: number): number {
  const cx = Math.min(g.nx - 1, Math.floor((x - g.lx) * g.inv));
  const cy = Math.min(g.ny - 1, Math.floor((y - g.ly) * g.inv));
  const cz = Math.min(g.nz - 1, Math.floor((z - g.lz) * g.inv));
  return cx + g.nx * (cy + g.ny * cz);
}

/** Counting sort of the points (xyz `data`, original indices `idx`) into the grid's gx/gy/gz/gi and `start`. */
function sortPointsByCell(data: Float32Array, idx: Uint32Array, g: GridIndex): void {
  const m = idx.length;
  const nCells = g.nx * g.ny * g.nz;
  const start = g.start;
  const cellOf = new Int32Array(m);
  for (let i = 0, o = 0; i < m; i++, o += 3) {
    const cell = cellIndex(g, data[o], data[o + 1], data[o + 2]);
    cellOf[i] = cell;
    start[cell + 1]++;
  }
  for (let i = 0; i < nCells; i++) start[i + 1] += start[i];
  const fill = start.slice(0, nCells);
  for (let i = 0, o = 0; i < m; i++, o += 3) {
    const p = fill[cellOf[i]]++;
    g.gx[p] = data[o];
    g.gy[p] = data[o + 1];
    g.gz[p] = data[o + 2];
    g.gi[p] = idx[i];
  }
}

/**
 * Query ids sorted by cell (counting sort) into `order`, cell c's being order[qStart[c]..qStart[c+1]-1]. Queries
 * outside the grid (or NaN) are left out: the scanned block would not cover their neighbourhood; the tree takes
 * them.
 */
function sortQueriesByCell(g: GridIndex, queries: Float32Array, order: Int32Array, qStart: Int32Array): void {
  const { nx, ny, nz, lx, ly, lz, inv } = g;
  const nq = queries.length / 3;
  const nCells = nx * ny * nz;
  const qCell = new Int32Array(nq);
  for (let q = 0; q < nq; q++) {
    const fx = Math.floor((queries[3 * q] - lx) * inv);
    const fy = Math.floor((queries[3 * q + 1] - ly) * inv);
    const fz = Math.floor((queries[3 * q + 2] - lz) * inv);
    const inside = fx >= 0 && fx < nx && fy >= 0 && fy < ny && fz >= 0 && fz < nz;
    const cell = inside ? fx + nx * (fy + ny * fz) : -1;
    qCell[q] = cell;
    if (inside) qStart[cell + 1]++;
  }
  for (let i = 0; i < nCells; i++) qStart[i + 1] += qStart[i];
  const fill = qStart.slice(0, nCells);
  for (let q = 0; q < nq; q++) if (qCell[q] >= 0) order[fill[qCell[q]]++] = q;
}

/**
 * Copies the finite points of `points` to `data` (their indices to `idx`) and writes their bounds [lo xyz, hi xyz]
 * to `box`; returns how many. Its own function: inside the constructor the loop was compiled on-stack before the
 * rest of the constructor had type feedback, and V8 deoptimised the constructor on nearly every call.
 */
function copyFinite(points: Float32Array, idx: Uint32Array, data: Float32Array, box: Float64Array): number {
  let m = 0;
  let lx = Infinity,
    ly = Infinity,
    lz = Infinity,
    hx = -Infinity,
    hy = -Infinity,
    hz = -Infinity;
  const n = points.length / 3;
  for (let i = 0; i < n; i++) {
    const x = points[3 * i];
    const y = points[3 * i + 1];
    const z = points[3 * i + 2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    idx[m] = i;
    data[3 * m] = x;
    data[3 * m + 1] = y;
    data[3 * m + 2] = z;
    m++;
    if (x < lx) lx = x;
    if (x > hx) hx = x;
    if (y < ly) ly = y;
    if (y > hy) hy = y;
    if (z < lz) lz = z;
    if (z > hz) hz = z;
  }
  box[0] = lx;
  box[1] = ly;
  box[2] = lz;
  box[3] = hx;
  box[4] = hy;
  box[5] = hz;
  return m;
}

/**
 * Inserts (dist, id) into the ascending k-best list bd / bi holding `found` entries (the caller has checked that
 * dist beats the current k-th); returns the new count. Small enough for V8 to inline into the search loops.
 */
function insertKBest(
  bd: Float64Array,
  bi: Int32Array,
  found: number,
  k: number,
  dist: number,
  id: number,
): number {
  let j = found < k ? found++ : k - 1;
  while (j > 0 && bd[j - 1] > dist) {
    bd[j] = bd[j - 1];
    bi[j] = bi[j - 1];
    j--;
  }
  bd[j] = dist;
  bi[j] = id;
  return found;
}
