/**
 * Pose error functions, one per metric, following bop_toolkit `bop_toolkit_lib/pose_error.py` and the BOP
 * challenge 2019/2020 definitions (Hodan et al., "BOP Challenge 2020 on 6D Object Localization", ECCVW 2020;
 * Hodan et al., "On Evaluation of 6D Object Pose Estimation", ECCVW 2016).
 * Units: model points and translations in metres; errors in metres unless the name says otherwise.
 */
import type { CameraIntrinsics, Pose } from '../../types';
import { EvalInputError, requirePoints, requirePose } from './errors';
import { composePoses, matMul3, projectPoints, transformPoints, transpose3 } from './linalg';
import { cachedNnIndex, nearestDistance } from './nn';

/**
 * ADD — Average Distance of model points (Hinterstoisser et al., ACCV 2012; bop_toolkit `add`):
 * mean_i || (R_e p_i + t_e) - (R_g p_i + t_g) ||. Returns metres.
 */
export function add(est: Pose, gt: Pose, pointsM: ArrayLike<number>): number {
  requirePose('est', est);
  requirePose('gt', gt);
  requirePoints('pointsM', pointsM);
  const a = transformPoints(pointsM, est);
  const b = transformPoints(pointsM, gt);
  let sum = 0;
  const n = a.length / 3;
  for (let i = 0; i < n; i++) {
    sum += Math.hypot(a[3 * i] - b[3 * i], a[3 * i + 1] - b[3 * i + 1], a[3 * i + 2] - b[3 * i + 2]);
  }
  return sum / n;
}

/**
 * ADD-S / ADI — Average distance for objects with indistinguishable views (Hinterstoisser et al. 2012;
 * bop_toolkit `adi`): for every model point in the GT pose, the distance to the nearest model point in the
 * estimated pose, averaged. Returns metres. Nearest neighbours: exact k-d tree search (see nn.ts); the
 * model's index is cached per points array, so do not mutate `pointsM` between calls.
 */
export function adi(est: Pose, gt: Pose, pointsM: ArrayLike<number>): number {
  requirePose('est', est);
  requirePose('gt', gt);
  requirePoints('pointsM', pointsM);
  // ||R_e p_j + t_e - q|| = ||p_j - R_e^T (q - t_e)||: query the GT-pose points, mapped into the estimate's
  // object frame, against the model's own (cached) index.
  const index = cachedNnIndex(pointsM);
  const ptsGt = transformPoints(pointsM, gt);
  const R = est.R;
  const t = est.tM;
  const n = ptsGt.length / 3;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = ptsGt[3 * i] - t[0];
    const y = ptsGt[3 * i + 1] - t[1];
    const z = ptsGt[3 * i + 2] - t[2];
    sum += nearestDistance(
      index,
      R[0] * x + R[3] * y + R[6] * z,
      R[1] * x + R[4] * y + R[7] * z,
      R[2] * x + R[5] * y + R[8] * z,
    );
  }
  return sum / n;
}

/** Alias of {@link adi} under its common name. */
export const addS = adi;

/**
 * Rotation error in degrees (bop_toolkit `re`): acos((trace(R_e R_g^-1) - 1) / 2), with the cosine clamped
 * to [-1, 1] against round-off.
 */
export function re(REst: ArrayLike<number>, RGt: ArrayLike<number>): number {
  if (REst.length !== 9 || RGt.length !== 9) {
    throw new EvalInputError('REst/RGt', 'must be row-major 3x3 rotations (9 numbers)');
  }
  const M = matMul3(REst, transpose3(RGt));
  const c = Math.min(1, Math.max(-1, 0.5 * (M[0] + M[4] + M[8] - 1)));
  return (Math.acos(c) * 180) / Math.PI;
}

/** Translation error (bop_toolkit `te`): ||t_e - t_g|| in metres. */
export function te(tEstM: ArrayLike<number>, tGtM: ArrayLike<number>): number {
  if (tEstM.length !== 3 || tGtM.length !== 3) throw new EvalInputError('tEstM/tGtM', 'must have 3 elements');
  return Math.hypot(tEstM[0] - tGtM[0], tEstM[1] - tGtM[1], tEstM[2] - tGtM[2]);
}

/** Translation error in centimetres (NOCS / Oryon report cm): 100 * {@link te}. */
export function teCm(tEstM: ArrayLike<number>, tGtM: ArrayLike<number>): number {
  return 100 * te(tEstM, tGtM);
}

/**
 * MSSD — Maximum Symmetry-aware Surface Distance (BOP 2019; bop_toolkit `mssd`):
 * min over symmetries S of max_i || (R_e p_i + t_e) - (R_g S p_i + t_g') ||, where the GT pose composed with
 * each symmetry transform is R_g R_S, R_g t_S + t_g. `symmetries` comes from getSymmetryTransformations
 * (it must contain the identity for asymmetric objects). Returns metres. Symmetries whose running maximum
 * already exceeds the best minimum are abandoned early (same result, faster).
 */
