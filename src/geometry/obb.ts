import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { GeometryInputError } from './errors';
import { computeCentroid, computeCovariance } from './pointcloud';

/**
 * Oriented bounding box. `R` is row-major with the box axes as columns (box -> camera rotation, right-handed),
 * so a box corner is center + R * (±extentM/2). Axes are ordered by extent, longest first.
 */
export interface OrientedBox {
  center: Float64Array;
  R: Float64Array;
  /** Full side lengths along the box axes, metres. */
  extentM: Float64Array;
}

type V2 = [number, number];

/**
 * Box orientations are searched on an even subsample of at most this many points (hulls and calipers); the
 * extents along the chosen axes always come from every point, so the box still contains them all.
 */
const HULL_SAMPLE = 600;

function convexHull2d(pts: V2[]): V2[] {
  const p = pts.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o: V2, a: V2, b: V2) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: V2[] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: V2[] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  upper.pop();
  lower.pop();
  return lower.concat(upper);
}

/** Minimum-area enclosing rectangle of 2D points (rotating calipers over hull edges): angle of its first axis. */
function minAreaRectAngle(pts: V2[]): { angle: number; area: number } {
  const hull = convexHull2d(pts);
  let best = { angle: 0, area: Infinity };
  if (hull.length < 3) {
    if (hull.length === 2) {
      return { angle: Math.atan2(hull[1][1] - hull[0][1], hull[1][0] - hull[0][0]), area: 0 };
    }
    return { angle: 0, area: 0 };
  }
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i];
    const b = hull[(i + 1) % hull.length];
    const ang = Math.atan2(b[1] - a[1], b[0] - a[0]);
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    let minU = Infinity,
      maxU = -Infinity,
      minV = Infinity,
      maxV = -Infinity;
    for (const q of hull) {
      const u = c * q[0] + s * q[1];
      const v = -s * q[0] + c * q[1];
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < best.area) best = { angle: ang, area };
  }
  return best;
}

