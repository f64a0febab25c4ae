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

/**
 * An asymmetric object without internal surfaces: a 12x4x3 cm bar, an 3x8x3 cm arm attached at one end and a
 * 2 cm-radius ball on top near the other end (surface points inside another part are rejected).
 */
export function asymmetricObject(rng: SeededRng, n: number): Float32Array {
  const inBox = (p: number[], c: number[], e: number[]) =>
    Math.abs(p[0] - c[0]) < e[0] / 2 - 1e-6 &&
    Math.abs(p[1] - c[1]) < e[1] / 2 - 1e-6 &&
    Math.abs(p[2] - c[2]) < e[2] / 2 - 1e-6;
  const A = { c: [0, 0, 0], e: [0.12, 0.04, 0.03] };
  const B = { c: [0.045, 0.05, 0], e: [0.03, 0.06 + 0.002, 0.03] };
  const S = { c: [-0.04, 0, 0.03], r: 0.02 };
  const inS = (p: number[]) => Math.hypot(p[0] - S.c[0], p[1] - S.c[1], p[2] - S.c[2]) < S.r - 1e-6;
  const out = new Float32Array(3 * n);
  const areas = [0.0168, 0.0102, 0.005];
  const total = areas[0] + areas[1] + areas[2];
  let m = 0;
  while (m < n) {
    const r = rng.next() * total;
    let p: number[];
    if (r < areas[0]) {
      p = Array.from(boxSurface(rng, 1, A.e[0], A.e[1], A.e[2]));
      if (inBox(p, B.c, B.e) || inS(p)) continue;
    } else if (r < areas[0] + areas[1]) {
      const q = boxSurface(rng, 1, B.e[0], B.e[1], B.e[2]);
      p = [q[0] + B.c[0], q[1] + B.c[1], q[2] + B.c[2]];
      if (inBox(p, A.c, A.e)) continue;
    } else {
      const q = sphereSurface(rng, 1, S.r, S.c);
      p = [q[0], q[1], q[2]];
      if (inBox(p, A.c, A.e)) continue;
    }
    out.set(p, 3 * m++);
  }
  return out;
}

/** Z-buffer splat of object points (object frame) under `pose` into a pinhole camera: depth, mask, object coords. */
export function renderPoints(
  objPts: Float32Array,
  pose: Pose,
  cam: { width: number; height: number; fx: number; fy: number; cx: number; cy: number },
): { depthM: Float32Array; mask: Uint8Array; objCoords: Float32Array } {
  const { width: w, height: h } = cam;
  const depthM = new Float32Array(w * h);
  const mask = new Uint8Array(w * h);
  const objCoords = new Float32Array(3 * w * h);
  const R = pose.R;
  const t = pose.tM;
  for (let i = 0; i < objPts.length; i += 3) {
    const x = objPts[i];
    const y = objPts[i + 1];
    const z = objPts[i + 2];
    const X = R[0] * x + R[1] * y + R[2] * z + t[0];
    const Y = R[3] * x + R[4] * y + R[5] * z + t[1];
    const Z = R[6] * x + R[7] * y + R[8] * z + t[2];
    if (Z <= 0) continue;
    const u = Math.round((cam.fx * X) / Z + cam.cx);
    const v = Math.round((cam.fy * Y) / Z + cam.cy);
    if (u < 0 || v < 0 || u >= w || v >= h) continue;
    const p = v * w + u;
    if (mask[p] && depthM[p] <= Z) continue;
    depthM[p] = Z;
    mask[p] = 1;
    objCoords[3 * p] = x;
    objCoords[3 * p + 1] = y;
    objCoords[3 * p + 2] = z;
  }
  return { depthM, mask, objCoords };
}

/**
 * Test feature generator standing in for DeCLIP (no pretrained features exist here): random Fourier features of
 * the object-frame coordinate of each masked pixel plus Gaussian noise; zeros elsewhere. Full-resolution grid.
 */
export function fourierFeatures(
  objCoords: Float32Array,
  mask: Uint8Array,
  dim: number,
  seed: number,
  noise: number,
  noiseSeed = seed + 1,
  scalePerM = 40,
): Float32Array {
  const rng = new SeededRng(seed);
  const omega = Array.from({ length: dim }, () => [
    rng.normal() * scalePerM,
    rng.normal() * scalePerM,
    rng.normal() * scalePerM,
  ]);
  const phase = Array.from({ length: dim }, () => rng.next() * 2 * Math.PI);
  const noiseRng = new SeededRng(noiseSeed);
  const out = new Float32Array(mask.length * dim);
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    for (let k = 0; k < dim; k++) {
      const a =
        omega[k][0] * objCoords[3 * p] +
        omega[k][1] * objCoords[3 * p + 1] +
        omega[k][2] * objCoords[3 * p + 2];
      out[p * dim + k] = Math.cos(a + phase[k]) + noise * noiseRng.normal();
    }
  }
  return out;
}

/** A curved asymmetric object ("duck"): ellipsoid body 12x8x6 cm, a 2.5 cm-radius head and a 1.5 cm tail bump. */
export function curvedObject(rng: SeededRng, n: number): Float32Array {
  const parts = [
    { c: [0, 0, 0], r: [0.06, 0.04, 0.03], area: 0.0226 },
    { c: [0.055, 0, 0.035], r: [0.025, 0.025, 0.025], area: 0.0079 },
    { c: [-0.06, 0, 0.02], r: [0.015, 0.015, 0.015], area: 0.0028 },
  ];
  const inside = (p: number[], q: (typeof parts)[number]) =>
    ((p[0] - q.c[0]) / q.r[0]) ** 2 + ((p[1] - q.c[1]) / q.r[1]) ** 2 + ((p[2] - q.c[2]) / q.r[2]) ** 2 <
    1 - 1e-9;
  const total = parts.reduce((s, p) => s + p.area, 0);
  const out = new Float32Array(3 * n);
  let m = 0;
  while (m < n) {
    let r = rng.next() * total;
    let k = 0;
    while (r > parts[k].area && k < parts.length - 1) r -= parts[k++].area;
    const q = parts[k];
    const v = [rng.normal(), rng.normal(), rng.normal()];
    const l = Math.hypot(v[0], v[1], v[2]);
    const p = [0, 1, 2].map((i) => q.c[i] + (q.r[i] * v[i]) / l);
    if (parts.some((o, j) => j !== k && inside(p, o))) continue;
    out.set(p, 3 * m++);
  }
  return out;
}
