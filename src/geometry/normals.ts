import { GeometryInputError } from './errors';
import { KdTree } from './kdtree';
import { symmetricEigen } from './linalg';
import { computeCentroid, pointCount, type PointCloud } from './pointcloud';

export interface NormalOptions {
  /** Neighbours used for the local PCA (default 20). Ignored when radiusM is set. */
  k?: number;
  /** Use all neighbours within this radius instead of kNN (capped at maxNeighbors). */
  radiusM?: number;
  /** Cap for radius neighbourhoods (default 60, nearest kept). */
  maxNeighbors?: number;
  /** Normals are flipped to face this point (default: camera origin [0, 0, 0]). */
  viewpoint?: ArrayLike<number>;
  /** Orient away from the centroid instead (closed object models). */
  orientOutward?: boolean;
  /** Reuse a tree built over cloud.points. */
  tree?: KdTree;
  /** When given (length n), receives the surface variation λ0 / (λ0 + λ1 + λ2) of each neighbourhood (0 = flat). */
  curvatureOut?: Float32Array;
}

/**
 * Normals by local PCA: the eigenvector of the smallest eigenvalue of each neighbourhood covariance, oriented
 * towards the viewpoint (the camera) or outwards from the centroid. Points with fewer than 3 neighbours (or
 * non-finite points) get NaN normals.
 */
