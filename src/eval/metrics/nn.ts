/**
 * Minimal exact nearest-neighbour index (static balanced k-d tree, median splits on the widest axis, leaves
 * of up to 8 points), used by ADD-S (bop_toolkit `adi` uses scipy cKDTree). Kept deliberately small and
 * local; switch to src/geometry's KdTree once that module is committed (same contract: exact Euclidean
 * nearest distance).
 */

const LEAF = 8;

/** Static k-d tree over interleaved xyz points. */
export interface NnIndex {
  /** Points reordered so that every tree node covers a contiguous range. */
  readonly sorted: Float64Array;
  /** Split axis (0..2) and value per heap-indexed node (root = 1, children 2k and 2k+1). */
  readonly axes: Uint8Array;
  readonly splits: Float64Array;
  readonly n: number;
}

/** Builds the index in O(n log n). */
export function buildNnIndex(pointsIn: ArrayLike<number>): NnIndex {
  const n = Math.floor(pointsIn.length / 3);
  const points = Float64Array.from(pointsIn);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const size = 4 * Math.ceil(n / LEAF) + 4;
  const axes = new Uint8Array(size);
  const splits = new Float64Array(size);
  const key = (i: number, axis: number) => points[3 * perm[i] + axis];
  const swap = (i: number, j: number) => {
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  };
  // Quickselect: after it, perm[lo..k) <= perm[k] <= perm[k+1..hi) along `axis`.
  const select = (lo: number, hi: number, k: number, axis: number) => {
    let l = lo;
    let h = hi - 1;
    while (h > l) {
      const pivot = key((l + h) >> 1, axis);
      let i = l;
      let j = h;
      while (i <= j) {
        while (key(i, axis) < pivot) i++;
        while (key(j, axis) > pivot) j--;
        if (i <= j) swap(i++, j--);
      }
      if (k <= j) h = j;
      else if (k >= i) l = i;
      else break;
    }
  };
  const build = (node: number, lo: number, hi: number) => {
    if (hi - lo <= LEAF) return;
    const mn = [Infinity, Infinity, Infinity];
    const mx = [-Infinity, -Infinity, -Infinity];
    for (let i = lo; i < hi; i++) {
      for (let a = 0; a < 3; a++) {
        const v = key(i, a);
        if (v < mn[a]) mn[a] = v;
        if (v > mx[a]) mx[a] = v;
      }
    }
    const ext = [mx[0] - mn[0], mx[1] - mn[1], mx[2] - mn[2]];
    const axis = ext[0] >= ext[1] && ext[0] >= ext[2] ? 0 : ext[1] >= ext[2] ? 1 : 2;
    const mid = (lo + hi) >> 1;
    select(lo, hi, mid, axis);
    axes[node] = axis;
    splits[node] = key(mid, axis);
    build(2 * node, lo, mid);
    build(2 * node + 1, mid, hi);
  };
  build(1, 0, n);
  const sorted = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    sorted[3 * i] = points[3 * perm[i]];
    sorted[3 * i + 1] = points[3 * perm[i] + 1];
    sorted[3 * i + 2] = points[3 * perm[i] + 2];
  }
  return { sorted, axes, splits, n };
}

// Scratch stack shared by queries (single-threaded; depth <= log2(n / LEAF) + 1 < 64).
const STACK_I = new Int32Array(3 * 64);
const STACK_B = new Float64Array(64);

/** Exact distance from (x, y, z) to the nearest indexed point (Infinity for an empty index). */
export function nearestDistance(index: NnIndex, x: number, y: number, z: number): number {
  const { sorted, axes, splits } = index;
  // Explicit stack of (node, lo, hi, lower bound^2 of the distance to that subtree's half-space).
  const stackI = STACK_I;
  const stackB = STACK_B;
  let sp = 0;
  stackI[0] = 1;
  stackI[1] = 0;
  stackI[2] = index.n;
  stackB[0] = 0;
  sp = 1;
  let best2 = Infinity;
  while (sp > 0) {
    sp--;
    if (stackB[sp] >= best2) continue;
    let node = stackI[3 * sp];
    let lo = stackI[3 * sp + 1];
    let hi = stackI[3 * sp + 2];
    // Descend to the leaf on the query's side, deferring the far children.
    while (hi - lo > LEAF) {
      const mid = (lo + hi) >> 1;
      const a = axes[node];
      const diff = (a === 0 ? x : a === 1 ? y : z) - splits[node];
      const d2 = diff * diff;
      if (diff < 0) {
        if (d2 < best2) {
          stackI[3 * sp] = 2 * node + 1;
          stackI[3 * sp + 1] = mid;
          stackI[3 * sp + 2] = hi;
          stackB[sp++] = d2;
        }
        node = 2 * node;
        hi = mid;
      } else {
        if (d2 < best2) {
          stackI[3 * sp] = 2 * node;
          stackI[3 * sp + 1] = lo;
          stackI[3 * sp + 2] = mid;
          stackB[sp++] = d2;
        }
        node = 2 * node + 1;
        lo = mid;
      }
    }
    for (let i = lo; i < hi; i++) {
      const dx = sorted[3 * i] - x;
      const dy = sorted[3 * i + 1] - y;
      const dz = sorted[3 * i + 2] - z;
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 < best2) best2 = d2;
    }
  }
  return Math.sqrt(best2);
}

const indexCache = new WeakMap<object, NnIndex>();

/**
 * Index of a model's points, built once per points array and cached (WeakMap keyed by the array object):
 * ADD-S queries transformed points against the untransformed model (distances are rigid-invariant).
 */
export function cachedNnIndex(pointsM: ArrayLike<number>): NnIndex {
  let idx = indexCache.get(pointsM as object);
  if (!idx) {
    idx = buildNnIndex(pointsM);
    indexCache.set(pointsM as object, idx);
  }
  return idx;
}
