/** Helpers shared by the synth tests (analytic projections, independent of the rasterizer). */
import type { CameraIntrinsics, Pose } from '../types';
import type { Mesh } from './mesh';

/** REAL275 intrinsics scaled to 160x120 (fast tests). */
export const SMALL_CAMERA: CameraIntrinsics = {
  width: 160,
  height: 120,
  fx: 591.0125 / 4,
  fy: 590.16775 / 4,
  cx: 322.525 / 4,
  cy: 244.11084 / 4,
};

/** Projects mesh vertices with pose object -> camera; returns pixel coordinates [u, v][]. */
export function projectVertices(mesh: Mesh, poseCam: Pose, K: CameraIntrinsics): [number, number][] {
  const out: [number, number][] = [];
  const p = mesh.positionsM;
  const R = poseCam.R;
  for (let i = 0; i < p.length; i += 3) {
    const x = R[0] * p[i] + R[1] * p[i + 1] + R[2] * p[i + 2] + poseCam.tM[0];
    const y = R[3] * p[i] + R[4] * p[i + 1] + R[5] * p[i + 2] + poseCam.tM[1];
    const z = R[6] * p[i] + R[7] * p[i + 1] + R[8] * p[i + 2] + poseCam.tM[2];
    out.push([(K.fx * x) / z + K.cx, (K.fy * y) / z + K.cy]);
  }
  return out;
}

/** Convex hull (Andrew's monotone chain), counter-clockwise in (u, v). */
export function convexHull(points: [number, number][]): [number, number][] {
  const pts = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: [number, number], a: [number, number], b: [number, number]): number =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: [number, number][] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/** Shoelace area of a polygon (pixels^2). */
export function polygonArea(poly: [number, number][]): number {
  let a = 0;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i];
    const q = poly[(i + 1) % poly.length];
    a += p[0] * q[1] - q[0] * p[1];
  }
  return Math.abs(a) / 2;
}

/** Rasterises a convex counter-clockwise polygon at pixel centres (u, v integer) into a 0/1 mask. */
export function convexPolygonMask(poly: [number, number][], W: number, H: number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let v = 0; v < H; v++) {
    for (let u = 0; u < W; u++) {
      let inside = true;
      for (let i = 0; i < poly.length && inside; i++) {
        const a = poly[i];
        const b = poly[(i + 1) % poly.length];
        if ((b[0] - a[0]) * (v - a[1]) - (b[1] - a[1]) * (u - a[0]) < 0) inside = false;
      }
      if (inside) m[v * W + u] = 1;
    }
  }
  return m;
}

/** Intersection over union of two masks (non-zero = in). */
export function maskIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0;
  let uni = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) uni++;
  }
  return uni > 0 ? inter / uni : 0;
}
