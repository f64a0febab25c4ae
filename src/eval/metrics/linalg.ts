/**
 * Small rigid-transform helpers for the metrics (poses follow src/types.ts: p_cam = R * p_obj + tM,
 * R row-major). Kept local so the metrics have no dependency on modules still being written.
 */
import type { CameraIntrinsics, Pose } from '../../types';

/** Identity pose. */
export function identityPose(): Pose {
  return { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) };
}

/** Builds a Pose from plain arrays (row-major R, t in metres). */
export function makePose(R: ArrayLike<number>, tM: ArrayLike<number>): Pose {
  return { R: Float64Array.from(R), tM: Float64Array.from(tM) };
}

/** Returns a * b for row-major 3x3 matrices. */
export function matMul3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      out[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
  }
  return out;
}

/** Returns the transpose of a row-major 3x3 matrix. */
export function transpose3(a: ArrayLike<number>): Float64Array {
  return new Float64Array([a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]);
}

/** Returns R * v. */
export function matVec3(R: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  return new Float64Array([
    R[0] * v[0] + R[1] * v[1] + R[2] * v[2],
    R[3] * v[0] + R[4] * v[1] + R[5] * v[2],
    R[6] * v[0] + R[7] * v[1] + R[8] * v[2],
  ]);
}

/** Composition a ∘ b: p -> a(b(p)), i.e. the 4x4 product A * B. */
export function composePoses(a: Pose, b: Pose): Pose {
  const R = matMul3(a.R, b.R);
  const t = matVec3(a.R, b.tM);
  t[0] += a.tM[0];
  t[1] += a.tM[1];
  t[2] += a.tM[2];
  return { R, tM: t };
}

/** Inverse of a rigid transform (R^T, -R^T t). */
export function invertPose(p: Pose): Pose {
  const Rt = transpose3(p.R);
  const t = matVec3(Rt, p.tM);
  return { R: Rt, tM: new Float64Array([-t[0], -t[1], -t[2]]) };
}

/** Rotation of `angleRad` about the unit-normalised `axis` (Rodrigues), row-major. */
export function axisAngleToR(axis: ArrayLike<number>, angleRad: number): Float64Array {
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const x = axis[0] / n;
  const y = axis[1] / n;
  const z = axis[2] / n;
  const c = Math.cos(angleRad);
  const s = Math.sin(angleRad);
  const C = 1 - c;
  return new Float64Array([
    c + x * x * C,
    x * y * C - z * s,
    x * z * C + y * s,
    y * x * C + z * s,
    c + y * y * C,
    y * z * C - x * s,
    z * x * C - y * s,
    z * y * C + x * s,
    c + z * z * C,
  ]);
}

/** Transforms interleaved xyz points: out_i = R p_i + t (bop_toolkit misc.transform_pts_Rt). */
export function transformPoints(pointsM: ArrayLike<number>, pose: Pose): Float64Array {
  const n = pointsM.length / 3;
  const out = new Float64Array(n * 3);
  const R = pose.R;
  const t = pose.tM;
  for (let i = 0; i < n; i++) {
    const x = pointsM[3 * i];
    const y = pointsM[3 * i + 1];
    const z = pointsM[3 * i + 2];
    out[3 * i] = R[0] * x + R[1] * y + R[2] * z + t[0];
    out[3 * i + 1] = R[3] * x + R[4] * y + R[5] * z + t[1];
    out[3 * i + 2] = R[6] * x + R[7] * y + R[8] * z + t[2];
  }
  return out;
}

/**
 * Pinhole projection of model points under a pose (bop_toolkit misc.project_pts: K (R p + t), divided by
 * depth; no distortion). Returns interleaved (u, v) pixel coordinates.
 */
export function projectPoints(
  pointsM: ArrayLike<number>,
  camera: CameraIntrinsics,
  pose: Pose,
): Float64Array {
  const n = pointsM.length / 3;
  const out = new Float64Array(n * 2);
  const R = pose.R;
  const t = pose.tM;
  for (let i = 0; i < n; i++) {
    const x = pointsM[3 * i];
    const y = pointsM[3 * i + 1];
    const z = pointsM[3 * i + 2];
    const X = R[0] * x + R[1] * y + R[2] * z + t[0];
    const Y = R[3] * x + R[4] * y + R[5] * z + t[1];
    const Z = R[6] * x + R[7] * y + R[8] * z + t[2];
    out[2 * i] = (camera.fx * X) / Z + camera.cx;
    out[2 * i + 1] = (camera.fy * Y) / Z + camera.cy;
  }
  return out;
}
