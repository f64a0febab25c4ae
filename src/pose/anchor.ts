import type { CameraIntrinsics, Pose } from '../types';
import { hasDistortion, normalizedRayTable, validateCamera } from '../geometry/depth';
import { GeometryInputError } from '../geometry/errors';
import { voxelDownSample } from '../geometry/filters';
import { matchFeatures } from '../geometry/fpfh';
import { KdTree } from '../geometry/kdtree';
import { poseCompose, poseIdentity } from '../geometry/linalg';
import { estimateNormals } from '../geometry/normals';
import { ransacCorrespondences, registrationIcp } from '../geometry/registration';
import { noPose, type PoseResult } from './types';

/**
 * Dense features from the perception runtime on a grid covering the whole image (e.g. DeCLIP patch tokens, or
 * per-pixel features upsampled to full resolution): row-major [gridH][gridW][dim] in a Float32Array. Cell (gy, gx)
 * covers pixels u in [gx*w/gridW, (gx+1)*w/gridW), v likewise. A grid coarser than the image is sampled once per
 * masked cell (the cell's own feature); a full-resolution grid is sampled at up to maxSamples masked pixels.
 */
export interface DenseFeatureMap {
  data: Float32Array;
  gridH: number;
  gridW: number;
  dim: number;
}

/** One RGB-D view of the object for anchor mode. */
export interface AnchorView {
  depthM: Float32Array;
  camera: CameraIntrinsics;
  /** Object mask (nonzero = object), length width*height. */
  mask: ArrayLike<number>;
  features: DenseFeatureMap;
}

export interface AnchorPoseOptions {
  /** Masked pixels sampled per view for feature matching (default 1500). */
  maxSamples?: number;
  /** RANSAC inlier threshold, metres (default 0.01). */
  ransacThresholdM?: number;
  seed?: number;
  /** Refine with point-to-plane ICP (default true). */
  icp?: boolean;
  /** Voxel size for ICP clouds (default 0.004 m). */
  icpVoxelM?: number;
  /** Fewer mutual matches -> 'too-few-correspondences' (default 6). */
  minCorrespondences?: number;
  minDepthM?: number;
  maxDepthM?: number;
  /**
   * Feature grids coarser than the image: 'cell' (default) takes one sample per masked cell with the cell's own
   * feature; 'bilinear' samples up to maxSamples masked pixels with bilinearly interpolated features, which gives
   * many more correspondences when the object covers few cells (ViT patch grids on small or distant objects).
   */
  coarseSampling?: 'cell' | 'bilinear';
}

/** Throws unless the feature map is consistent. */
export function validateFeatureMap(f: DenseFeatureMap, field = 'features'): void {
  for (const k of ['gridH', 'gridW', 'dim'] as const) {
    if (!Number.isInteger(f[k]) || f[k] <= 0)
      throw new GeometryInputError(`${field}.${k}`, `must be a positive integer, got ${f[k]}`);
  }
  if (f.data.length !== f.gridH * f.gridW * f.dim) {
    throw new GeometryInputError(
      `${field}.data`,
      `length ${f.data.length} must equal gridH*gridW*dim (${f.gridH}*${f.gridW}*${f.dim})`,
    );
  }
}

/** Bilinear feature at pixel (u, v) (pixel centres), written to out[offset..offset+dim). */
export function sampleFeature(
  f: DenseFeatureMap,
  width: number,
  height: number,
  u: number,
  v: number,
  out: Float32Array,
  offset = 0,
): void {
  const gx = Math.min(f.gridW - 1, Math.max(0, ((u + 0.5) * f.gridW) / width - 0.5));
  const gy = Math.min(f.gridH - 1, Math.max(0, ((v + 0.5) * f.gridH) / height - 0.5));
  const x0 = Math.floor(gx);
  const y0 = Math.floor(gy);
  const x1 = Math.min(f.gridW - 1, x0 + 1);
  const y1 = Math.min(f.gridH - 1, y0 + 1);
  const ax = gx - x0;
  const ay = gy - y0;
  const D = f.dim;
  const o00 = (y0 * f.gridW + x0) * D;
  const o01 = (y0 * f.gridW + x1) * D;
  const o10 = (y1 * f.gridW + x0) * D;
  const o11 = (y1 * f.gridW + x1) * D;
  const w00 = (1 - ax) * (1 - ay);
  const w01 = ax * (1 - ay);
  const w10 = (1 - ax) * ay;
  const w11 = ax * ay;
  const d = f.data;
  for (let k = 0; k < D; k++)
    out[offset + k] = w00 * d[o00 + k] + w01 * d[o01 + k] + w10 * d[o10 + k] + w11 * d[o11 + k];
}

