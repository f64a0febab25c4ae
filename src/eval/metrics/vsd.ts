/**
 * VSD — Visible Surface Discrepancy (Hodan et al. ECCVW 2016; BOP 2019 variant with the `step` cost and
 * the `bop19` visibility mode), following bop_toolkit `pose_error.vsd` and `visibility.py`.
 * Depth images are metres, row-major, 0 (or NaN) = no measurement / no rendered surface.
 */
import type { CameraIntrinsics, Pose } from '../../types';
import { EvalInputError, requirePose, requirePositive } from './errors';

/**
 * Renders the depth (metres, Float32Array of camera.width*camera.height, 0 where the object is absent) of
 * `model` placed with `pose` (object -> camera) seen by `camera`. Injected so the metrics stay independent
 * of the rasterizer; plug in the src/synth z-buffer rasterizer here.
 */
export type RenderDepthFn<M> = (model: M, pose: Pose, camera: CameraIntrinsics) => Float32Array;

/** BOP 2019 VSD misalignment tolerance delta: 15 mm. */
export const BOP_VSD_DELTA_M = 0.015;

/** Pixel-wise matching cost: 'step' (BOP 2017 onwards) or 'tlinear' (original ECCVW 2016 definition). */
export type VsdCostType = 'step' | 'tlinear';

/**
 * Converts a depth image to a distance image: the distance from the optical centre to the 3D point seen at
 * each pixel (bop_toolkit `misc.depth_im_to_dist_im_fast`, pixel centres at integer coordinates u, v):
 * sqrt(((u - cx) d / fx)^2 + ((v - cy) d / fy)^2 + d^2). Invalid depth (0, NaN) maps to 0.
 */
export function depthImToDistIm(depthM: Float32Array, camera: CameraIntrinsics): Float32Array {
  const { width, height, fx, fy, cx, cy } = camera;
  if (depthM.length !== width * height) {
    throw new EvalInputError('depthM', `length ${depthM.length} != width*height = ${width * height}`);
  }
  const out = new Float32Array(depthM.length);
  for (let v = 0; v < height; v++) {
    const yf = (v - cy) / fy;
    for (let u = 0; u < width; u++) {
      const i = v * width + u;
      const d = depthM[i];
      if (!(d > 0)) continue;
      const xf = (u - cx) / fx;
      out[i] = d * Math.sqrt(xf * xf + yf * yf + 1);
    }
  }
  return out;
}

/**
 * Visibility mask of a rendered model against the test image, bop_toolkit `_estimate_visib_mask` in
 * 'bop19' mode: visible where the model is rendered (distModel > 0) and either it is not behind the test
 * surface by more than delta (distModel - distTest <= delta) or the test pixel has no measurement.
 */
export function estimateVisibMask(
  distTest: Float32Array,
  distModel: Float32Array,
  deltaM: number,
): Uint8Array {
  if (distTest.length !== distModel.length) {
    throw new EvalInputError('distModel', `length ${distModel.length} != distTest length ${distTest.length}`);
  }
  const out = new Uint8Array(distTest.length);
  for (let i = 0; i < out.length; i++) {
    const m = distModel[i];
    if (!(m > 0)) continue;
    const t = distTest[i];
    if (!(t > 0) || m - t <= deltaM) out[i] = 1;
  }
  return out;
}

/** GT visibility mask (bop_toolkit `estimate_visib_mask_gt`): {@link estimateVisibMask} of the GT render. */
export function estimateVisibMaskGt(
  distTest: Float32Array,
  distGt: Float32Array,
  deltaM: number,
): Uint8Array {
  return estimateVisibMask(distTest, distGt, deltaM);
}

/**
 * Estimate visibility mask (bop_toolkit `estimate_visib_mask_est`): the mask of the estimate render OR'ed
 * with (visibGt AND distEst > 0) — an estimate is not penalised where it covers the visible GT surface
 * even if it lies behind the test surface.
 */
export function estimateVisibMaskEst(
  distTest: Float32Array,
  distEst: Float32Array,
  visibGt: Uint8Array,
  deltaM: number,
): Uint8Array {
  const m = estimateVisibMask(distTest, distEst, deltaM);
  for (let i = 0; i < m.length; i++) if (visibGt[i] && distEst[i] > 0) m[i] = 1;
  return m;
}

export interface VsdOptions {
  /** Visibility tolerance, metres (BOP: 0.015). */
  deltaM?: number;
  /** Misalignment tolerances; fractions of the diameter when normalizedByDiameter (BOP: 0.05..0.5). */
  taus?: number[];
  /** Divide pixel distances by the diameter before comparing with tau (BOP 2019: true). */
  normalizedByDiameter?: boolean;
  /** Object diameter, metres; required when normalizedByDiameter. */
  diameterM?: number;
  costType?: VsdCostType;
}