function cross3(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Min / max projections of the finite points on three axes: [min0, min1, min2, max0, max1, max2]. */
const extentScratch = new Float64Array(6);

/**
 * The point loop of `fitAlongAxes`, as its own small function: a long loop inside a larger function is compiled
 * on-stack before the code after it has type feedback, and V8 then deoptimised fitAlongAxes twice per call.
 */
function projectExtents(
  points: ArrayLike<number>,
  a00: number,
  a01: number,
  a02: number,
  a10: number,
  a11: number,
  a12: number,
  a20: number,
  a21: number,
  a22: number,
): Float64Array {
  let m0 = Infinity,
    m1 = Infinity,
    m2 = Infinity,
    M0 = -Infinity,
    M1 = -Infinity,
    M2 = -Infinity;
  for (let i = 0; i + 2 < points.length; i += 3) {
    const x = points[i];
    const y = points[i + 1];
    const z = points[i + 2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    const d0 = a00 * x + a01 * y + a02 * z;
    const d1 = a10 * x + a11 * y + a12 * z;
    const d2 = a20 * x + a21 * y + a22 * z;
    if (d0 < m0) m0 = d0;
    if (d0 > M0) M0 = d0;
    if (d1 < m1) m1 = d1;
    if (d1 > M1) M1 = d1;
    if (d2 < m2) m2 = d2;
    if (d2 > M2) M2 = d2;
  }
  const e = extentScratch;
  e[0] = m0;
  e[1] = m1;
  e[2] = m2;
  e[3] = M0;
  e[4] = M1;
  e[5] = M2;
  return e;
}

/** Box from three orthonormal axes: extents and centre from the min/max projections of the points. */
function fitAlongAxes(points: ArrayLike<number>, axes: number[][]): OrientedBox {
  const A0 = axes[0];
  const A1 = axes[1];
  const A2 = axes[2];
  const e = projectExtents(points, A0[0], A0[1], A0[2], A1[0], A1[1], A1[2], A2[0], A2[1], A2[2]);
  const mins = [e[0], e[1], e[2]];
  const maxs = [e[3], e[4], e[5]];
  const ext = [0, 1, 2].map((a) => maxs[a] - mins[a]);
  const order = [0, 1, 2].sort((a, b) => ext[b] - ext[a]);
  const ax0 = axes[order[0]];
  const ax1 = axes[order[1]];
  const ax2 = cross3(ax0, ax1);
  const center = new Float64Array(3);
  for (let a = 0; a < 3; a++) {
    const mid = (mins[a] + maxs[a]) / 2;
    for (let c = 0; c < 3; c++) center[c] += mid * axes[a][c];
  }
  const R = new Float64Array([ax0[0], ax1[0], ax2[0], ax0[1], ax1[1], ax2[1], ax0[2], ax1[2], ax2[2]]);
  return { center, R, extentM: new Float64Array([ext[order[0]], ext[order[1]], ext[order[2]]]) };
}

/**
 * Oriented bounding box: PCA axes (ml-matrix eigen-decomposition of the covariance), then for each PCA axis taken
 * as the plane normal, the minimum-area rectangle of the points projected on that plane (rotating calipers);
 * the box of least volume wins. Exact for box-shaped point sets regardless of sampling density.
 */
export function orientedBoundingBox(points: ArrayLike<number>): OrientedBox {
  const centroid = computeCentroid(points);
  if (!Number.isFinite(centroid[0])) {
    throw new GeometryInputError('points', 'has no finite point; an oriented box needs at least one point');
  }
  const cov = computeCovariance(points, centroid);
  const evd = new EigenvalueDecomposition(
    new Matrix([
      [cov[0], cov[1], cov[2]],
      [cov[3], cov[4], cov[5]],
      [cov[6], cov[7], cov[8]],
    ]),
    { assumeSymmetric: true },
  );
  const V = evd.eigenvectorMatrix;
  const pca = [0, 1, 2].map((c) => {
    const v = [V.get(0, c), V.get(1, c), V.get(2, c)];
    const l = Math.hypot(v[0], v[1], v[2]) || 1;
    return v.map((x) => x / l);
  });
  // choose the plane normal on a subsample (<= HULL_SAMPLE points), then fit the winner on all points
  const n = Math.floor(points.length / 3);
  const step = Math.max(1, Math.floor(n / HULL_SAMPLE));
  let sample: ArrayLike<number> = points;
  if (step > 1) {
    const sub = new Float32Array(3 * Math.ceil(n / step)); // same element type as cloud points: monomorphic loads
    let k = 0;
    for (let i = 0; i < n; i += step) {
      sub[k++] = points[3 * i];
      sub[k++] = points[3 * i + 1];
      sub[k++] = points[3 * i + 2];
    }
    sample = sub.subarray(0, k);
  }
  let best: OrientedBox | null = null;
  let bestVol = Infinity;
  for (let a = 0; a < 3; a++) {
    const box = orientedBoxAboutAxis(sample, pca[a], centroid);
    const vol = box.extentM[0] * box.extentM[1] * box.extentM[2];
    if (vol < bestVol - 1e-15 || !best) {
      bestVol = vol;
      best = box;
    }
  }
  if (step === 1) return best!;
  return fitAlongAxes(
    points,
    [0, 1, 2].map((c) => [best!.R[c], best!.R[3 + c], best!.R[6 + c]]),
  );
}

/**
 * Box with one axis fixed to `normal` (e.g. a support-plane normal) and the other two from the minimum-area
 * rectangle of the points projected on the plane (rotating calipers; the hull uses at most ~HULL_SAMPLE points,
 * extents use all points). Axes are then ordered by extent like `orientedBoundingBox`.
 */
export function orientedBoxAboutAxis(
  points: ArrayLike<number>,
  normal: ArrayLike<number>,
  centroid: ArrayLike<number> = computeCentroid(points),
): OrientedBox {
  const ln = Math.hypot(normal[0], normal[1], normal[2]);
  if (!(ln > 0)) throw new GeometryInputError('normal', 'must be a non-zero vector');
  const nz = [normal[0] / ln, normal[1] / ln, normal[2] / ln];
  const ref = Math.abs(nz[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  const t = cross3(nz, ref);
  const lt = Math.hypot(t[0], t[1], t[2]);
  const b1 = t.map((x) => x / lt);
  const b2 = cross3(nz, b1);
  const n = Math.floor(points.length / 3);
  const step = Math.max(1, Math.floor(n / HULL_SAMPLE));
  const pts2: V2[] = [];
  for (let i = 0; i < n; i += step) {
    const x = points[3 * i] - centroid[0];
    const y = points[3 * i + 1] - centroid[1];
    const z = points[3 * i + 2] - centroid[2];
    if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
    pts2.push([b1[0] * x + b1[1] * y + b1[2] * z, b2[0] * x + b2[1] * y + b2[2] * z]);
  }
  const { angle } = minAreaRectAngle(pts2);
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const u = [0, 1, 2].map((k) => c * b1[k] + s * b2[k]);
  const v = [0, 1, 2].map((k) => -s * b1[k] + c * b2[k]);
  return fitAlongAxes(points, [u, v, nz]);
}

/** The 8 corners (Float64Array(24)); corner k has sign + on axis i when bit i of k is set. */
export function obbCorners(box: OrientedBox): Float64Array {
  const out = new Float64Array(24);
  const R = box.R;
  for (let k = 0; k < 8; k++) {
    const s = [k & 1 ? 0.5 : -0.5, k & 2 ? 0.5 : -0.5, k & 4 ? 0.5 : -0.5];
    for (let r = 0; r < 3; r++) {
      out[3 * k + r] =
        box.center[r] +
        R[3 * r] * s[0] * box.extentM[0] +
        R[3 * r + 1] * s[1] * box.extentM[1] +
        R[3 * r + 2] * s[2] * box.extentM[2];
    }
  }
  return out;
}

/** Box volume, cubic metres. */
export function obbVolume(box: OrientedBox): number {
  return box.extentM[0] * box.extentM[1] * box.extentM[2];
}

type V3 = [number, number, number];

function boxFaces(box: OrientedBox): V3[][] {
  const c = obbCorners(box);
  const corner = (k: number): V3 => [c[3 * k], c[3 * k + 1], c[3 * k + 2]];
  const faces: V3[][] = [];
  for (let i = 0; i < 3; i++) {
    const j = (i + 1) % 3;
    const k = (i + 2) % 3;
    for (const s of [0, 1]) {
      const base = s << i;
      const ring = [0, 1 << j, (1 << j) | (1 << k), 1 << k].map((b) => corner(base | b));
      faces.push(ring);
    }
  }
  return faces;
}

/** Half-spaces n·x <= d bounding the box. */
function boxPlanes(box: OrientedBox): { n: V3; d: number }[] {
  const planes: { n: V3; d: number }[] = [];
  for (let a = 0; a < 3; a++) {
    const ax: V3 = [box.R[a], box.R[3 + a], box.R[6 + a]];
    const cd = ax[0] * box.center[0] + ax[1] * box.center[1] + ax[2] * box.center[2];
    planes.push({ n: ax, d: cd + box.extentM[a] / 2 });
    planes.push({ n: [-ax[0], -ax[1], -ax[2]], d: -cd + box.extentM[a] / 2 });
  }
  return planes;
}

/** Clips a convex polyhedron (list of planar faces) by the half-space n·x <= d; adds the cap face. */
function clipPolyhedron(faces: V3[][], n: V3, d: number): V3[][] {
  const eps = 1e-12;
  let anyOutside = false;
  for (const face of faces) {
    for (const a of face) if (n[0] * a[0] + n[1] * a[1] + n[2] * a[2] - d > eps) anyOutside = true;
  }
  if (!anyOutside) return faces;
  const out: V3[][] = [];
  const capPts: V3[] = [];
  for (const face of faces) {
    const res: V3[] = [];
    for (let i = 0; i < face.length; i++) {
      const a = face[i];
      const b = face[(i + 1) % face.length];
      const da = n[0] * a[0] + n[1] * a[1] + n[2] * a[2] - d;
      const db = n[0] * b[0] + n[1] * b[1] + n[2] * b[2] - d;
      if (da <= eps) res.push(a);
      if (da <= eps && Math.abs(da) <= eps) capPts.push(a);
      if ((da < -eps && db > eps) || (da > eps && db < -eps)) {
        const t = da / (da - db);
        const p: V3 = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])];
        res.push(p);
        capPts.push(p);
      }
    }
    if (res.length >= 3) out.push(res);
  }
  // cap: unique points on the plane, sorted by angle around their centroid
  const uniq: V3[] = [];
  for (const p of capPts) {
    if (!uniq.some((q) => Math.abs(q[0] - p[0]) + Math.abs(q[1] - p[1]) + Math.abs(q[2] - p[2]) < 1e-10))
      uniq.push(p);
  }
  if (uniq.length >= 3) {
    const c = [0, 1, 2].map((k) => uniq.reduce((s, p) => s + p[k], 0) / uniq.length);
    const ref = Math.abs(n[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
    const e1 = cross3(n, ref);
    const l1 = Math.hypot(e1[0], e1[1], e1[2]);
    const u = e1.map((x) => x / l1);
    const v = cross3(n, u);
    uniq.sort((p, q) => {
      const ap = Math.atan2(
        (p[0] - c[0]) * v[0] + (p[1] - c[1]) * v[1] + (p[2] - c[2]) * v[2],
        (p[0] - c[0]) * u[0] + (p[1] - c[1]) * u[1] + (p[2] - c[2]) * u[2],
      );
      const aq = Math.atan2(
        (q[0] - c[0]) * v[0] + (q[1] - c[1]) * v[1] + (q[2] - c[2]) * v[2],
        (q[0] - c[0]) * u[0] + (q[1] - c[1]) * u[1] + (q[2] - c[2]) * u[2],
      );
      return ap - aq;
    });
    out.push(uniq);
  }
  return out;
}

/** Volume of a convex polyhedron given as planar faces: sum of pyramids from an interior point. */
function convexVolume(faces: V3[][]): number {
  let cnt = 0;
  const c = [0, 0, 0];
  for (const f of faces) {
    for (const p of f) {
      c[0] += p[0];
      c[1] += p[1];
      c[2] += p[2];
      cnt++;
    }
  }
  if (cnt === 0) return 0;
  for (let k = 0; k < 3; k++) c[k] /= cnt;
  let vol = 0;
  for (const f of faces) {
    // area vector of the polygon (Newell)
    const an = [0, 0, 0];
    for (let i = 0; i < f.length; i++) {
      const cr = cross3(f[i], f[(i + 1) % f.length]);
      an[0] += cr[0];
      an[1] += cr[1];
      an[2] += cr[2];
    }
    const area2 = Math.hypot(an[0], an[1], an[2]);
    if (area2 === 0) continue;
    const nn = an.map((x) => x / area2);
    const dist = Math.abs(nn[0] * (f[0][0] - c[0]) + nn[1] * (f[0][1] - c[1]) + nn[2] * (f[0][2] - c[2]));
    vol += ((area2 / 2) * dist) / 3;
  }
  return vol;
}

/** Exact volume of the intersection of two oriented boxes (convex polyhedron clipping). */
export function obbIntersectionVolume(a: OrientedBox, b: OrientedBox): number {
  let faces = boxFaces(a);
  for (const pl of boxPlanes(b)) {
    faces = clipPolyhedron(faces, pl.n, pl.d);
    if (faces.length < 4) return 0;
  }
  return convexVolume(faces);
}

/** 3D IoU of two oriented boxes, exact: |A ∩ B| / (|A| + |B| - |A ∩ B|). 0 for degenerate boxes. */
export function obbIou(a: OrientedBox, b: OrientedBox): number {
  const va = obbVolume(a);
  const vb = obbVolume(b);
  if (!(va > 0) || !(vb > 0)) return 0;
  const inter = Math.min(obbIntersectionVolume(a, b), va, vb);
  return inter / (va + vb - inter);
}
