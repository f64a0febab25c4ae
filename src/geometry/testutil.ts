/** Analytic fixtures shared by the geometry and pose tests (not exported from the index). */
import type { Pose } from '../types';
import { rotvecToMat3 } from './linalg';
import { SeededRng } from './rng';

/** Random rotation (uniform axis, angle in [0, maxAngleRad]) and translation in [-tMax, tMax]^3. */
export function randomPose(rng: SeededRng, maxAngleRad = Math.PI, tMax = 1): Pose {
  const ax = [rng.normal(), rng.normal(), rng.normal()];
  const l = Math.hypot(ax[0], ax[1], ax[2]);
  const ang = rng.next() * maxAngleRad;
  return {
    R: rotvecToMat3((ax[0] / l) * ang, (ax[1] / l) * ang, (ax[2] / l) * ang),
    tM: new Float64Array([
      (rng.next() * 2 - 1) * tMax,
      (rng.next() * 2 - 1) * tMax,
      (rng.next() * 2 - 1) * tMax,
    ]),
  };
}

/** Points uniformly on the surface of an axis-aligned box centred at the origin. */
export function boxSurface(rng: SeededRng, n: number, ex: number, ey: number, ez: number): Float32Array {
  const out = new Float32Array(3 * n);
  const areas = [ey * ez, ey * ez, ex * ez, ex * ez, ex * ey, ex * ey];
  const total = areas.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) {
    let r = rng.next() * total;
    let f = 0;
    while (r > areas[f] && f < 5) r -= areas[f++];
    const u = rng.next() - 0.5;
    const v = rng.next() - 0.5;
    const s = f % 2 === 0 ? 0.5 : -0.5;
    let p: number[];
    if (f < 2) p = [s * ex, u * ey, v * ez];
    else if (f < 4) p = [u * ex, s * ey, v * ez];
    else p = [u * ex, v * ey, s * ez];
    out.set(p, 3 * i);
  }
  return out;
}

/** Points uniformly on a sphere. */
export function sphereSurface(rng: SeededRng, n: number, radius: number, center = [0, 0, 0]): Float32Array {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const v = [rng.normal(), rng.normal(), rng.normal()];
    const l = Math.hypot(v[0], v[1], v[2]);
    for (let k = 0; k < 3; k++) out[3 * i + k] = center[k] + (radius * v[k]) / l;
  }
  return out;
}

/** An asymmetric "L"-shaped object: union of two boxes' surfaces plus a cylinder stub, for registration tests. */
export function asymmetricObject(rng: SeededRng, n: number): Float32Array {
  const a = boxSurface(rng, Math.floor(n * 0.5), 0.12, 0.04, 0.03);
  const b = boxSurface(rng, Math.floor(n * 0.3), 0.03, 0.08, 0.03);
  const c = sphereSurface(rng, n - Math.floor(n * 0.5) - Math.floor(n * 0.3), 0.02, [-0.04, 0.0, 0.03]);
  for (let i = 0; i < b.length; i += 3) {
    b[i] += 0.045;
    b[i + 1] += 0.06;
  }
  const out = new Float32Array(3 * n);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(c, a.length + b.length);
  return out;
}
