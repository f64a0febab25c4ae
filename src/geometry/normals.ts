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
  const ti = new Int32Array(Math.max(k, maxNb));
  const td = new Float64Array(Math.max(k, maxNb));
  const radBuf: number[] = [];
  const cov = new Float64Array(9);
  const eig = { values: new Float64Array(3), vectors: new Float64Array(9) };
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
      m = tree.knn(x, y, z, k, ti, td);
      nb = ti;
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
