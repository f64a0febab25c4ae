import type { CameraIntrinsics, RgbImage } from '../types';
import { euclideanClustering, organizedClustering } from '../geometry/cluster';
import { hasDistortion, normalizedRayTable, validateCamera } from '../geometry/depth';
import { GeometryInputError } from '../geometry/errors';
import { removeStatisticalOutliers, voxelDownSample } from '../geometry/filters';
import { KdTree } from '../geometry/kdtree';
import { orientedBoundingBox } from '../geometry/obb';
import { computeCentroid, selectByIndex, type PointCloud } from '../geometry/pointcloud';
import type { Instance3D } from './types';

/** One query's mask: nonzero pixels belong to the query; optional per-pixel scores (e.g. similarity). */
export interface QueryMask {
  label: string;
  /** Length width*height; nonzero = inside. */
  mask: ArrayLike<number>;
  /** Optional per-pixel score in [0, 1] (length width*height); mean over an instance is reported. */
  score?: ArrayLike<number>;
}

export interface InstanceOptions {
  /** Erode masks by this many pixels (square structuring element) to drop flying pixels on borders. Default 2. */
  erodePx?: number;
  /** Valid depth range, metres. Defaults 0.1 .. 5. */
  minDepthM?: number;
  maxDepthM?: number;
  /** Neighbouring pixels connect when their 3D gap is below absToleranceM + relTolerance * depth. */
  absToleranceM?: number;
  relTolerance?: number;
  /** Organised clustering links valid pixels up to this many pixels apart (default 3; bridges depth holes). */
  gapPx?: number;
  /** Flying-pixel filter: a point needs this many of its 8 pixel neighbours within tolerance (default 2; 0 = off). */
  minGridNeighbors?: number;
  /** Optional statistical outlier removal on each instance. */
  statistical?: { nbNeighbors: number; stdRatio: number };
  /** 'organized' (default, O(pixels) over the pixel grid) or 'euclidean' (kd-tree, toleranceM). */
  clustering?: 'organized' | 'euclidean';
  /** Euclidean clustering tolerance (default 0.01 m). */
  toleranceM?: number;
  /** Instances with fewer points are dropped (default 50). */
  minPoints?: number;
  /**
   * Grid components closer than this in 3D are merged into one instance (default 0.025 m; 0 = off): a mug's
   * interior seen through its opening is a separate grid component about 2 cm from its outer wall, while two
   * objects side by side are usually farther apart.
   */
  mergeDistanceM?: number;
  /** Only components with at least this fraction of the mask's largest component take part in merging (0.2). */
  mergeMinFraction?: number;
}

/** The frame fields instance extraction needs. */
export interface DepthView {
  depthM: Float32Array;
  camera: CameraIntrinsics;
  rgb?: RgbImage;
}

function erodeInto(
  mask: ArrayLike<number>,
  w: number,
  u0: number,
  v0: number,
  bw: number,
  bh: number,
  r: number,
): Uint8Array {
  const out = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++)
    for (let x = 0; x < bw; x++) out[y * bw + x] = mask[(v0 + y) * w + u0 + x] ? 1 : 0;
  if (r <= 0) return out;
  // separable erosion: horizontal then vertical run-length of ones
  const tmp = new Uint8Array(bw * bh);
  const left = new Int32Array(bw);
  for (let y = 0; y < bh; y++) {
    let run = 0;
    const row = y * bw;
    for (let x = 0; x < bw; x++) {
      run = out[row + x] ? run + 1 : 0;
      left[x] = run;
    }
    run = 0;
    for (let x = bw - 1; x >= 0; x--) {
      run = out[row + x] ? run + 1 : 0;
      tmp[row + x] = left[x] > r && run > r ? 1 : 0;
    }
  }
  const res = new Uint8Array(bw * bh);
  const up = new Int32Array(bh);
  for (let x = 0; x < bw; x++) {
    let run = 0;
    for (let y = 0; y < bh; y++) {
      run = tmp[y * bw + x] ? run + 1 : 0;
      up[y] = run;
    }
    run = 0;
    for (let y = bh - 1; y >= 0; y--) {
      run = tmp[y * bw + x] ? run + 1 : 0;
      res[y * bw + x] = up[y] > r && run > r ? 1 : 0;
    }
  }
  return res;
}

