/** Small rigid-transform helpers over Pose (row-major R, tM metres). */
import type { Pose } from '../types';

export type Vec3 = [number, number, number];

/** Identity pose. */
export function identityPose(): Pose {
  return { R: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) };
}

/** Pose from a row-major rotation and a translation in metres. */
export function makePose(R: ArrayLike<number>, tM: ArrayLike<number>): Pose {
  return { R: Float64Array.from(R), tM: Float64Array.from(tM) };
}

/** a * b (apply b first). */
export function composePose(a: Pose, b: Pose): Pose {
  const R = new Float64Array(9);
  const t = new Float64Array(3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      R[3 * i + j] = a.R[3 * i] * b.R[j] + a.R[3 * i + 1] * b.R[3 + j] + a.R[3 * i + 2] * b.R[6 + j];
    }
    t[i] = a.R[3 * i] * b.tM[0] + a.R[3 * i + 1] * b.tM[1] + a.R[3 * i + 2] * b.tM[2] + a.tM[i];
  }
  return { R, tM: t };
}

/** Inverse rigid transform. */
export function invertPose(p: Pose): Pose {
  const R = new Float64Array(9);
  const t = new Float64Array(3);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) R[3 * i + j] = p.R[3 * j + i];
  for (let i = 0; i < 3; i++) t[i] = -(R[3 * i] * p.tM[0] + R[3 * i + 1] * p.tM[1] + R[3 * i + 2] * p.tM[2]);
  return { R, tM: t };
}

/** p' = R p + t for one point. */
export function transformPoint(p: Pose, x: number, y: number, z: number): Vec3 {
  const R = p.R;
  return [
    R[0] * x + R[1] * y + R[2] * z + p.tM[0],
    R[3] * x + R[4] * y + R[5] * z + p.tM[1],
    R[6] * x + R[7] * y + R[8] * z + p.tM[2],
  ];
}

/** Rotation about z by `rad` (row-major). */
export function rotZ(rad: number): Float64Array {
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  return Float64Array.from([c, -s, 0, s, c, 0, 0, 0, 1]);
}

/** Rotation about x by `rad` (row-major). */
export function rotX(rad: number): Float64Array {
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  return Float64Array.from([1, 0, 0, 0, c, -s, 0, s, c]);
}

/** Rotation about y by `rad` (row-major). */
export function rotY(rad: number): Float64Array {
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  return Float64Array.from([c, 0, s, 0, 1, 0, -s, 0, c]);
}

/** Product of two row-major 3x3 matrices. */
export function matMul3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      out[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    }
  }
  return out;
}

/** Transpose of a row-major 3x3 matrix. */
export function transpose3(a: ArrayLike<number>): Float64Array {
  return Float64Array.from([a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]);
}

/**
 * Camera pose (camera -> world) of an optical-frame camera (x right, y down, z forward) at `eyeM` looking at
 * `targetM`, with world +z as "up" in the image.
 */
export function lookAt(eyeM: Vec3, targetM: Vec3, up: Vec3 = [0, 0, 1]): Pose {
  let zx = targetM[0] - eyeM[0];
  let zy = targetM[1] - eyeM[1];
  let zz = targetM[2] - eyeM[2];
  const zn = Math.hypot(zx, zy, zz);
  zx /= zn;
  zy /= zn;
  zz /= zn;
  let xx = zy * up[2] - zz * up[1];
  let xy = zz * up[0] - zx * up[2];
  let xz = zx * up[1] - zy * up[0];
  let xn = Math.hypot(xx, xy, xz);
  if (xn < 1e-9) {
    // Looking straight along `up`: pick any perpendicular right vector.
    xx = 1;
    xy = 0;
    xz = 0;
    xn = 1;
  }
  xx /= xn;
  xy /= xn;
  xz /= xn;
  const yx = zy * xz - zz * xy;
  const yy = zz * xx - zx * xz;
  const yz = zx * xy - zy * xx;
  // Columns of R_world_cam are the camera axes in world coordinates.
  return {
    R: Float64Array.from([xx, yx, zx, xy, yy, zy, xz, yz, zz]),
    tM: Float64Array.from(eyeM),
  };
}
