/**
 * Small dense linear algebra for 3x3 rotations and rigid transforms (row-major Float64Array(9)).
 * Larger decompositions (SVD, general eigen) go through ml-matrix; the hot per-point paths use the
 * closed-loop Jacobi solver below, which is exact to machine precision for small symmetric matrices.
 */
import type { Pose } from '../types';

/** 3x3 identity, row-major. */
export function mat3Identity(): Float64Array {
  return new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
}

/** C = A * B for row-major 3x3 matrices. */
export function mat3Mul(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const c = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
  }
  return c;
}

/** Transpose of a row-major 3x3 matrix. */
export function mat3Transpose(a: ArrayLike<number>): Float64Array {
  return new Float64Array([a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]);
}

/** Determinant of a row-major 3x3 matrix. */
export function mat3Det(a: ArrayLike<number>): number {
  return (
    a[0] * (a[4] * a[8] - a[5] * a[7]) -
    a[1] * (a[3] * a[8] - a[5] * a[6]) +
    a[2] * (a[3] * a[7] - a[4] * a[6])
  );
}

/** y = A x for a row-major 3x3 matrix. */
export function mat3Vec(a: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  return new Float64Array([
    a[0] * x[0] + a[1] * x[1] + a[2] * x[2],
    a[3] * x[0] + a[4] * x[1] + a[5] * x[2],
    a[6] * x[0] + a[7] * x[1] + a[8] * x[2],
  ]);
}

/** Rotation matrix from a unit axis and an angle in radians (Rodrigues). */
export function axisAngleToMat3(axis: ArrayLike<number>, angleRad: number): Float64Array {
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  if (n === 0) return mat3Identity();
  const x = axis[0] / n;
  const y = axis[1] / n;
  const z = axis[2] / n;
  const c = Math.cos(angleRad);
  const s = Math.sin(angleRad);
  const t = 1 - c;
  return new Float64Array([
    t * x * x + c,
    t * x * y - s * z,
    t * x * z + s * y,
    t * x * y + s * z,
    t * y * y + c,
    t * y * z - s * x,
    t * x * z - s * y,
    t * y * z + s * x,
    t * z * z + c,
  ]);
}

/** Rotation from a rotation vector (axis * angle, radians). */
export function rotvecToMat3(rx: number, ry: number, rz: number): Float64Array {
  const angle = Math.hypot(rx, ry, rz);
  return angle === 0 ? mat3Identity() : axisAngleToMat3([rx, ry, rz], angle);
}

/** Geodesic angle between two rotations, radians, in [0, pi]. */
export function rotationAngleBetween(a: ArrayLike<number>, b: ArrayLike<number>): number {
  // relative rotation M = A^T B; angle = atan2(|vee(M - M^T)| / 2, (trace(M) - 1) / 2), accurate near 0 and pi
  const m = mat3Mul(mat3Transpose(a), b);
  const sx = m[7] - m[5];
  const sy = m[2] - m[6];
  const sz = m[3] - m[1];
  return Math.atan2(Math.hypot(sx, sy, sz) / 2, (m[0] + m[4] + m[8] - 1) / 2);
}

/** Unit quaternion [w, x, y, z] from a rotation matrix (Shepperd's method). */
export function mat3ToQuat(m: ArrayLike<number>): Float64Array {
  const tr = m[0] + m[4] + m[8];
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = 0.25 * s;
    x = (m[7] - m[5]) / s;
    y = (m[2] - m[6]) / s;
    z = (m[3] - m[1]) / s;
  } else if (m[0] > m[4] && m[0] > m[8]) {
    const s = Math.sqrt(1 + m[0] - m[4] - m[8]) * 2;
    w = (m[7] - m[5]) / s;
    x = 0.25 * s;
    y = (m[1] + m[3]) / s;
    z = (m[2] + m[6]) / s;
  } else if (m[4] > m[8]) {
    const s = Math.sqrt(1 + m[4] - m[0] - m[8]) * 2;
    w = (m[2] - m[6]) / s;
    x = (m[1] + m[3]) / s;
    y = 0.25 * s;
    z = (m[5] + m[7]) / s;
  } else {
    const s = Math.sqrt(1 + m[8] - m[0] - m[4]) * 2;
    w = (m[3] - m[1]) / s;
    x = (m[2] + m[6]) / s;
    y = (m[5] + m[7]) / s;
    z = 0.25 * s;
  }
  const n = Math.hypot(w, x, y, z);
  return new Float64Array([w / n, x / n, y / n, z / n]);
}