export function estimateNormals(cloud: PointCloud, options: NormalOptions = {}): Float32Array {
  const n = pointCount(cloud);
  const k = Math.floor(options.k ?? 20);
  if (options.radiusM === undefined && k < 3)
    throw new GeometryInputError('options.k', `must be >= 3, got ${k}`);
  const tree = options.tree ?? new KdTree(cloud.points);
  const p = cloud.points;
  const out = new Float32Array(3 * n).fill(NaN);
  const vp = options.viewpoint ?? [0, 0, 0];
  const centroid = options.orientOutward ? computeCentroid(p) : null;
  const maxNb = options.maxNeighbors ?? 60;
  const ti = new Int32Array(maxNb);
  const radBuf: number[] = [];
  const cov = new Float64Array(9);
  const eig = { values: new Float64Array(3), vectors: new Float64Array(9) };
  // k-nearest mode: one batch query of the cloud against its own tree (the grid path for large clouds)
  const batch = options.radiusM === undefined ? tree.knnSearch(p, k).indices : null;
  for (let i = 0; i < n; i++) {
    const x = p[3 * i];
    const y = p[3 * i + 1];
    const z = p[3 * i + 2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    let m: number;
    let nb: ArrayLike<number>;
    if (options.radiusM !== undefined) {
      tree.radiusSearch(x, y, z, options.radiusM, radBuf);
      if (radBuf.length > maxNb) {
        m = tree.knn(x, y, z, maxNb, ti);
        nb = ti;
      } else {
        m = radBuf.length;
        nb = radBuf;
      }
    } else {
      m = 0;
      while (m < k && batch![i * k + m] >= 0) m++;
      nb = batch!.subarray(i * k, i * k + m);
    }
    if (m < 3) continue;
    let mx = 0,
      my = 0,
      mz = 0;
    for (let j = 0; j < m; j++) {
      const q = nb[j] * 3;
      mx += p[q];
      my += p[q + 1];
      mz += p[q + 2];
    }
    mx /= m;
    my /= m;
    mz /= m;
    let xx = 0,
      xy = 0,
      xz = 0,
      yy = 0,
      yz = 0,
      zz = 0;
    for (let j = 0; j < m; j++) {
      const q = nb[j] * 3;
      const dx = p[q] - mx;
      const dy = p[q + 1] - my;
      const dz = p[q + 2] - mz;
      xx += dx * dx;
      xy += dx * dy;
      xz += dx * dz;
      yy += dy * dy;
      yz += dy * dz;
      zz += dz * dz;
    }
    cov[0] = xx;
    cov[1] = xy;
    cov[2] = xz;
    cov[3] = xy;
    cov[4] = yy;
    cov[5] = yz;
    cov[6] = xz;
    cov[7] = yz;
    cov[8] = zz;
    symmetricEigen(cov, 3, eig);
    if (options.curvatureOut) {
      const sum = eig.values[0] + eig.values[1] + eig.values[2];
      options.curvatureOut[i] = sum > 0 ? Math.max(0, eig.values[0]) / sum : 0;
    }
    const v = eig.vectors;
    let nx = v[0];
    let ny = v[3];
    let nz = v[6];
    const ox = centroid ? x - centroid[0] : vp[0] - x;
    const oy = centroid ? y - centroid[1] : vp[1] - y;
    const oz = centroid ? z - centroid[2] : vp[2] - z;
    if (nx * ox + ny * oy + nz * oz < 0) {
      nx = -nx;
      ny = -ny;
      nz = -nz;
    }
    out[3 * i] = nx;
    out[3 * i + 1] = ny;
    out[3 * i + 2] = nz;
  }
  return out;
}

/**
 * Consistent normal orientation over a closed surface (Hoppe et al. 1992, as Open3D
 * `orient_normals_consistent_tangent_plane`): the point farthest from the centroid is oriented outwards, then
 * orientation propagates along a minimum spanning tree of the kNN graph with edge cost 1 - |n_i · n_j|.
 * Right for non-convex models where "away from the centroid" is wrong. Returns a new array.
 */
export function orientNormalsConsistent(
  points: Float32Array,
  normals: Float32Array,
  k = 10,
  tree: KdTree = new KdTree(points),
): Float32Array {
  const n = points.length / 3;
  if (normals.length !== points.length) {
    throw new GeometryInputError(
      'normals',
      `length ${normals.length} must equal points length ${points.length}`,
    );
  }
  const out = new Float32Array(normals);
  const c = computeCentroid(points);
  const visited = new Uint8Array(n);
  const valid = (i: number) => out[3 * i] - out[3 * i] === 0 && points[3 * i] - points[3 * i] === 0;
  // binary min-heap of edges (cost, to, from)
  const hc: number[] = [];
  const ht: number[] = [];
  const hf: number[] = [];
  const push = (cost: number, to: number, from: number) => {
    let i = hc.length;
    hc.push(cost);
    ht.push(to);
    hf.push(from);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (hc[p] <= hc[i]) break;
      [hc[p], hc[i]] = [hc[i], hc[p]];
      [ht[p], ht[i]] = [ht[i], ht[p]];
      [hf[p], hf[i]] = [hf[i], hf[p]];
      i = p;
    }
  };
  const pop = (): [number, number] => {
    const to = ht[0];
    const from = hf[0];
    const lc = hc.pop()!;
    const lt = ht.pop()!;
    const lf = hf.pop()!;
    if (hc.length) {
      hc[0] = lc;
      ht[0] = lt;
      hf[0] = lf;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < hc.length && hc[l] < hc[m]) m = l;
        if (r < hc.length && hc[r] < hc[m]) m = r;
        if (m === i) break;
        [hc[m], hc[i]] = [hc[i], hc[m]];
        [ht[m], ht[i]] = [ht[i], ht[m]];
        [hf[m], hf[i]] = [hf[i], hf[m]];
        i = m;
      }
    }
    return [to, from];
  };
  const ti = new Int32Array(k + 1);
  const expand = (i: number) => {
    const f = tree.knn(points[3 * i], points[3 * i + 1], points[3 * i + 2], k + 1, ti);
    for (let a = 0; a < f; a++) {
      const j = ti[a];
      if (visited[j] || !valid(j)) continue;
      const d = out[3 * i] * out[3 * j] + out[3 * i + 1] * out[3 * j + 1] + out[3 * i + 2] * out[3 * j + 2];
      push(1 - Math.abs(d), j, i);
    }
  };
  for (;;) {
    // seed: farthest unvisited valid point from the centroid, oriented outwards
    let seed = -1;
    let far = -1;
    for (let i = 0; i < n; i++) {
      if (visited[i] || !valid(i)) continue;
      const d =
        (points[3 * i] - c[0]) ** 2 + (points[3 * i + 1] - c[1]) ** 2 + (points[3 * i + 2] - c[2]) ** 2;
      if (d > far) {
        far = d;
        seed = i;
      }
    }
    if (seed < 0) break;
    const dot =
      out[3 * seed] * (points[3 * seed] - c[0]) +
      out[3 * seed + 1] * (points[3 * seed + 1] - c[1]) +
      out[3 * seed + 2] * (points[3 * seed + 2] - c[2]);
    if (dot < 0) for (let k2 = 0; k2 < 3; k2++) out[3 * seed + k2] = -out[3 * seed + k2];
    visited[seed] = 1;
    expand(seed);
    while (hc.length) {
      const [j, i] = pop();
      if (visited[j]) continue;
      const d = out[3 * i] * out[3 * j] + out[3 * i + 1] * out[3 * j + 1] + out[3 * i + 2] * out[3 * j + 2];
      if (d < 0) for (let k2 = 0; k2 < 3; k2++) out[3 * j + k2] = -out[3 * j + k2];
      visited[j] = 1;
      expand(j);
    }
  }
  return out;
}