export function mssd(est: Pose, gt: Pose, pointsM: ArrayLike<number>, symmetries: Pose[]): number {
  requirePose('est', est);
  requirePose('gt', gt);
  requirePoints('pointsM', pointsM);
  if (symmetries.length === 0) {
    throw new EvalInputError(
      'symmetries',
      'is empty; pass getSymmetryTransformations(info) (contains identity)',
    );
  }
  const pe = transformPoints(pointsM, est);
  const n = pe.length / 3;
  let best2 = Infinity;
  for (const s of symmetries) {
    const g = composePoses(gt, s);
    const R = g.R;
    const t = g.tM;
    let max2 = 0;
    for (let i = 0; i < n && max2 < best2; i++) {
      const x = pointsM[3 * i];
      const y = pointsM[3 * i + 1];
      const z = pointsM[3 * i + 2];
      const dx = R[0] * x + R[1] * y + R[2] * z + t[0] - pe[3 * i];
      const dy = R[3] * x + R[4] * y + R[5] * z + t[1] - pe[3 * i + 1];
      const dz = R[6] * x + R[7] * y + R[8] * z + t[2] - pe[3 * i + 2];
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 > max2) max2 = d2;
    }
    if (max2 < best2) best2 = max2;
  }
  return Math.sqrt(best2);
}

/**
 * MSPD — Maximum Symmetry-aware Projection Distance in pixels (BOP 2019; bop_toolkit `mspd`):
 * min over symmetries of max_i || proj(R_e p_i + t_e) - proj(R_g S p_i + t_g') ||_2.
 * The BOP thresholds are 5..50 px scaled by r = imageWidth / 640 (see mspdThresholdsPx); equivalently,
 * compare `mspd * 640 / imageWidth` with 5..50 px (see mspdNormalisedPx).
 */
export function mspd(
  est: Pose,
  gt: Pose,
  camera: CameraIntrinsics,
  pointsM: ArrayLike<number>,
  symmetries: Pose[],
): number {
  requirePose('est', est);
  requirePose('gt', gt);
  requirePoints('pointsM', pointsM);
  if (symmetries.length === 0) {
    throw new EvalInputError(
      'symmetries',
      'is empty; pass getSymmetryTransformations(info) (contains identity)',
    );
  }
  const pe = projectPoints(pointsM, camera, est);
  const n = pe.length / 2;
  let best2 = Infinity;
  for (const s of symmetries) {
    const g = composePoses(gt, s);
    const R = g.R;
    const t = g.tM;
    let max2 = 0;
    for (let i = 0; i < n && max2 < best2; i++) {
      const x = pointsM[3 * i];
      const y = pointsM[3 * i + 1];
      const z = pointsM[3 * i + 2];
      const X = R[0] * x + R[1] * y + R[2] * z + t[0];
      const Y = R[3] * x + R[4] * y + R[5] * z + t[1];
      const Z = R[6] * x + R[7] * y + R[8] * z + t[2];
      const du = (camera.fx * X) / Z + camera.cx - pe[2 * i];
      const dv = (camera.fy * Y) / Z + camera.cy - pe[2 * i + 1];
      const d2 = du * du + dv * dv;
      if (d2 > max2) max2 = d2;
    }
    if (max2 < best2) best2 = max2;
  }
  return Math.sqrt(best2);
}

/** MSPD expressed at the 640-px reference width: mspdPx * 640 / imageWidth (BOP's r = w / 640 scaling). */
export function mspdNormalisedPx(mspdPx: number, imageWidth: number): number {
  if (!(imageWidth > 0)) throw new EvalInputError('imageWidth', `must be > 0, got ${imageWidth}`);
  return (mspdPx * 640) / imageWidth;
}

/**
 * Proj — mean 2D distance of projected model points in pixels (Brachmann et al. CVPR 2016; bop_toolkit
 * `proj`).
 */
export function proj(est: Pose, gt: Pose, camera: CameraIntrinsics, pointsM: ArrayLike<number>): number {
  requirePoints('pointsM', pointsM);
  const a = projectPoints(pointsM, camera, est);
  const b = projectPoints(pointsM, camera, gt);
  let sum = 0;
  const n = a.length / 2;
  for (let i = 0; i < n; i++) sum += Math.hypot(a[2 * i] - b[2 * i], a[2 * i + 1] - b[2 * i + 1]);
  return sum / n;
}

/**
 * Object diameter: the largest distance between any two model points (BOP models_info `diameter`;
 * Oryon recomputes it from the points for ADD(S)-0.1d). O(n^2); call once per object.
 */
export function modelDiameter(pointsM: ArrayLike<number>): number {
  requirePoints('pointsM', pointsM);
  const n = pointsM.length / 3;
  let best2 = 0;
  for (let i = 0; i < n; i++) {
    const x = pointsM[3 * i];
    const y = pointsM[3 * i + 1];
    const z = pointsM[3 * i + 2];
    for (let j = i + 1; j < n; j++) {
      const dx = pointsM[3 * j] - x;
      const dy = pointsM[3 * j + 1] - y;
      const dz = pointsM[3 * j + 2] - z;
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 > best2) best2 = d2;
    }
  }
  return Math.sqrt(best2);
}
