import { GeometryInputError, requirePositive } from './errors';
import { symmetricEigen } from './linalg';
import { pointCount, type PointCloud } from './pointcloud';
import { SeededRng } from './rng';

/** Plane n·p + d = 0 with unit normal n. */
export interface Plane {
  normal: Float64Array;
  d: number;
}

export interface SegmentPlaneOptions {
  /** Inlier distance to the plane, metres. */
  distanceThresholdM: number;
  /** Default 1000 (adaptive, confidence 0.999). */
  maxIterations?: number;
  seed?: number;
  /** Orient the normal towards this point (default: camera origin). */
  viewpoint?: ArrayLike<number>;
}

/** Least-squares plane through the given point indices (PCA); normal oriented towards the viewpoint. */
export function fitPlane(
  points: ArrayLike<number>,
  indices: ArrayLike<number>,
  viewpoint: ArrayLike<number> = [0, 0, 0],
): Plane | null {
  const n = indices.length;
  if (n < 3) return null;
  let mx = 0,
    my = 0,
    mz = 0;
  for (let k = 0; k < n; k++) {
    const i = indices[k] * 3;
    mx += points[i];
    my += points[i + 1];
    mz += points[i + 2];
  }
  mx /= n;
  my /= n;
  mz /= n;
  const c = new Float64Array(9);
  for (let k = 0; k < n; k++) {
    const i = indices[k] * 3;
    const x = points[i] - mx;
    const y = points[i + 1] - my;
    const z = points[i + 2] - mz;
    c[0] += x * x;
    c[1] += x * y;
    c[2] += x * z;
    c[4] += y * y;
    c[5] += y * z;
    c[8] += z * z;
  }
  c[3] = c[1];
  c[6] = c[2];
  c[7] = c[5];
  const { values, vectors } = symmetricEigen(c, 3);
  if (!(values[1] > 1e-12 * (values[2] || 1))) return null; // colinear
  const normal = new Float64Array([vectors[0], vectors[3], vectors[6]]);
  let d = -(normal[0] * mx + normal[1] * my + normal[2] * mz);
  if (normal[0] * viewpoint[0] + normal[1] * viewpoint[1] + normal[2] * viewpoint[2] + d < 0) {
    for (let k = 0; k < 3; k++) normal[k] = -normal[k];
    d = -d;
  }
  return { normal, d };
}

/**
 * RANSAC plane segmentation (as Open3D `segment_plane`): 3-point hypotheses, adaptive iteration count, final
 * least-squares refit on the inliers. Returns null when fewer than 3 finite points or all samples are colinear.
 */
export function segmentPlane(
  cloud: PointCloud,
  options: SegmentPlaneOptions,
): { plane: Plane; inliers: Uint32Array } | null {
  requirePositive('options.distanceThresholdM', options.distanceThresholdM);
  const n = pointCount(cloud);
  const p = cloud.points;
  const valid: number[] = [];
  for (let i = 0; i < n; i++)
    if (p[3 * i] - p[3 * i] === 0 && p[3 * i + 1] - p[3 * i + 1] === 0 && p[3 * i + 2] - p[3 * i + 2] === 0)
      valid.push(i);
  const m = valid.length;
  if (m < 3) return null;
  const thr = options.distanceThresholdM;
  const rng = new SeededRng(options.seed ?? 1);
  const maxIt = options.maxIterations ?? 1000;
  if (!(maxIt >= 1)) throw new GeometryInputError('options.maxIterations', `must be >= 1, got ${maxIt}`);
  let best: number[] = [];
  let needed = maxIt;
  for (let it = 0; it < Math.min(needed, maxIt); it++) {
    const a = valid[rng.int(m)] * 3;
    const b = valid[rng.int(m)] * 3;
    const c = valid[rng.int(m)] * 3;
    const ux = p[b] - p[a],
      uy = p[b + 1] - p[a + 1],
      uz = p[b + 2] - p[a + 2];
    const vx = p[c] - p[a],
      vy = p[c + 1] - p[a + 1],
      vz = p[c + 2] - p[a + 2];
    let nx = uy * vz - uz * vy;
    let ny = uz * vx - ux * vz;
    let nz = ux * vy - uy * vx;
    const l = Math.hypot(nx, ny, nz);
    if (l < 1e-12) continue;
    nx /= l;
    ny /= l;
    nz /= l;
    const d = -(nx * p[a] + ny * p[a + 1] + nz * p[a + 2]);
    const inl: number[] = [];
    for (const i of valid)
      if (Math.abs(nx * p[3 * i] + ny * p[3 * i + 1] + nz * p[3 * i + 2] + d) <= thr) inl.push(i);
    if (inl.length > best.length) {
      best = inl;
      const w = inl.length / m;
      const den = Math.log(1 - w * w * w);
      needed = w >= 1 ? 0 : den < 0 ? Math.ceil(Math.log(1 - 0.999) / den) : maxIt;
    }
  }
  const plane = fitPlane(p, best, options.viewpoint);
  if (!plane) return null;
  const inliers: number[] = [];
  for (const i of valid) {
    if (
      Math.abs(
        plane.normal[0] * p[3 * i] +
          plane.normal[1] * p[3 * i + 1] +
          plane.normal[2] * p[3 * i + 2] +
          plane.d,
      ) <= thr
    )
      inliers.push(i);
  }
  return { plane, inliers: Uint32Array.from(inliers) };
}