interface Samples {
  points: Float32Array;
  features: Float32Array;
  allPoints: Float32Array;
}

function sampleView(
  view: AnchorView,
  maxSamples: number,
  minD: number,
  maxD: number,
  field: string,
  coarseSampling: 'cell' | 'bilinear' = 'cell',
): Samples {
  const cam = view.camera;
  validateCamera(cam);
  validateFeatureMap(view.features, `${field}.features`);
  const w = cam.width;
  const h = cam.height;
  if (view.depthM.length !== w * h)
    throw new GeometryInputError(`${field}.depthM`, `length must be ${w * h}`);
  if (view.mask.length !== w * h) throw new GeometryInputError(`${field}.mask`, `length must be ${w * h}`);
  const rays = hasDistortion(cam) ? normalizedRayTable(cam) : null;
  const valid: number[] = [];
  for (let i = 0; i < w * h; i++) {
    const z = view.depthM[i];
    if (view.mask[i] && z >= minD && z <= maxD) valid.push(i);
  }
  const all = new Float32Array(3 * valid.length);
  for (let k = 0; k < valid.length; k++) {
    const i = valid[k];
    const u = i % w;
    const v = (i / w) | 0;
    const z = view.depthM[i];
    all[3 * k] = (rays ? rays[2 * i] : (u - cam.cx) / cam.fx) * z;
    all[3 * k + 1] = (rays ? rays[2 * i + 1] : (v - cam.cy) / cam.fy) * z;
    all[3 * k + 2] = z;
  }
  const D = view.features.dim;
  const f = view.features;
  if ((f.gridW < w || f.gridH < h) && coarseSampling === 'cell') {
    // coarse feature grid (e.g. ViT patches): one sample per masked cell, at the valid masked pixel nearest the
    // cell centre, carrying the cell's own feature
    const cellPix: number[] = [];
    const cellIdx: number[] = [];
    const isValid = (i: number) => !!view.mask[i] && view.depthM[i] >= minD && view.depthM[i] <= maxD;
    for (let gy = 0; gy < f.gridH; gy++) {
      const v0 = Math.floor((gy * h) / f.gridH);
      const v1 = Math.floor(((gy + 1) * h) / f.gridH);
      for (let gx = 0; gx < f.gridW; gx++) {
        const u0 = Math.floor((gx * w) / f.gridW);
        const u1 = Math.floor(((gx + 1) * w) / f.gridW);
        const uc = (u0 + u1 - 1) / 2;
        const vc = (v0 + v1 - 1) / 2;
        let best = -1;
        let bestD = Infinity;
        for (let v = v0; v < v1; v++) {
          for (let u = u0; u < u1; u++) {
            const i = v * w + u;
            if (!isValid(i)) continue;
            const d = (u - uc) ** 2 + (v - vc) ** 2;
            if (d < bestD) {
              bestD = d;
              best = i;
            }
          }
        }
        if (best >= 0) {
          cellPix.push(best);
          cellIdx.push(gy * f.gridW + gx);
        }
      }
    }
    const m = Math.min(maxSamples, cellPix.length);
    const step = cellPix.length / Math.max(1, m);
    const pts = new Float32Array(3 * m);
    const feats = new Float32Array(m * D);
    for (let s = 0; s < m; s++) {
      const k = Math.floor(s * step);
      const i = cellPix[k];
      const u = i % w;
      const v = (i / w) | 0;
      const z = view.depthM[i];
      pts[3 * s] = (rays ? rays[2 * i] : (u - cam.cx) / cam.fx) * z;
      pts[3 * s + 1] = (rays ? rays[2 * i + 1] : (v - cam.cy) / cam.fy) * z;
      pts[3 * s + 2] = z;
      feats.set(f.data.subarray(cellIdx[k] * D, (cellIdx[k] + 1) * D), s * D);
    }
    return { points: pts, features: feats, allPoints: all };
  }
  const m = Math.min(maxSamples, valid.length);
  const step = valid.length / Math.max(1, m);
  const pts = new Float32Array(3 * m);
  const feats = new Float32Array(m * D);
  for (let s = 0; s < m; s++) {
    const k = Math.floor(s * step);
    const i = valid[k];
    pts.set(all.subarray(3 * k, 3 * k + 3), 3 * s);
    sampleFeature(view.features, w, h, i % w, (i / w) | 0, feats, s * D);
  }
  return { points: pts, features: feats, allPoints: all };
}

