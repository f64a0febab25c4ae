import { GeometryInputError, requirePositive } from './errors';
import { KdTree } from './kdtree';
import { pointCount, type PointCloud } from './pointcloud';

/** Cluster labels per point (-1 = noise / dropped) and the member indices of each cluster, largest first. */
export interface ClusterResult {
  labels: Int32Array;
  clusters: Uint32Array[];
}

/** Cluster sizes and first member of each label (labels < 0 are unassigned). */
function countLabels(labels: Int32Array, sizes: Int32Array, first: Int32Array): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0) continue;
    if (sizes[l]++ === 0) first[l] = i;
  }
}

/** Relabels through `remap` and writes each kept cluster's members to `flat` from `fill[j]` on. */
function scatterMembers(labels: Int32Array, remap: Int32Array, flat: Uint32Array, fill: Int32Array): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0) continue;
    const j = remap[l];
    labels[i] = j;
    if (j >= 0) flat[fill[j]++] = i;
  }
}

// The point loops are small functions of their own: inside one larger function V8 compiled them on-stack before
// the rest had type feedback and deoptimised `finalize` about twice per call.
function finalize(labels: Int32Array, count: number, minPoints: number, maxPoints: number): ClusterResult {
  // member lists by counting (typed arrays, no per-point pushes): one buffer, a view per cluster
  const sizes = new Int32Array(count);
  const first = new Int32Array(count).fill(-1);
  countLabels(labels, sizes, first);
  const kept: number[] = [];
  for (let id = 0; id < count; id++) if (sizes[id] >= minPoints && sizes[id] <= maxPoints) kept.push(id);
  kept.sort((a, b) => sizes[b] - sizes[a] || first[a] - first[b]);
  const remap = new Int32Array(count).fill(-1);
  const start = new Int32Array(kept.length + 1);
  for (let j = 0; j < kept.length; j++) {
    remap[kept[j]] = j;
    start[j + 1] = start[j] + sizes[kept[j]];
  }
  const flat = new Uint32Array(start[kept.length]);
  const fill = start.slice(0, kept.length);
  scatterMembers(labels, remap, flat, fill);
  const clusters = kept.map((_, j) => flat.subarray(start[j], start[j + 1]));
  return { labels, clusters };
}

export interface EuclideanClusterOptions {
  /** Clusters with fewer points are dropped (labelled -1). Default 1. */
  minPoints?: number;
  /** Clusters with more points are dropped. Default Infinity. */
  maxPoints?: number;
  tree?: KdTree;
}

/**
 * Euclidean cluster extraction (PCL style): connected components of the graph linking points closer than
 * `toleranceM`. Equivalent to DBSCAN with minPoints = 1.
 */
export function euclideanClustering(
  cloud: PointCloud,
  toleranceM: number,
  options: EuclideanClusterOptions = {},
): ClusterResult {
  requirePositive('toleranceM', toleranceM);
  const n = pointCount(cloud);
  const tree = options.tree ?? new KdTree(cloud.points);
  const p = cloud.points;
  const labels = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const buf: number[] = [];
  let count = 0;
  for (let s = 0; s < n; s++) {
    if (labels[s] >= 0 || !(p[3 * s] - p[3 * s] === 0)) continue;
    labels[s] = count;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    while (head < tail) {
      const i = queue[head++];
      tree.radiusSearch(p[3 * i], p[3 * i + 1], p[3 * i + 2], toleranceM, buf);
      for (const j of buf) {
        if (labels[j] < 0) {
          labels[j] = count;
          queue[tail++] = j;
        }
      }
    }
    count++;
  }
  return finalize(labels, count, options.minPoints ?? 1, options.maxPoints ?? Infinity);
}

/**
 * DBSCAN (as Open3D `cluster_dbscan`): core points have at least `minPoints` neighbours (itself included)
 * within `epsM`; clusters grow through core points; border points join the first cluster reaching them;
 * the rest is noise (-1).
 */
export function dbscan(cloud: PointCloud, epsM: number, minPoints: number, tree?: KdTree): ClusterResult {
  requirePositive('epsM', epsM);
  if (!(minPoints >= 1)) throw new GeometryInputError('minPoints', `must be >= 1, got ${minPoints}`);
  const n = pointCount(cloud);
  const t = tree ?? new KdTree(cloud.points);
  const p = cloud.points;
  const UNVISITED = -2;
  const labels = new Int32Array(n).fill(UNVISITED);
  const buf: number[] = [];
  const stack: number[] = [];
  let count = 0;
  for (let s = 0; s < n; s++) {
    if (labels[s] !== UNVISITED) continue;
    if (!(p[3 * s] - p[3 * s] === 0)) {
      labels[s] = -1;
      continue;
    }
    t.radiusSearch(p[3 * s], p[3 * s + 1], p[3 * s + 2], epsM, buf);
    if (buf.length < minPoints) {
      labels[s] = -1;
      continue;
    }
    const c = count++;
    labels[s] = c;
    stack.length = 0;
    for (const j of buf) if (j !== s) stack.push(j);
    while (stack.length) {
      const i = stack.pop()!;
      if (labels[i] === -1) labels[i] = c; // border point previously marked noise
      if (labels[i] !== UNVISITED) continue;
      labels[i] = c;
      t.radiusSearch(p[3 * i], p[3 * i + 1], p[3 * i + 2], epsM, buf);
      if (buf.length >= minPoints)
        for (const j of buf) if (labels[j] === UNVISITED || labels[j] === -1) stack.push(j);
    }
  }
  for (let i = 0; i < n; i++) if (labels[i] === UNVISITED) labels[i] = -1;
  return finalize(labels, count, 1, Infinity);
}

