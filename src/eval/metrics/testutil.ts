/** Test fixtures for the metric tests: analytic models and a tiny analytic depth renderer. */
import type { CameraIntrinsics, Pose } from '../../types';
import { EvalInputError } from './errors';

/** Points on the lateral surface of a z-axis cylinder: `nAngles` evenly spaced angles x `nHeights` rings. */
export function cylinderPoints(
  radiusM: number,
  heightM: number,
  nAngles: number,
  nHeights: number,
): Float64Array {
  const out = new Float64Array(nAngles * nHeights * 3);
  let k = 0;
  for (let h = 0; h < nHeights; h++) {
    const z = nHeights === 1 ? 0 : -heightM / 2 + (heightM * h) / (nHeights - 1);
    for (let a = 0; a < nAngles; a++) {
      const t = (2 * Math.PI * a) / nAngles;
      out[k++] = radiusM * Math.cos(t);
      out[k++] = radiusM * Math.sin(t);
      out[k++] = z;
    }
  }
  return out;
}

/** Deterministic pseudo-random points in a box [-s, s]^3 (mulberry32). */
export function randomPoints(n: number, s: number, seed: number): Float64Array {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n * 3);
  for (let i = 0; i < out.length; i++) out[i] = (rnd() * 2 - 1) * s;
  return out;
}

/** A fronto-parallel square patch of half-size `halfM` centred at the object origin (object z = 0). */
export interface PatchModel {
  halfM: number;
}

/**
 * Analytic renderer for {@link PatchModel}: supports identity rotations only (throws otherwise); each
 * pixel (u, v) sees the plane Z = t_z at X = (u - cx) Z / fx, Y = (v - cy) Z / fy, covered when
 * |X - t_x| <= half and |Y - t_y| <= half.
 */
export function renderPatchDepth(model: PatchModel, pose: Pose, camera: CameraIntrinsics): Float32Array {
  const R = pose.R;
  if (R[0] !== 1 || R[4] !== 1 || R[8] !== 1)
    throw new EvalInputError('pose.R', 'patch renderer needs identity R');
  const out = new Float32Array(camera.width * camera.height);
  const Z = pose.tM[2];
  for (let v = 0; v < camera.height; v++) {
    for (let u = 0; u < camera.width; u++) {
      const X = ((u - camera.cx) * Z) / camera.fx - pose.tM[0];
      const Y = ((v - camera.cy) * Z) / camera.fy - pose.tM[1];
      if (Math.abs(X) <= model.halfM && Math.abs(Y) <= model.halfM) out[v * camera.width + u] = Z;
    }
  }
  return out;
}