/** Bounding box of the nonzero pixels (u1 = -1 when none); a Uint8Array mask is scanned 4 pixels per read. */
function maskBounds(
  mask: ArrayLike<number>,
  w: number,
  h: number,
): { u0: number; v0: number; u1: number; v1: number } {
  let u0 = w,
    v0 = h,
    u1 = -1,
    v1 = -1;
  const words =
    mask instanceof Uint8Array && mask.byteOffset % 4 === 0 && w % 4 === 0
      ? new Uint32Array(mask.buffer, mask.byteOffset, (w * h) >> 2)
      : null;
  const w4 = w >> 2;
  for (let v = 0; v < h; v++) {
    const row = v * w;
    let first = -1;
    let last = -1;
    if (words) {
      // skip the row 4 pixels at a time; refine only inside its first and last nonzero words
      let a = v * w4;
      const e = a + w4;
      while (a < e && words[a] === 0) a++;
      if (a === e) continue;
      let b = e - 1;
      while (words[b] === 0) b--;
      for (let u = 4 * (a - v * w4); first < 0; u++) if (mask[row + u]) first = u;
      for (let u = 4 * (b - v * w4) + 3; last < 0; u--) if (mask[row + u]) last = u;
    } else {
      for (let u = 0; u < w && first < 0; u++) if (mask[row + u]) first = u;
      if (first < 0) continue;
      for (let u = w - 1; last < 0; u--) if (mask[row + u]) last = u;
    }
    if (first < u0) u0 = first;
    if (last > u1) u1 = last;
    if (v < v0) v0 = v;
    v1 = v;
  }
  return { u0, v0, u1, v1 };
}

/** Merges clusters (indices into `local`, or into localIdx-selected points) whose closest points are < distM apart. */
function mergeClose(
  local: PointCloud,
  clusters: Uint32Array[],
  distM: number,
  localIdx: Uint32Array | null,
  minFraction: number,
): Uint32Array[] {
  const toLocal = (i: number) => (localIdx ? localIdx[i] : i);
  // axis-aligned bounds first (most pairs are far apart); voxel-thinned kd-trees only for pairs that may touch
  const bounds = clusters.map((c) => {
    const b = [Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity];
    for (let t = 0; t < c.length; t++) {
      const q = 3 * toLocal(c[t]);
      for (let k = 0; k < 3; k++) {
        const x = local.points[q + k];
        if (x < b[k]) b[k] = x;
        if (x > b[3 + k]) b[3 + k] = x;
      }
    }
    return b;
  });
  const thinCache: (Float32Array | null)[] = clusters.map(() => null);
  const treeCache: (KdTree | null)[] = clusters.map(() => null);
  const thin = (i: number): Float32Array =>
    (thinCache[i] ??= voxelDownSample(
      selectByIndex(local, Array.from(clusters[i], toLocal)),
      Math.max(0.002, distM / 4),
    ).cloud.points);
  const tree = (i: number): KdTree => (treeCache[i] ??= new KdTree(thin(i)));
  const boxGap = (a: number, b: number) => {
    let g2 = 0;
    for (let k = 0; k < 3; k++) {
      const d = Math.max(bounds[a][k] - bounds[b][3 + k], bounds[b][k] - bounds[a][3 + k], 0);
      g2 += d * d;
    }
    return Math.sqrt(g2);
  };
  const parent = clusters.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const d2 = distM * distM;
  // only substantial components merge; small fragments next to an object (edge bleed) stay apart
  const minSize = minFraction * clusters[0].length;
  for (let a = 0; a < clusters.length; a++) {
    if (clusters[a].length < minSize) continue;
    for (let b = a + 1; b < clusters.length; b++) {
      if (clusters[b].length < minSize || find(a) === find(b)) continue;
      if (boxGap(a, b) >= distM) continue;
      const small = clusters[a].length <= clusters[b].length ? a : b;
      const big = small === a ? b : a;
      const q = thin(small);
      const t = tree(big);
      for (let k = 0; k < q.length; k += 3) {
        t.nearest(q[k], q[k + 1], q[k + 2]);
        if (t.lastDist2 < d2) {
          parent[find(a)] = find(b);
          break;
        }
      }
    }
  }
  const groups = new Map<number, Uint32Array[]>();
  clusters.forEach((c, i) => {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(c);
    else groups.set(r, [c]);
  });
  const merged = [...groups.values()].map((parts) => {
    if (parts.length === 1) return parts[0];
    const out = new Uint32Array(parts.reduce((s, c) => s + c.length, 0));
    let o = 0;
    for (const c of parts) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  });
  return merged.sort((x, y) => y.length - x.length);
}