/**
 * Anchor-mode pose (Oryon protocol, no CAD model): dense features of the anchor and query views are sampled at
 * masked pixels with valid depth, matched as mutual nearest neighbours in cosine distance, lifted to 3D, and
 * solved by RANSAC + Kabsch for the anchor -> query camera transform T, refined by point-to-plane ICP of the
 * masked clouds. Returns the query pose T ∘ anchorPose (the anchor pose defaults to identity, so the result is T).
 */
export function estimateAnchorPose(
  anchor: AnchorView,
  query: AnchorView,
  anchorPose: Pose = poseIdentity(),
  options: AnchorPoseOptions = {},
): PoseResult {
  const t0 = performance.now();
  try {
    if (anchor.features.dim !== query.features.dim) {
      return noPose(
        'anchor',
        'invalid-input',
        `feature dims differ (${anchor.features.dim} vs ${query.features.dim})`,
        t0,
      );
    }
    const maxS = options.maxSamples ?? 1500;
    const minD = options.minDepthM ?? 0.1;
    const maxD = options.maxDepthM ?? 5;
    const a = sampleView(anchor, maxS, minD, maxD, 'anchor', options.coarseSampling);
    const q = sampleView(query, maxS, minD, maxD, 'query', options.coarseSampling);
    if (a.points.length === 0 || q.points.length === 0) {
      return noPose(
        'anchor',
        'empty-input',
        `masked valid depth: anchor ${a.points.length / 3}, query ${q.points.length / 3} points`,
        t0,
      );
    }
    const corr = matchFeatures(a.features, q.features, anchor.features.dim, {
      metric: 'cosine',
      mutual: true,
    });
    const minC = Math.max(3, options.minCorrespondences ?? 6);
    if (corr.src.length < minC) {
      return noPose(
        'anchor',
        'too-few-correspondences',
        `${corr.src.length} mutual feature matches (< ${minC})`,
        t0,
      );
    }
    const thr = options.ransacThresholdM ?? 0.01;
    const rs = ransacCorrespondences(a.points, q.points, corr.src, corr.dst, {
      maxDistanceM: thr,
      seed: options.seed ?? 1,
      maxIterations: 10000,
    });
    if (!rs || rs.numCorrespondences < minC) {
      return noPose(
        'anchor',
        'registration-failed',
        `RANSAC inliers ${rs ? rs.numCorrespondences : 0} (< ${minC})`,
        t0,
      );
    }
    let T = rs.pose;
    let fitness = rs.fitness;
    let rmse = rs.inlierRmseM;
    let nc = rs.numCorrespondences;
    if (options.icp ?? true) {
      const vox = options.icpVoxelM ?? 0.004;
      const src = voxelDownSample({ points: a.allPoints }, vox).cloud;
      const dst = voxelDownSample({ points: q.allPoints }, vox).cloud;
      const tree = new KdTree(dst.points);
      dst.normals = estimateNormals(dst, { radiusM: 2.5 * vox, tree });
      const icp = registrationIcp(src, dst, T, {
        maxCorrespondenceDistanceM: 2 * thr,
        method: 'point-to-plane',
        robust: { kind: 'tukey', kM: 2 * thr },
        maxIterations: 30,
        targetTree: tree,
      });
      if (icp.numCorrespondences >= minC) {
        T = icp.pose;
        fitness = icp.fitness;
        rmse = icp.inlierRmseM;
        nc = icp.numCorrespondences;
      }
    }
    return {
      ok: true,
      source: 'anchor',
      pose: poseCompose(T, anchorPose),
      fitness,
      inlierRmseM: rmse,
      numCorrespondences: nc,
      runtimeMs: performance.now() - t0,
    };
  } catch (e) {
    return noPose('anchor', 'invalid-input', (e as Error).message, t0);
  }
}