/** BOP 2019 tau values and correctness thresholds: 0.05, 0.10, ..., 0.50. */
export const BOP19_VSD_TAUS: readonly number[] = Array.from({ length: 10 }, (_, i) => (i + 1) * 0.05);

/**
 * VSD from already rendered depth images (bop_toolkit `vsd` after its rendering step). For each tau:
 * e = (sum of costs over visibInter + |visibUnion \ visibInter|) / |visibUnion|, where the step cost is
 * 1 if |distGt - distEst| (/ diameter) >= tau else 0, and tlinear is min(1, dist / tau). If the union is
 * empty every error is 1. Returns one error in [0, 1] per tau.
 */
export function vsdFromDepth(
  depthEstM: Float32Array,
  depthGtM: Float32Array,
  depthTestM: Float32Array,
  camera: CameraIntrinsics,
  options: VsdOptions = {},
): number[] {
  const deltaM = options.deltaM ?? BOP_VSD_DELTA_M;
  const taus = options.taus ?? [...BOP19_VSD_TAUS];
  const normalized = options.normalizedByDiameter ?? true;
  const costType = options.costType ?? 'step';
  if (normalized) requirePositive('options.diameterM', options.diameterM ?? NaN);
  const n = camera.width * camera.height;
  for (const [name, d] of [
    ['depthEstM', depthEstM],
    ['depthGtM', depthGtM],
    ['depthTestM', depthTestM],
  ] as const) {
    if (d.length !== n) throw new EvalInputError(name, `length ${d.length} != camera width*height = ${n}`);
  }
  // Single pass over the pixels where either render is non-empty (elsewhere neither mask can be set);
  // identical to building the distance images and the bop19 masks with the helpers above.
  const { width, height, fx, fy, cx, cy } = camera;
  const scale = normalized ? 1 / (options.diameterM as number) : 1;
  const dists: number[] = [];
  let unionCount = 0;
  for (let v = 0; v < height; v++) {
    const yf = (v - cy) / fy;
    const row = v * width;
    for (let u = 0; u < width; u++) {
      const i = row + u;
      const de = depthEstM[i];
      const dg = depthGtM[i];
      const hasE = de > 0;
      const hasG = dg > 0;
      if (!hasE && !hasG) continue;
      const xf = (u - cx) / fx;
      const f = Math.sqrt(xf * xf + yf * yf + 1);
      const dt = depthTestM[i];
      const hasT = dt > 0;
      const distT = hasT ? dt * f : 0;
      const distG = hasG ? dg * f : 0;
      const distE = hasE ? de * f : 0;
      const visG = hasG && (!hasT || distG - distT <= deltaM);
      const visE = hasE && (!hasT || distE - distT <= deltaM || visG);
      if (visG || visE) unionCount++;
      if (visG && visE) dists.push(Math.abs(distG - distE) * scale);
    }
  }
  if (unionCount === 0) return taus.map(() => 1);
  const compCount = unionCount - dists.length;
  return taus.map((tau) => {
    let cost = 0;
    if (costType === 'step') {
      for (const d of dists) if (d >= tau) cost += 1;
    } else {
      for (const d of dists) cost += Math.min(1, d / tau);
    }
    return (cost + compCount) / unionCount;
  });
}

/**
 * VSD of an estimate (bop_toolkit `pose_error.vsd`): renders the model depth in the estimated and the GT
 * pose with the injected `renderDepth`, then {@link vsdFromDepth} against the test depth. Returns one error
 * per tau (default BOP 2019: delta 15 mm, taus 0.05..0.5 of the diameter, step cost).
 */
export function vsd<M>(
  est: Pose,
  gt: Pose,
  depthTestM: Float32Array,
  camera: CameraIntrinsics,
  model: M,
  renderDepth: RenderDepthFn<M>,
  options: VsdOptions = {},
): number[] {
  requirePose('est', est);
  requirePose('gt', gt);
  return vsdFromDepth(
    renderDepth(model, est, camera),
    renderDepth(model, gt, camera),
    depthTestM,
    camera,
    options,
  );
}

/**
 * CUS — Complement over Union of the projected silhouettes (bop_toolkit `cus`): 1 - |M_e ∩ M_g| / |M_e ∪ M_g|
 * with M = rendered depth > 0; 1 when the union is empty.
 */
export function cus<M>(
  est: Pose,
  gt: Pose,
  camera: CameraIntrinsics,
  model: M,
  renderDepth: RenderDepthFn<M>,
): number {
  const a = renderDepth(model, est, camera);
  const b = renderDepth(model, gt, camera);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] > 0;
    const y = b[i] > 0;
    if (x || y) union++;
    if (x && y) inter++;
  }
  return union > 0 ? 1 - inter / union : 1;
}