/**
 * 3D instances from query masks and depth: erode each mask, lift the masked depth (undistorted rays), drop
 * flying pixels, split into instances by 3D connectivity (two touching mugs at different depths, or two separate
 * blobs in one mask, become two instances), drop small ones, and describe each by centroid, oriented box,
 * extent, point count and mean mask score. Instances are sorted by point count, largest first.
 */
export function extractInstances(
  view: DepthView,
  masks: QueryMask[],
  options: InstanceOptions = {},
): Instance3D[] {
  const { camera, depthM, rgb } = view;
  validateCamera(camera);
  const w = camera.width;
  const h = camera.height;
  if (depthM.length !== w * h) {
    throw new GeometryInputError(
      'depthM',
      `length ${depthM.length} must equal camera width*height (${w * h})`,
    );
  }
  const erode = options.erodePx ?? 2;
  const minD = options.minDepthM ?? 0.1;
  const maxD = options.maxDepthM ?? 5;
  const abs = options.absToleranceM ?? 0.005;
  const rel = options.relTolerance ?? 0.02;
  const minNb = options.minGridNeighbors ?? 2;
  const minPts = options.minPoints ?? 50;
  const mergeM = options.mergeDistanceM ?? 0.025;
  const rays = hasDistortion(camera) ? normalizedRayTable(camera) : null;
  const out: Instance3D[] = [];
  for (const q of masks) {
    if (q.mask.length !== w * h) {
      throw new GeometryInputError(
        `masks[${q.label}].mask`,
        `length ${q.mask.length} must equal width*height (${w * h})`,
      );
    }
    const { u0, v0, u1, v1 } = maskBounds(q.mask, w, h);
    if (u1 < 0) continue;
    const bw = u1 - u0 + 1;
    const bh = v1 - v0 + 1;
    const m = erodeInto(q.mask, w, u0, v0, bw, bh, erode);
    // local organised cloud over the bounding box
    const pts = new Float32Array(3 * bw * bh).fill(NaN);
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const li = y * bw + x;
        if (!m[li]) continue;
        const gi = (v0 + y) * w + u0 + x;
        const z = depthM[gi];
        if (!(z >= minD && z <= maxD)) continue;
        const xn = rays ? rays[2 * gi] : (u0 + x - camera.cx) / camera.fx;
        const yn = rays ? rays[2 * gi + 1] : (v0 + y - camera.cy) / camera.fy;
        pts[3 * li] = xn * z;
        pts[3 * li + 1] = yn * z;
        pts[3 * li + 2] = z;
      }
    }
    // flying-pixel filter over the 8-neighbourhood: each pair is tested once (forward half) and counts for both
    if (minNb > 0) {
      const cnt = new Uint8Array(bw * bh);
      for (let y = 0; y < bh; y++) {
        for (let x = 0; x < bw; x++) {
          const i = y * bw + x;
          const zi = pts[3 * i + 2];
          if (!(zi === zi)) continue;
          const xi = pts[3 * i];
          const yi = pts[3 * i + 1];
          // forward neighbours: right, and the three below
          for (let k = 0; k < 4; k++) {
            const dx = k === 0 ? 1 : k - 2;
            const dy = k === 0 ? 0 : 1;
            const xx = x + dx;
            const yy = y + dy;
            if (yy >= bh || xx < 0 || xx >= bw) continue;
            const j = yy * bw + xx;
            const zj = pts[3 * j + 2];
            if (!(zj === zj)) continue;
            // each point of the pair judges with the tolerance at its own depth
            const tolI = abs + rel * zi;
            const tolJ = abs + rel * zj;
            const ex = pts[3 * j] - xi;
            const ey = pts[3 * j + 1] - yi;
            const ez = zj - zi;
            const d2 = ex * ex + ey * ey + ez * ez;
            if (d2 <= tolI * tolI) cnt[i]++;
            if (d2 <= tolJ * tolJ) cnt[j]++;
          }
        }
      }
      for (let i = 0; i < bw * bh; i++)
        if (cnt[i] < minNb) pts[3 * i] = pts[3 * i + 1] = pts[3 * i + 2] = NaN;
    }
    const local: PointCloud = { points: pts, width: bw, height: bh };
    let clusters: Uint32Array[];
    let localIdx: Uint32Array | null = null;
    if (options.clustering === 'euclidean') {
      const valid: number[] = [];
      for (let i = 0; i < bw * bh; i++) if (pts[3 * i + 2] === pts[3 * i + 2]) valid.push(i);
      localIdx = Uint32Array.from(valid);
      const sub = selectByIndex(local, localIdx);
      clusters = euclideanClustering(sub, options.toleranceM ?? 0.01, { minPoints: minPts }).clusters;
    } else {
      clusters = organizedClustering(local, {
        absToleranceM: abs,
        relTolerance: rel,
        minPoints: minPts,
        gapPx: options.gapPx ?? 3,
      }).clusters;
    }
    if (mergeM > 0 && clusters.length > 1)
      clusters = mergeClose(local, clusters, mergeM, localIdx, options.mergeMinFraction ?? 0.2);
    for (const c of clusters) {
      let members = localIdx ? c.map((i) => localIdx![i]) : c;
      let cloud = selectByIndex(local, members);
      if (options.statistical) {
        const f = removeStatisticalOutliers(
          cloud,
          options.statistical.nbNeighbors,
          options.statistical.stdRatio,
        );
        members = f.indices.map((i) => members[i]);
        cloud = f.cloud;
      }
      if (members.length < minPts) continue;
      const pix = new Uint32Array(members.length);
      let scoreSum = 0;
      const colors = rgb ? new Uint8Array(3 * members.length) : undefined;
      for (let k = 0; k < members.length; k++) {
        const li = members[k];
        const gi = (v0 + Math.floor(li / bw)) * w + u0 + (li % bw);
        pix[k] = gi;
        scoreSum += q.score ? q.score[gi] : 1;
        if (colors) {
          colors[3 * k] = rgb!.data[3 * gi];
          colors[3 * k + 1] = rgb!.data[3 * gi + 1];
          colors[3 * k + 2] = rgb!.data[3 * gi + 2];
        }
      }
      cloud.colors = colors;
      const box = orientedBoundingBox(cloud.points);
      out.push({
        label: q.label,
        cloud,
        pixelIndices: pix,
        centroidM: computeCentroid(cloud.points),
        box,
        extentM: box.extentM,
        pointCount: members.length,
        meanMaskScore: scoreSum / members.length,
      });
    }
  }
  return out.sort((a, b) => b.pointCount - a.pointCount);
}
