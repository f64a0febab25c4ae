import { requirePositive } from './errors';
import { KdTree } from './kdtree';
import { pointCount, selectByIndex, type PointCloud } from './pointcloud';

/** Result of a filter: the kept cloud and the indices (into the input) of the kept points. */
export interface FilterResult {
  cloud: PointCloud;
  indices: Uint32Array;
}

export interface VoxelResult {
  cloud: PointCloud;
  /** For every input point, the output point (voxel) it was merged into; -1 for non-finite points. */
  voxelOfPoint: Int32Array;
}

/**
 * Voxel-grid down-sampling (as Open3D `voxel_down_sample`): every occupied voxel of side `voxelM` becomes the
 * mean of its points; colours are averaged and normals averaged then re-normalised. Output order follows the
 * first point of each voxel.
 */
export function voxelDownSample(cloud: PointCloud, voxelM: number): VoxelResult {
  requirePositive('voxelM', voxelM);
  const n = pointCount(cloud);
  const p = cloud.points;
  let minX = Infinity,
    minY = Infinity,
    minZ = Infinity,
    maxX = -Infinity,
    maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = p[3 * i];
    const y = p[3 * i + 1];
    const z = p[3 * i + 2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (z < minZ) minZ = z;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  const inv = 1 / voxelM;
  const nx = Math.floor((maxX - minX) * inv) + 1;
  const ny = Math.floor((maxY - minY) * inv) + 1;
  const map = new Map<number, number>();
  const voxelOfPoint = new Int32Array(n).fill(-1);
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = p[3 * i];
    const y = p[3 * i + 1];
    const z = p[3 * i + 2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    const key =
      Math.floor((x - minX) * inv) + nx * (Math.floor((y - minY) * inv) + ny * Math.floor((z - minZ) * inv));
    let v = map.get(key);
    if (v === undefined) {
      v = counts.length;
      map.set(key, v);
      counts.push(0);
    }
    counts[v]++;
    voxelOfPoint[i] = v;
  }
  const m = counts.length;
  const pts = new Float64Array(3 * m);
  const col = cloud.colors ? new Float64Array(3 * m) : null;
  const nor = cloud.normals ? new Float64Array(3 * m) : null;
  for (let i = 0; i < n; i++) {
    const v = voxelOfPoint[i];
    if (v < 0) continue;
    for (let c = 0; c < 3; c++) {
      pts[3 * v + c] += p[3 * i + c];
      if (col) col[3 * v + c] += cloud.colors![3 * i + c];
      if (nor) nor[3 * v + c] += cloud.normals![3 * i + c];
    }
  }
  const outP = new Float32Array(3 * m);
  const outC = col ? new Uint8Array(3 * m) : undefined;
  const outN = nor ? new Float32Array(3 * m) : undefined;
  for (let v = 0; v < m; v++) {
    const c = counts[v];
    for (let k = 0; k < 3; k++) {
      outP[3 * v + k] = pts[3 * v + k] / c;
      if (outC) outC[3 * v + k] = Math.round(col![3 * v + k] / c);
    }
    if (outN) {
      const l = Math.hypot(nor![3 * v], nor![3 * v + 1], nor![3 * v + 2]) || 1;
      outN[3 * v] = nor![3 * v] / l;
      outN[3 * v + 1] = nor![3 * v + 1] / l;
      outN[3 * v + 2] = nor![3 * v + 2] / l;
    }
  }
  return { cloud: { points: outP, colors: outC, normals: outN }, voxelOfPoint };
}

/**
 * Statistical outlier removal (as Open3D `remove_statistical_outlier`): a point is kept when its mean distance
 * to its `nbNeighbors` nearest neighbours is at most mean + stdRatio * std over the cloud.
 */
export function removeStatisticalOutliers(
  cloud: PointCloud,
  nbNeighbors: number,
  stdRatio: number,
  tree?: KdTree,
): FilterResult {
  requirePositive('nbNeighbors', nbNeighbors);
  requirePositive('stdRatio', stdRatio);
  const n = pointCount(cloud);
  const t = tree ?? new KdTree(cloud.points);
  const k = Math.floor(nbNeighbors) + 1; // includes the point itself
  const meanDist = new Float64Array(n).fill(NaN);
  let sum = 0;
  let sum2 = 0;
  let valid = 0;
  const p = cloud.points;
  // one batch query of the cloud against itself (the grid path for large clouds); non-finite points get none
  const nb = t.knnSearch(p, k);
  const nd = nb.distances2;
  for (let i = 0; i < n; i++) {
    let f = 0;
    while (f < k && nb.indices[i * k + f] >= 0) f++;
    if (f < 2) continue;
    let s = 0;
    for (let j = 1; j < f; j++) s += Math.sqrt(nd[i * k + j]);
    const md = s / (f - 1);
    meanDist[i] = md;
    sum += md;
    sum2 += md * md;
    valid++;
  }
  const mean = valid ? sum / valid : 0;
  const std = valid > 1 ? Math.sqrt(Math.max(0, (sum2 - valid * mean * mean) / (valid - 1))) : 0;
  const thr = mean + stdRatio * std;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (meanDist[i] <= thr) keep.push(i);
  const indices = Uint32Array.from(keep);
  return { cloud: selectByIndex(cloud, indices), indices };
}

/** Radius outlier removal: keeps points with at least `nbPoints` other points within `radiusM`. */
export function removeRadiusOutliers(
  cloud: PointCloud,
  nbPoints: number,
  radiusM: number,
  tree?: KdTree,
): FilterResult {
  requirePositive('radiusM', radiusM);
  const n = pointCount(cloud);
  const t = tree ?? new KdTree(cloud.points);
  const buf: number[] = [];
  const keep: number[] = [];
  const p = cloud.points;
  for (let i = 0; i < n; i++) {
    const x = p[3 * i];
    if (!(x - x === 0)) continue;
    t.radiusSearch(x, p[3 * i + 1], p[3 * i + 2], radiusM, buf);
    if (buf.length - 1 >= nbPoints) keep.push(i);
  }
  const indices = Uint32Array.from(keep);
  return { cloud: selectByIndex(cloud, indices), indices };
}