/** Rotation matrix from a quaternion [w, x, y, z] (normalised first). */
export function quatToMat3(q: ArrayLike<number>): Float64Array {
  const n = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
  const w = q[0] / n;
  const x = q[1] / n;
  const y = q[2] / n;
  const z = q[3] / n;
  return new Float64Array([
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ]);
}

/** Spherical linear interpolation between unit quaternions, t in [0, 1]. */
export function quatSlerp(a: ArrayLike<number>, b: ArrayLike<number>, t: number): Float64Array {
  let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  const bb = [b[0], b[1], b[2], b[3]];
  if (dot < 0) {
    dot = -dot;
    for (let i = 0; i < 4; i++) bb[i] = -bb[i];
  }
  let wa: number, wb: number;
  if (dot > 0.9995) {
    wa = 1 - t;
    wb = t;
  } else {
    const th = Math.acos(dot);
    const s = Math.sin(th);
    wa = Math.sin((1 - t) * th) / s;
    wb = Math.sin(t * th) / s;
  }
  const q = new Float64Array(4);
  for (let i = 0; i < 4; i++) q[i] = wa * a[i] + wb * bb[i];
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  for (let i = 0; i < 4; i++) q[i] /= n;
  return q;
}

/** Identity pose. */
export function poseIdentity(): Pose {
  return { R: mat3Identity(), tM: new Float64Array(3) };
}

/** a ∘ b: first b, then a (p -> Ra (Rb p + tb) + ta). */
export function poseCompose(a: Pose, b: Pose): Pose {
  const R = mat3Mul(a.R, b.R);
  const t = mat3Vec(a.R, b.tM);
  return { R, tM: new Float64Array([t[0] + a.tM[0], t[1] + a.tM[1], t[2] + a.tM[2]]) };
}

/** Inverse rigid transform. */
export function poseInverse(p: Pose): Pose {
  const Rt = mat3Transpose(p.R);
  const t = mat3Vec(Rt, p.tM);
  return { R: Rt, tM: new Float64Array([-t[0], -t[1], -t[2]]) };
}

/** Applies a pose to interleaved xyz points; returns a new array of the same kind (Float32 or Float64). */
export function transformPoints<T extends Float32Array | Float64Array>(points: T, pose: Pose, scale = 1): T {
  const out = new (points.constructor as { new (n: number): T })(points.length);
  const R = pose.R;
  const t = pose.tM;
  for (let i = 0; i < points.length; i += 3) {
    const x = points[i] * scale;
    const y = points[i + 1] * scale;
    const z = points[i + 2] * scale;
    out[i] = R[0] * x + R[1] * y + R[2] * z + t[0];
    out[i + 1] = R[3] * x + R[4] * y + R[5] * z + t[1];
    out[i + 2] = R[6] * x + R[7] * y + R[8] * z + t[2];
  }
  return out;
}

/** Rotates interleaved xyz directions (normals) by R; returns a new Float32Array. */
export function rotateVectors(vectors: Float32Array, R: ArrayLike<number>): Float32Array {
  const out = new Float32Array(vectors.length);
  for (let i = 0; i < vectors.length; i += 3) {
    const x = vectors[i];
    const y = vectors[i + 1];
    const z = vectors[i + 2];
    out[i] = R[0] * x + R[1] * y + R[2] * z;
    out[i + 1] = R[3] * x + R[4] * y + R[5] * z;
    out[i + 2] = R[6] * x + R[7] * y + R[8] * z;
  }
  return out;
}

