import type { Pose } from '../types';
import { KdTree } from '../geometry/kdtree';
import { axisAngleToMat3, mat3Mul, mat3Vec, rotationAngleBetween } from '../geometry/linalg';
import type { ModelSymmetries } from './types';

/** ADD (Hinterstoisser 2012): mean distance between model points under the estimated and the true pose. */
export function addError(est: Pose, gt: Pose, modelPointsM: ArrayLike<number>): number {
  const n = Math.floor(modelPointsM.length / 3);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = [modelPointsM[3 * i], modelPointsM[3 * i + 1], modelPointsM[3 * i + 2]];
    const a = mat3Vec(est.R, p);
    const b = mat3Vec(gt.R, p);
    s += Math.hypot(
      a[0] + est.tM[0] - b[0] - gt.tM[0],
      a[1] + est.tM[1] - b[1] - gt.tM[1],
      a[2] + est.tM[2] - b[2] - gt.tM[2],
    );
  }
  return n ? s / n : NaN;
}

/** ADD-S: mean distance from each estimated model point to the closest true model point (symmetric objects). */
export function addsError(est: Pose, gt: Pose, modelPointsM: ArrayLike<number>): number {
  const n = Math.floor(modelPointsM.length / 3);
  const e = new Float32Array(3 * n);
  const g = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const p = [modelPointsM[3 * i], modelPointsM[3 * i + 1], modelPointsM[3 * i + 2]];
    const a = mat3Vec(est.R, p);
    const b = mat3Vec(gt.R, p);
    for (let k = 0; k < 3; k++) {
      e[3 * i + k] = a[k] + est.tM[k];
      g[3 * i + k] = b[k] + gt.tM[k];
    }
  }
  const tree = new KdTree(g);
  let s = 0;
  for (let i = 0; i < n; i++) {
    tree.nearest(e[3 * i], e[3 * i + 1], e[3 * i + 2]);
    s += Math.sqrt(tree.lastDist2);
  }
  return n ? s / n : NaN;
}

/** Rotation error in degrees (geodesic). */
export function rotationErrorDeg(est: Pose, gt: Pose): number {
  return (rotationAngleBetween(est.R, gt.R) * 180) / Math.PI;
}

/** Translation error in metres. */
export function translationErrorM(est: Pose, gt: Pose): number {
  return Math.hypot(est.tM[0] - gt.tM[0], est.tM[1] - gt.tM[1], est.tM[2] - gt.tM[2]);
}

/** The discrete symmetry transforms of a model as poses (identity first); continuous ones sampled every `stepDeg`. */
export function symmetryTransforms(sym: ModelSymmetries | undefined, stepDeg = 10): Pose[] {
  const out: Pose[] = [{ R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) }];
  for (const s of sym?.discrete ?? [])
    out.push({ R: Float64Array.from(s.R), tM: Float64Array.from(s.tM ?? [0, 0, 0]) });
  for (const c of sym?.continuous ?? []) {
    const o = c.originM ?? [0, 0, 0];
    for (let a = stepDeg; a < 360; a += stepDeg) {
      const R = axisAngleToMat3(c.axis, (a * Math.PI) / 180);
      const Ro = mat3Vec(R, o);
      out.push({ R, tM: new Float64Array([o[0] - Ro[0], o[1] - Ro[1], o[2] - Ro[2]]) });
    }
  }
  return out;
}

/**
 * Among the poses equivalent under the model's symmetries (pose ∘ S), returns the one closest in rotation to
 * `reference` (e.g. the previous frame's pose, or the ground truth for evaluation).
 */
export function canonicalizeSymmetricPose(
  pose: Pose,
  sym: ModelSymmetries | undefined,
  reference: Pose,
): Pose {
  let best = pose;
  let bestAng = Infinity;
  for (const S of symmetryTransforms(sym, 1)) {
    const R = mat3Mul(pose.R, S.R);
    const t = mat3Vec(pose.R, S.tM);
    const cand = { R, tM: new Float64Array([t[0] + pose.tM[0], t[1] + pose.tM[1], t[2] + pose.tM[2]]) };
    const ang = rotationAngleBetween(R, reference.R);
    if (ang < bestAng) {
      bestAng = ang;
      best = cand;
    }
  }
  return best;
}
