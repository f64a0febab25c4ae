import type { Pose } from '../types';
import { GeometryInputError, requireStride } from './errors';
import { rotateVectors, transformPoints } from './linalg';

/**
 * Unorganised (or organised, see `width`/`height`) point cloud over typed arrays.
 * Points are interleaved xyz in metres; colours rgb8 per point; normals unit xyz per point.
 */
export interface PointCloud {
  /** Interleaved xyz in metres, length 3 * count. Organised clouds hold NaN for invalid pixels. */
  points: Float32Array;
  /** Optional rgb8 per point, length 3 * count. */
  colors?: Uint8Array;
  /** Optional unit normals, length 3 * count. */
  normals?: Float32Array;
  /** Set for organised clouds: point i is pixel (i % width, floor(i / width)). */
  width?: number;
  height?: number;
}

/** Number of points of a cloud (validates the layout). */
export function pointCount(cloud: PointCloud): number {
  requireStride('cloud.points', cloud.points, 3);
  return cloud.points.length / 3;
}

/** Builds a cloud from interleaved xyz (copied into a Float32Array). */
export function makePointCloud(
  points: ArrayLike<number>,
  colors?: Uint8Array,
  normals?: Float32Array,
): PointCloud {
  requireStride('points', points, 3);
  const n = points.length / 3;
  if (colors && colors.length !== 3 * n) {
    throw new GeometryInputError('colors', `length ${colors.length} must equal 3 * point count (${3 * n})`);
  }
  if (normals && normals.length !== 3 * n) {
    throw new GeometryInputError('normals', `length ${normals.length} must equal 3 * point count (${3 * n})`);
  }
  return { points: Float32Array.from(points), colors, normals };
}

/** New cloud with the points at `indices` (colours and normals follow). */
export function selectByIndex(cloud: PointCloud, indices: ArrayLike<number>): PointCloud {
  const n = indices.length;
  const pts = new Float32Array(3 * n);
  const col = cloud.colors ? new Uint8Array(3 * n) : undefined;
  const nor = cloud.normals ? new Float32Array(3 * n) : undefined;
  for (let i = 0; i < n; i++) {
    const j = indices[i] * 3;
    pts[3 * i] = cloud.points[j];
    pts[3 * i + 1] = cloud.points[j + 1];
    pts[3 * i + 2] = cloud.points[j + 2];
    if (col) {
      col[3 * i] = cloud.colors![j];
      col[3 * i + 1] = cloud.colors![j + 1];
      col[3 * i + 2] = cloud.colors![j + 2];
    }
    if (nor) {
      nor[3 * i] = cloud.normals![j];
      nor[3 * i + 1] = cloud.normals![j + 1];
      nor[3 * i + 2] = cloud.normals![j + 2];
    }
  }
  return { points: pts, colors: col, normals: nor };
}

/** Indices of finite points (drops the NaN holes of an organised cloud). */
export function finiteIndices(cloud: PointCloud): Uint32Array {
  const n = pointCount(cloud);
  const out = new Uint32Array(n);
  let m = 0;
  const p = cloud.points;
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(p[3 * i]) && Number.isFinite(p[3 * i + 1]) && Number.isFinite(p[3 * i + 2]))
      out[m++] = i;
  }
  return out.slice(0, m);
}

/** Unorganised copy without NaN/Inf points. */
export function removeNonFinite(cloud: PointCloud): PointCloud {
  return selectByIndex(cloud, finiteIndices(cloud));
}

/** Applies a rigid pose to points and normals; returns a new cloud. */
export function transformPointCloud(cloud: PointCloud, pose: Pose): PointCloud {
  return {
    points: transformPoints(cloud.points, pose),
    colors: cloud.colors,
    normals: cloud.normals ? rotateVectors(cloud.normals, pose.R) : undefined,
    width: cloud.width,
    height: cloud.height,
  };
}

/** Mean of the finite points (Float64Array(3)); NaN when there are none. */
export function computeCentroid(points: ArrayLike<number>): Float64Array {
  let sx = 0;
  let sy = 0;
  let sz = 0;
  let n = 0;
  for (let i = 0; i + 2 < points.length; i += 3) {
    const x = points[i];
    const y = points[i + 1];
    const z = points[i + 2];
    if (x === x && y === y && z === z) {
      sx += x;
      sy += y;
      sz += z;
      n++;
    }
  }
  return n ? new Float64Array([sx / n, sy / n, sz / n]) : new Float64Array([NaN, NaN, NaN]);
}

/** 3x3 covariance (row-major, divided by n) of finite points about their centroid. */
export function computeCovariance(
  points: ArrayLike<number>,
  centroid = computeCentroid(points),
): Float64Array {
  const c = new Float64Array(9);
  let n = 0;
  for (let i = 0; i + 2 < points.length; i += 3) {
    const x = points[i] - centroid[0];
    const y = points[i + 1] - centroid[1];
    const z = points[i + 2] - centroid[2];
    if (x !== x || y !== y || z !== z) continue;
    c[0] += x * x;
    c[1] += x * y;
    c[2] += x * z;
    c[4] += y * y;
    c[5] += y * z;
    c[8] += z * z;
    n++;
  }
  if (n > 0) for (const k of [0, 1, 2, 4, 5, 8]) c[k] /= n;
  c[3] = c[1];
  c[6] = c[2];
  c[7] = c[5];
  return c;
}

/** Largest distance between any two points, estimated exactly for n <= 4000 and by 4000-point sampling above. */
export function computeDiameter(points: ArrayLike<number>): number {
  const n = Math.floor(points.length / 3);
  const step = Math.max(1, Math.ceil(n / 4000));
  let best = 0;
  for (let i = 0; i < n; i += step) {
    for (let j = i + step; j < n; j += step) {
      const dx = points[3 * i] - points[3 * j];
      const dy = points[3 * i + 1] - points[3 * j + 1];
      const dz = points[3 * i + 2] - points[3 * j + 2];
      const d = dx * dx + dy * dy + dz * dz;
      if (d > best) best = d;
    }
  }
  return Math.sqrt(best);
}
