import { GeometryInputError, requireStride } from './errors';

/**
 * Static 3D kd-tree over interleaved xyz (Float32Array), built once by median splits on the axis of largest
 * spread. Points are copied into leaf order for cache-friendly scans; all results use the caller's indices.
 * Non-finite points are skipped (never returned).
 */
export class KdTree {
  /** Number of indexed (finite) points. */
  readonly size: number;
  private readonly data: Float32Array;
  private readonly idx: Uint32Array;
  private readonly nStart: Int32Array;
  private readonly nEnd: Int32Array;
  private readonly nDim: Uint8Array;
  private readonly nSplit: Float64Array;
  private readonly nLeft: Int32Array;
  private readonly nRight: Int32Array;
  private nodeCount = 0;
  private readonly leafSize: number;
  // query state (avoids closures in the hot recursion)
  private qx = 0;
  private qy = 0;
  private qz = 0;
  private k = 0;
  private found = 0;
  private bestD = new Float64Array(16);
  private bestI = new Int32Array(16);
  private r2 = 0;
  private readonly off = new Float64Array(3);
  private radOut: number[] = [];
  private radD2: number[] | null = null;

  /** Builds the tree; `leafSize` points per leaf (default 10). */
  constructor(points: Float32Array, leafSize = 10) {
    requireStride('points', points, 3);
    if (!(leafSize >= 1)) throw new GeometryInputError('leafSize', `must be >= 1, got ${leafSize}`);
    this.leafSize = Math.floor(leafSize);
    const n = points.length / 3;
    let m = 0;
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const x = points[3 * i];
      const y = points[3 * i + 1];
      const z = points[3 * i + 2];
      if (x - x === 0 && y - y === 0 && z - z === 0) idx[m++] = i;
    }
    this.idx = idx.slice(0, m);
    this.size = m;
    const maxNodes = 2 * Math.ceil(m / Math.max(1, Math.floor(this.leafSize / 2))) + 3;
    this.nStart = new Int32Array(maxNodes);
    this.nEnd = new Int32Array(maxNodes);
    this.nDim = new Uint8Array(maxNodes);
    this.nSplit = new Float64Array(maxNodes);
    this.nLeft = new Int32Array(maxNodes);
    this.nRight = new Int32Array(maxNodes);
    if (m > 0) this.build(points, 0, m);
    const data = new Float32Array(3 * m);
    for (let i = 0; i < m; i++) {
      const j = this.idx[i] * 3;
      data[3 * i] = points[j];
      data[3 * i + 1] = points[j + 1];
      data[3 * i + 2] = points[j + 2];
    }
    this.data = data;
  }

  private build(
    p: Float32Array,
    start: number,
    end: number,
    lo: Float64Array = this.rootBounds(p, true),
    hi: Float64Array = this.rootBounds(p, false),
  ): number {
    const node = this.nodeCount++;
    this.nStart[node] = start;
    this.nEnd[node] = end;
    if (end - start <= this.leafSize) {
      this.nLeft[node] = -1;
      this.nRight[node] = -1;
      return node;
    }
    // split the widest side of the node's cell (bounds inherited from the parents: no per-node scan)
    const sx = hi[0] - lo[0];
    const sy = hi[1] - lo[1];
    const sz = hi[2] - lo[2];
    const dim = sx >= sy && sx >= sz ? 0 : sy >= sz ? 1 : 2;
    const mid = (start + end) >> 1;
    this.select(p, start, end - 1, mid, dim);
    const split = p[this.idx[mid] * 3 + dim];
    this.nDim[node] = dim;
    this.nSplit[node] = split;
    const hiL = new Float64Array(hi);
    hiL[dim] = split;
    const loR = new Float64Array(lo);
    loR[dim] = split;
    const l = this.build(p, start, mid, lo, hiL);
    const r = this.build(p, mid, end, loR, hi);
    this.nLeft[node] = l;
    this.nRight[node] = r;
    return node;
  }

  private rootBounds(p: Float32Array, lower: boolean): Float64Array {
    const b = new Float64Array(3).fill(lower ? Infinity : -Infinity);
    for (let i = 0; i < this.size; i++) {
      const j = this.idx[i] * 3;
      for (let k = 0; k < 3; k++) {
        const v = p[j + k];
        if (lower ? v < b[k] : v > b[k]) b[k] = v;
      }
    }
    return b;
  }

  /** Quickselect on idx[lo..hi] so that idx[k] holds the k-th smallest coordinate along dim. */
  private select(p: Float32Array, lo: number, hi: number, k: number, dim: number): void {
    const idx = this.idx;
    while (hi > lo) {
      // median of three pivot
      const mid = (lo + hi) >> 1;
      const a = p[idx[lo] * 3 + dim];
      const b = p[idx[mid] * 3 + dim];
      const c = p[idx[hi] * 3 + dim];
      const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (p[idx[i] * 3 + dim] < pivot) i++;
        while (p[idx[j] * 3 + dim] > pivot) j--;
        if (i <= j) {
          const t = idx[i];
          idx[i] = idx[j];
          idx[j] = t;
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

  private knnRec(node: number, rd: number): void {
    const left = this.nLeft[node];
    if (left < 0) {
      const d = this.data;
      const k = this.k;
      const bd = this.bestD;
      const bi = this.bestI;
      const qx = this.qx;
      const qy = this.qy;
      const qz = this.qz;
      let found = this.found;
      let worst = found < k ? Infinity : bd[k - 1];
      for (let i = this.nStart[node], e = this.nEnd[node]; i < e; i++) {
        const o = 3 * i;
        const dx = d[o] - qx;
        const dy = d[o + 1] - qy;
        const dz = d[o + 2] - qz;
        const dist = dx * dx + dy * dy + dz * dz;
        if (dist >= worst) continue;
        let j = found < k ? found++ : k - 1;
        while (j > 0 && bd[j - 1] > dist) {
          bd[j] = bd[j - 1];
          bi[j] = bi[j - 1];
          j--;
        }
        bd[j] = dist;
        bi[j] = i;
        if (found === k) worst = bd[k - 1];
      }
      this.found = found;
      return;
    }
    // incremental cell distance (Arya & Mount): rd is the squared distance from the query to this node's cell
    const dim = this.nDim[node];
    const diff = (dim === 0 ? this.qx : dim === 1 ? this.qy : this.qz) - this.nSplit[node];
    const right = this.nRight[node];
    const off = this.off;
    const old = off[dim];
    const rdFar = rd - old + diff * diff;
    if (diff < 0) {
      this.knnRec(left, rd);
      if (this.found < this.k || rdFar < this.bestD[this.k - 1]) {
        off[dim] = diff * diff;
        this.knnRec(right, rdFar);
        off[dim] = old;
      }
    } else {
      this.knnRec(right, rd);
      if (this.found < this.k || rdFar < this.bestD[this.k - 1]) {
        off[dim] = diff * diff;
        this.knnRec(left, rdFar);
        off[dim] = old;
      }
    }
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
    this.found = 0;
    this.off[0] = this.off[1] = this.off[2] = 0;
    this.knnRec(0, 0);
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
    this.found = 0;
    this.off[0] = this.off[1] = this.off[2] = 0;
    this.knnRec(0, 0);
    this.lastDist2 = this.bestD[0];
    return this.idx[this.bestI[0]];
  }
  /** Squared distance of the last `nearest` call. */
  lastDist2 = Infinity;

  /** kNN for every query point (interleaved xyz). Missing neighbours are -1 / Infinity. */
  knnSearch(queries: Float32Array, k: number): { indices: Int32Array; distances2: Float32Array } {
    requireStride('queries', queries, 3);
    const n = queries.length / 3;
    const indices = new Int32Array(n * k).fill(-1);
    const distances2 = new Float32Array(n * k).fill(Infinity);
    const ti = new Int32Array(k);
    const td = new Float64Array(k);
    for (let q = 0; q < n; q++) {
      const f = this.knn(queries[3 * q], queries[3 * q + 1], queries[3 * q + 2], k, ti, td);
      for (let j = 0; j < f; j++) {
        indices[q * k + j] = ti[j];
        distances2[q * k + j] = td[j];
      }
    }
    return { indices, distances2 };
  }

  private radiusRec(node: number): void {
    const left = this.nLeft[node];
    if (left < 0) {
      const d = this.data;
      const r2 = this.r2;
      for (let i = this.nStart[node], e = this.nEnd[node]; i < e; i++) {
        const dx = d[3 * i] - this.qx;
        const dy = d[3 * i + 1] - this.qy;
        const dz = d[3 * i + 2] - this.qz;
        const dist = dx * dx + dy * dy + dz * dz;
        if (dist <= r2) {
          this.radOut.push(this.idx[i]);
          if (this.radD2) this.radD2.push(dist);
        }
      }
      return;
    }
    const dim = this.nDim[node];
    const diff = (dim === 0 ? this.qx : dim === 1 ? this.qy : this.qz) - this.nSplit[node];
    if (diff <= 0) {
      this.radiusRec(left);
      if (diff * diff <= this.r2) this.radiusRec(this.nRight[node]);
    } else {
      this.radiusRec(this.nRight[node]);
      if (diff * diff <= this.r2) this.radiusRec(left);
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