export interface OrganizedClusterOptions {
  /** Neighbouring pixels join when their 3D distance is below absToleranceM + relTolerance * depth. */
  absToleranceM?: number;
  /** Depth-proportional part of the tolerance (default 0.02, i.e. 2 cm at 1 m). */
  relTolerance?: number;
  minPoints?: number;
  /**
   * Pixels up to this far apart (Chebyshev) may connect, with the gate scaled by the offset: bridges the holes of
   * sparse or speckled depth (dark surfaces, sensor dropouts). Default 1 (8-connectivity forward half).
   */
  gapPx?: number;
}

/**
 * Connected components of an organised cloud (w*h points, NaN = invalid) over the 4-neighbour pixel grid, with
 * a 3D distance gate between neighbours: O(pixels), the fast path for lifted masks.
 */
export function organizedClustering(cloud: PointCloud, options: OrganizedClusterOptions = {}): ClusterResult {
  const w = cloud.width;
  const h = cloud.height;
  if (!w || !h || w * h * 3 !== cloud.points.length) {
    throw new GeometryInputError(
      'cloud',
      'must be organised (width*height points); use depthToPointCloud({organized: true})',
    );
  }
  const abs = options.absToleranceM ?? 0.005;
  const rel = options.relTolerance ?? 0.02;
  const p = cloud.points;
  const n = w * h;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const isValid = new Uint8Array(n);
  for (let i = 0; i < n; i++) isValid[i] = p[3 * i + 2] - p[3 * i + 2] === 0 ? 1 : 0;
  const valid = (i: number) => isValid[i] === 1;
  // adjacent pixels: 3D distance within the gate; pixels `steps` apart (across holes): depth difference within
  // the gate grown by half per extra step (their lateral gap is bounded by the window)
  const close = (i: number, j: number, steps: number) => {
    const tol = abs + rel * p[3 * i + 2];
    const dz = p[3 * i + 2] - p[3 * j + 2];
    if (steps > 1) return Math.abs(dz) <= tol * (1 + 0.5 * (steps - 1));
    const dx = p[3 * i] - p[3 * j];
    const dy = p[3 * i + 1] - p[3 * j + 1];
    return dx * dx + dy * dy + dz * dz <= tol * tol;
  };
  const gap = Math.max(1, Math.floor(options.gapPx ?? 1));
  // links b's set to the set whose root is ra; returns the merged root (the smaller index)
  const unionRoot = (ra: number, b: number): number => {
    const rb = find(b);
    if (ra === rb) return ra;
    if (ra < rb) {
      parent[rb] = ra;
      return ra;
    }
    parent[ra] = rb;
    return rb;
  };
  for (let v = 0; v < h; v++) {
    for (let u = 0; u < w; u++) {
      const i = v * w + u;
      if (!valid(i)) continue;
      // forward half of the 3x3 neighbourhood; pixels next to a hole also search the (2*gap+1)^2 window
      let holey = false;
      if (gap > 1) {
        if (u === 0 || v === 0 || u === w - 1 || v === h - 1) holey = true;
        else {
          const a = i - w;
          const b = i + w;
          holey =
            (isValid[a - 1] &
              isValid[a] &
              isValid[a + 1] &
              isValid[i - 1] &
              isValid[i + 1] &
              isValid[b - 1] &
              isValid[b] &
              isValid[b + 1]) ===
            0;
        }
      }
      let ri = -1; // root of i, found once per pixel
      if (gap > 1 && !holey) {
        // not at the border and all 8 neighbours valid (the common case): the forward half (right, below-left,
        // below, below-right) with the 3D gate inlined
        const xi = p[3 * i];
        const yi = p[3 * i + 1];
        const zi = p[3 * i + 2];
        const tol = abs + rel * zi;
        const tol2 = tol * tol;
        for (let t = 0; t < 4; t++) {
          const j = t === 0 ? i + 1 : i + w + t - 2;
          const o = 3 * j;
          const dx = xi - p[o];
          const dy = yi - p[o + 1];
          const dz = zi - p[o + 2];
          if (dx * dx + dy * dy + dz * dz <= tol2) {
            if (ri < 0) ri = find(i);
            ri = unionRoot(ri, j);
          }
        }
        continue;
      }
      const reach = holey ? gap : 1;
      for (let dv = 0; dv <= reach && v + dv < h; dv++) {
        for (let du = dv === 0 ? 1 : -reach; du <= reach; du++) {
          const uu = u + du;
          if (uu < 0 || uu >= w) continue;
          const j = i + dv * w + du;
          if (valid(j) && close(i, j, Math.max(Math.abs(du), dv))) {
            if (ri < 0) ri = find(i);
            ri = unionRoot(ri, j);
          }
        }
      }
    }
  }
  const labels = new Int32Array(n).fill(-1);
  const rootLabel = new Int32Array(n).fill(-1);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!valid(i)) continue;
    const r = find(i);
    if (rootLabel[r] < 0) rootLabel[r] = count++;
    labels[i] = rootLabel[r];
  }
  return finalize(labels, count, options.minPoints ?? 1, Infinity);
}