/** Scratch of `symmetricEigen` for n <= 4 (single-threaded: no call re-enters it). */
const eigOrder = new Int32Array(4);
const eigCopy = new Float64Array(16);

/**
 * Cyclic Jacobi eigen-decomposition of a small symmetric n x n matrix (row-major, overwritten).
 * Returns eigenvalues ascending and eigenvectors as columns of a row-major n x n matrix.
 */
export function symmetricEigen(
  a: Float64Array,
  n: number,
  out?: { values: Float64Array; vectors: Float64Array },
): { values: Float64Array; vectors: Float64Array } {
  const v = out?.vectors ?? new Float64Array(n * n);
  v.fill(0);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] * a[p * n + p];
      for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // sort ascending (a stable insertion sort of the column order, in place: no allocation when `out` is given
  // and n <= 4, as in the RANSAC fits that call this tens of thousands of times)
  const vals = out?.values ?? new Float64Array(n);
  for (let i = 0; i < n; i++) vals[i] = a[i * n + i];
  const order = n <= 4 ? eigOrder : new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 1; i < n; i++) {
    const oi = order[i];
    let j = i;
    while (j > 0 && vals[order[j - 1]] > vals[oi]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = oi;
  }
  let sorted = true;
  for (let i = 0; i < n; i++) if (order[i] !== i) sorted = false;
  if (!sorted) {
    const vs = n <= 4 ? eigCopy : new Float64Array(n * n);
    for (let i = 0; i < n * n; i++) vs[i] = v[i];
    for (let c = 0; c < n; c++) {
      vals[c] = a[order[c] * n + order[c]];
      for (let r = 0; r < n; r++) v[r * n + c] = vs[r * n + order[c]];
    }
  }
  return { values: vals, vectors: v };
}

/** Solves the symmetric positive (semi-)definite system A x = b (n x n, row-major) by Gaussian elimination with partial pivoting. Returns null when singular. */
export function solveLinear(A: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const m = new Float64Array(A);
  const x = new Float64Array(b);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[piv * n + col])) piv = r;
    if (Math.abs(m[piv * n + col]) < 1e-14) return null;
    if (piv !== col) {
      for (let k = 0; k < n; k++) {
        const tmp = m[col * n + k];
        m[col * n + k] = m[piv * n + k];
        m[piv * n + k] = tmp;
      }
      const tb = x[col];
      x[col] = x[piv];
      x[piv] = tb;
    }
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col] / m[col * n + col];
      if (f === 0) continue;
      for (let k = col; k < n; k++) m[r * n + k] -= f * m[col * n + k];
      x[r] -= f * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= m[r * n + k] * x[k];
    x[r] = s / m[r * n + r];
  }
  return x;
}

/**
 * Dot products of every row of `a` [na, dim] with every row of `b` [nb, dim]: out[i * nb + j] = a_i . b_j, in
 * float64. Two rows by two rows per pass over dim, so four products share each load. Pass `out` (length >=
 * na * nb) to reuse a buffer.
 */
export function rowDotProducts(
  a: Float32Array,
  b: Float32Array,
  dim: number,
  out?: Float64Array,
): Float64Array {
  const na = a.length / dim;
  const nb = b.length / dim;
  const res = out && out.length >= na * nb ? out : new Float64Array(na * nb);
  for (let i = 0; i < na; i += 2) {
    const i1 = i + 1 < na ? i + 1 : i;
    const ao0 = i * dim;
    const ao1 = i1 * dim;
    for (let j = 0; j < nb; j += 2) {
      const j1 = j + 1 < nb ? j + 1 : j;
      const bo0 = j * dim;
      const bo1 = j1 * dim;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = 0; k < dim; k++) {
        const x0 = a[ao0 + k];
        const x1 = a[ao1 + k];
        const y0 = b[bo0 + k];
        const y1 = b[bo1 + k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      // on an odd last row or column, i1 = i / j1 = j and the duplicate writes carry the same value
      res[i * nb + j] = s00;
      res[i * nb + j1] = s01;
      res[i1 * nb + j] = s10;
      res[i1 * nb + j1] = s11;
    }
  }
  return res;
}
