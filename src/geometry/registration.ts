import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import type { Pose } from '../types';
import { GeometryInputError, requirePositive, requireStride } from './errors';
import { KdTree } from './kdtree';
import {
  mat3Mul,
  mat3Vec,
  poseCompose,
  poseIdentity,
  rotationAngleBetween,
  rotvecToMat3,
  solveLinear,
  symmetricEigen,
} from './linalg';
import { pointCount, type PointCloud } from './pointcloud';
import { SeededRng } from './rng';

/** Similarity/rigid transform estimate: dst ≈ scale * R * src + t. */
export interface RigidFit {
  pose: Pose;
  /** 1 unless withScale was asked. */
  scale: number;
  /** RMS residual over the (weighted) pairs, metres. */
  rmseM: number;
}

export interface KabschOptions {
  /** Per-pair weights (>= 0). */
  weights?: ArrayLike<number>;
  /** Estimate a uniform scale too (Umeyama). */
  withScale?: boolean;
  /** Pair i uses src point srcIndices[i] (default i). */
  srcIndices?: ArrayLike<number>;
  /** Pair i uses dst point dstIndices[i] (default i). */
  dstIndices?: ArrayLike<number>;
}

/**
 * Least-squares rigid (Kabsch) or similarity (Umeyama, withScale) transform mapping src points onto dst points
 * (interleaved xyz), via an ml-matrix SVD of the cross-covariance with the reflection fix. Returns null for
 * fewer than 3 pairs or zero total weight.
 */
export function kabsch(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  options: KabschOptions = {},
): RigidFit | null {
  requireStride('src', src, 3);
  requireStride('dst', dst, 3);
  const si = options.srcIndices;
  const di = options.dstIndices;
  const n = si ? si.length : src.length / 3;
  if (!si && src.length !== dst.length) {
    throw new GeometryInputError(
      'dst',
      `has ${dst.length / 3} points but src has ${src.length / 3}; pass equal-length pairs`,
    );
  }
  if (si && (!di || di.length !== si.length)) {
    throw new GeometryInputError('dstIndices', 'must be given with srcIndices and have the same length');
  }
  const w = options.weights;
  if (w && w.length !== n)
    throw new GeometryInputError('weights', `length ${w.length} must equal pair count ${n}`);
  if (n < 3) return null;
  let W = 0;
  const ms = [0, 0, 0];
  const md = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    if (!(wi > 0)) continue;
    const a = (si ? si[i] : i) * 3;
    const b = (di ? di[i] : i) * 3;
    W += wi;
    for (let k = 0; k < 3; k++) {
      ms[k] += wi * src[a + k];
      md[k] += wi * dst[b + k];
    }
  }
  if (!(W > 0)) return null;
  for (let k = 0; k < 3; k++) {
    ms[k] /= W;
    md[k] /= W;
  }
  const S = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  let varS = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    if (!(wi > 0)) continue;
    const a = (si ? si[i] : i) * 3;
    const b = (di ? di[i] : i) * 3;
    const s0 = src[a] - ms[0];
    const s1 = src[a + 1] - ms[1];
    const s2 = src[a + 2] - ms[2];
    const d = [dst[b] - md[0], dst[b + 1] - md[1], dst[b + 2] - md[2]];
    for (let r = 0; r < 3; r++) {
      S[r][0] += wi * d[r] * s0;
      S[r][1] += wi * d[r] * s1;
      S[r][2] += wi * d[r] * s2;
    }
    varS += wi * (s0 * s0 + s1 * s1 + s2 * s2);
  }
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) S[r][c] /= W;
  varS /= W;
  const svd = new SingularValueDecomposition(new Matrix(S), { autoTranspose: false });
  const U = svd.leftSingularVectors;
  const V = svd.rightSingularVectors;
  const D = svd.diagonal;
  const Um = new Float64Array(9);
  const Vt = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      Um[r * 3 + c] = U.get(r, c);
      Vt[c * 3 + r] = V.get(r, c);
    }
  }
  const detU =
    Um[0] * (Um[4] * Um[8] - Um[5] * Um[7]) -
    Um[1] * (Um[3] * Um[8] - Um[5] * Um[6]) +
    Um[2] * (Um[3] * Um[7] - Um[4] * Um[6]);
  const detV =
    Vt[0] * (Vt[4] * Vt[8] - Vt[5] * Vt[7]) -
    Vt[1] * (Vt[3] * Vt[8] - Vt[5] * Vt[6]) +
    Vt[2] * (Vt[3] * Vt[7] - Vt[4] * Vt[6]);
  let minIdx = 0;
  for (let k = 1; k < 3; k++) if (D[k] < D[minIdx]) minIdx = k;
  const sgn = [1, 1, 1];
  if (detU * detV < 0) sgn[minIdx] = -1;
  const US = new Float64Array(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) US[r * 3 + c] = Um[r * 3 + c] * sgn[c];
  const R = mat3Mul(US, Vt);
  const scale = options.withScale && varS > 0 ? (D[0] * sgn[0] + D[1] * sgn[1] + D[2] * sgn[2]) / varS : 1;
  const Rms = mat3Vec(R, ms);
  const tM = new Float64Array([md[0] - scale * Rms[0], md[1] - scale * Rms[1], md[2] - scale * Rms[2]]);
  let err = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    if (!(wi > 0)) continue;
    const a = (si ? si[i] : i) * 3;
    const b = (di ? di[i] : i) * 3;
    for (let r = 0; r < 3; r++) {
      const y =
        scale * (R[r * 3] * src[a] + R[r * 3 + 1] * src[a + 1] + R[r * 3 + 2] * src[a + 2]) +
        tM[r] -
        dst[b + r];
      err += wi * y * y;
    }
  }
  return { pose: { R, tM }, scale, rmseM: Math.sqrt(err / W) };
}

/**
 * Rigid fit of 3+ pairs by Horn's closed-form quaternion method (4x4 Jacobi eigen, no allocation-heavy SVD):
 * the fast path used inside RANSAC. Same optimum as `kabsch` without scale.
 */
export function hornRigid(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  srcIndices: ArrayLike<number>,
  dstIndices: ArrayLike<number>,
  count = srcIndices.length,
): Pose {
  const out: Pose = { R: new Float64Array(9), tM: new Float64Array(3) };
  hornRigidInto(src, dst, srcIndices, dstIndices, count, out);
  return out;
}

/** Scratch of `hornRigidInto` (single-threaded; the fit never re-enters itself). */
const hornN = new Float64Array(16);
const hornEig = { values: new Float64Array(4), vectors: new Float64Array(16) };

/** `hornRigid` writing into `out.R` / `out.tM`, with no allocation (the RANSAC inner loop). */
export function hornRigidInto(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  srcIndices: ArrayLike<number>,
  dstIndices: ArrayLike<number>,
  count: number,
  out: Pose,
): void {
  let ms0 = 0,
    ms1 = 0,
    ms2 = 0,
    md0 = 0,
    md1 = 0,
    md2 = 0;
  for (let i = 0; i < count; i++) {
    const a = srcIndices[i] * 3;
    const b = dstIndices[i] * 3;
    ms0 += src[a];
    ms1 += src[a + 1];
    ms2 += src[a + 2];
    md0 += dst[b];
    md1 += dst[b + 1];
    md2 += dst[b + 2];
  }
  ms0 /= count;
  ms1 /= count;
  ms2 /= count;
  md0 /= count;
  md1 /= count;
  md2 /= count;
  let sxx = 0,
    sxy = 0,
    sxz = 0,
    syx = 0,
    syy = 0,
    syz = 0,
    szx = 0,
    szy = 0,
    szz = 0;
  for (let i = 0; i < count; i++) {
    const a = srcIndices[i] * 3;
    const b = dstIndices[i] * 3;
    const x0 = src[a] - ms0;
    const y0 = src[a + 1] - ms1;
    const z0 = src[a + 2] - ms2;
    const x1 = dst[b] - md0;
    const y1 = dst[b + 1] - md1;
    const z1 = dst[b + 2] - md2;
    sxx += x0 * x1;
    sxy += x0 * y1;
    sxz += x0 * z1;
    syx += y0 * x1;
    syy += y0 * y1;
    syz += y0 * z1;
    szx += z0 * x1;
    szy += z0 * y1;
    szz += z0 * z1;
  }
  const N = hornN;
  N[0] = sxx + syy + szz;
  N[1] = syz - szy;
  N[2] = szx - sxz;
  N[3] = sxy - syx;
  N[4] = syz - szy;
  N[5] = sxx - syy - szz;
  N[6] = sxy + syx;
  N[7] = szx + sxz;
  N[8] = szx - sxz;
  N[9] = sxy + syx;
  N[10] = -sxx + syy - szz;
  N[11] = syz + szy;
  N[12] = sxy - syx;
  N[13] = szx + sxz;
  N[14] = syz + szy;
  N[15] = -sxx - syy + szz;
  const v = symmetricEigen(N, 4, hornEig).vectors;
  // the unit quaternion of the largest eigenvalue (as quatToMat3)
  const qw = v[3];
  const qx = v[7];
  const qy = v[11];
  const qz = v[15];
  const qn = Math.hypot(qw, qx, qy, qz) || 1;
  const w = qw / qn;
  const x = qx / qn;
  const y = qy / qn;
  const z = qz / qn;
  const R = out.R;
  R[0] = 1 - 2 * (y * y + z * z);
  R[1] = 2 * (x * y - w * z);
  R[2] = 2 * (x * z + w * y);
  R[3] = 2 * (x * y + w * z);
  R[4] = 1 - 2 * (x * x + z * z);
  R[5] = 2 * (y * z - w * x);
  R[6] = 2 * (x * z - w * y);
  R[7] = 2 * (y * z + w * x);
  R[8] = 1 - 2 * (x * x + y * y);
  const t = out.tM;
  t[0] = md0 - (R[0] * ms0 + R[1] * ms1 + R[2] * ms2);
  t[1] = md1 - (R[3] * ms0 + R[4] * ms1 + R[5] * ms2);
  t[2] = md2 - (R[6] * ms0 + R[7] * ms1 + R[8] * ms2);
}

/** Result of a registration: pose maps source into target; fitness is an inlier ratio in [0, 1]. */
export interface RegistrationResult {
  pose: Pose;
  /** RANSAC: inlier correspondences / correspondences. ICP: matched source points / source points. */
  fitness: number;
  /** RMS distance of the inliers, metres. */
  inlierRmseM: number;
  /** Correspondences used (RANSAC: inliers; ICP: matched pairs of the last iteration). */
  numCorrespondences: number;
  iterations: number;
  /** ICP only: stopped on the convergence criteria rather than the iteration cap. */
  converged: boolean;
  /** RANSAC with topK > 1: distinct hypotheses, best first (the refined best is `pose`). */
  hypotheses?: Pose[];
}

export interface RansacOptions {
  /** A pair is an inlier when |T src - dst| <= maxDistanceM. */
  maxDistanceM: number;
  /** Hard cap (default 100000). */
  maxIterations?: number;
  /** Success probability that drives the adaptive iteration count (default 0.999). */
  confidence?: number;
  /** RNG seed (default 1): results are reproducible. */
  seed?: number;
  /** Reject samples whose pairwise edge lengths differ by more than this ratio (default 0.9; 0 disables). */
  edgeLengthRatio?: number;
  /** Minimum inlier count to accept (default 3). */
  minInliers?: number;
  /**
   * Also return up to this many distinct good hypotheses (best inlier counts, de-duplicated within 10° and
   * 2 thresholds), for a caller that verifies them by ICP against the full clouds. Default 1.
   */
  topK?: number;
}

/**
 * The refined best pose, then the kept hypotheses not the same as it. A function of its own: built inline at the
 * end of `ransacCorrespondences`, this array deoptimised that function (its long, on-stack-compiled sampling
 * loop included) on every call.
 */
function distinctHypotheses(
  pose: Pose,
  top: { pose: Pose; count: number }[],
  same: (a: Pose, b: Pose) => boolean,
): Pose[] {
  const out = [pose];
  for (const h of top) if (!same(h.pose, pose)) out.push(h.pose);
  return out;
}

/**
 * RANSAC over putative correspondences (src point corrSrc[i] <-> dst point corrDst[i]): 3-point minimal samples
 * (pre-checked by edge-length similarity), Horn fits, inlier counting, adaptive iteration count
 * N = log(1 - p) / log(1 - w^3), and a final Kabsch refit on the inliers. Returns null when no hypothesis
 * reaches minInliers (or fewer than 3 correspondences).
 */
export function ransacCorrespondences(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  corrSrc: ArrayLike<number>,
  corrDst: ArrayLike<number>,
  options: RansacOptions,
): RegistrationResult | null {
  requirePositive('options.maxDistanceM', options.maxDistanceM);
  if (corrSrc.length !== corrDst.length) {
    throw new GeometryInputError(
      'corrDst',
      `length ${corrDst.length} must equal corrSrc length ${corrSrc.length}`,
    );
  }
  const n = corrSrc.length;
  const minInliers = Math.max(3, options.minInliers ?? 3);
  if (n < 3) return null;
  const rng = new SeededRng(options.seed ?? 1);
  const maxIt = options.maxIterations ?? 100000;
  const conf = options.confidence ?? 0.999;
  const edge = options.edgeLengthRatio ?? 0.9;
  const thr2 = options.maxDistanceM * options.maxDistanceM;
  const sA = new Int32Array(3);
  const sB = new Int32Array(3);
  let best: Pose | null = null;
  let bestCount = 0;
  let bestErr = Infinity;
  let needed = maxIt;
  let it = 0;
  const dist2 = (arr: ArrayLike<number>, i: number, j: number) => {
    const dx = arr[3 * i] - arr[3 * j];
    const dy = arr[3 * i + 1] - arr[3 * j + 1];
    const dz = arr[3 * i + 2] - arr[3 * j + 2];
    return dx * dx + dy * dy + dz * dz;
  };
  const edge2 = edge * edge;
  // a sample passes when each of its three edges has about the same length in both clouds (squared lengths)
  const edgesAgree = (p: number, q: number) => {
    const la = dist2(src, sA[p], sA[q]);
    const lb = dist2(dst, sB[p], sB[q]);
    return !(la < edge2 * lb || lb < edge2 * la);
  };
  // scores a hypothesis; with `bound`, stops early once it can no longer reach `bound` inliers (exact pruning)
  const score = (pose: Pose, bound = 0): [number, number] => {
    const c = scoreCount(pose, bound);
    return [c, scoreErr];
  };
  let scoreErr = 0;
  const scoreCount = (pose: Pose, bound: number): number => {
    const R = pose.R;
    const t = pose.tM;
    let c = 0;
    let e = 0;
    scoreErr = Infinity;
    for (let i = 0; i < n; i++) {
      if (c + (n - i) < bound) return -1;
      const a = corrSrc[i] * 3;
      const b = corrDst[i] * 3;
      const x = src[a];
      const y = src[a + 1];
      const z = src[a + 2];
      const dx = R[0] * x + R[1] * y + R[2] * z + t[0] - dst[b];
      const dy = R[3] * x + R[4] * y + R[5] * z + t[1] - dst[b + 1];
      const dz = R[6] * x + R[7] * y + R[8] * z + t[2] - dst[b + 2];
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 <= thr2) {
        c++;
        e += d2;
      }
    }
    scoreErr = e;
    return c;
  };
  const topK = Math.max(1, Math.floor(options.topK ?? 1));
  const top: { pose: Pose; count: number }[] = [];
  const sameHyp = (a: Pose, b: Pose) =>
    Math.hypot(a.tM[0] - b.tM[0], a.tM[1] - b.tM[1], a.tM[2] - b.tM[2]) < 2 * options.maxDistanceM &&
    rotationAngleBetween(a.R, b.R) < (10 * Math.PI) / 180;
  const offerTop = (pose: Pose, count: number) => {
    if (topK <= 1 || count < 3) return;
    const dup = top.findIndex((h) => sameHyp(h.pose, pose));
    if (dup >= 0) {
      if (top[dup].count < count) top[dup] = { pose, count };
    } else if (top.length < topK) {
      top.push({ pose, count });
    } else if (count > top[top.length - 1].count) {
      top[top.length - 1] = { pose, count };
    } else return;
    top.sort((a, b) => b.count - a.count);
  };
  const cand: Pose = { R: new Float64Array(9), tM: new Float64Array(3) };
  let attempts = 0;
  while (it < Math.min(needed, maxIt) && attempts < maxIt * 10) {
    attempts++;
    const i0 = rng.int(n);
    const i1 = rng.int(n);
    const i2 = rng.int(n);
    if (i0 === i1 || i0 === i2 || i1 === i2) continue;
    sA[0] = corrSrc[i0];
    sA[1] = corrSrc[i1];
    sA[2] = corrSrc[i2];
    sB[0] = corrDst[i0];
    sB[1] = corrDst[i1];
    sB[2] = corrDst[i2];
    it++;
    if (edge > 0 && !(edgesAgree(0, 1) && edgesAgree(1, 2) && edgesAgree(0, 2))) continue;
    // the fit goes into a scratch pose; only hypotheses that are kept are copied
    hornRigidInto(src, dst, sA, sB, 3, cand);
    const c = scoreCount(
      cand,
      topK > 1 && top.length >= topK ? Math.min(bestCount, top[top.length - 1].count) : bestCount,
    );
    const e = scoreErr;
    const better = c > bestCount || (c === bestCount && e < bestErr);
    if (!better && (topK <= 1 || c < 3)) continue;
    const pose = { R: cand.R.slice(), tM: cand.tM.slice() };
    offerTop(pose, c);
    if (better) {
      bestCount = c;
      bestErr = e;
      best = pose;
      const wr = c / n;
      const denom = Math.log(1 - Math.pow(wr, 3));
      needed = wr >= 1 ? 0 : denom < 0 ? Math.ceil(Math.log(1 - conf) / denom) : maxIt;
    }
  }
  if (!best || bestCount < minInliers) return null;
  // local optimisation: refit on inliers a few times
  let pose = best;
  for (let round = 0; round < 3; round++) {
    const R = pose.R;
    const t = pose.tM;
    const ia: number[] = [];
    const ib: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = corrSrc[i] * 3;
      const b = corrDst[i] * 3;
      const x = src[a];
      const y = src[a + 1];
      const z = src[a + 2];
      const dx = R[0] * x + R[1] * y + R[2] * z + t[0] - dst[b];
      const dy = R[3] * x + R[4] * y + R[5] * z + t[1] - dst[b + 1];
      const dz = R[6] * x + R[7] * y + R[8] * z + t[2] - dst[b + 2];
      if (dx * dx + dy * dy + dz * dz <= thr2) {
        ia.push(corrSrc[i]);
        ib.push(corrDst[i]);
      }
    }
    const fit = ia.length >= 3 ? kabsch(src, dst, { srcIndices: ia, dstIndices: ib }) : null;
    if (!fit) break;
    const [c] = score(fit.pose);
    if (c < bestCount) break;
    bestCount = c;
    pose = fit.pose;
  }
  const [c, e] = score(pose);
  return {
    pose,
    fitness: c / n,
    inlierRmseM: c ? Math.sqrt(e / c) : 0,
    numCorrespondences: c,
    iterations: it,
    converged: true,
    hypotheses: topK > 1 ? distinctHypotheses(pose, top, sameHyp) : undefined,
  };
}

/** Robust kernel for ICP residuals. */
export interface RobustKernel {
  kind: 'none' | 'huber' | 'tukey';
  /** Kernel scale, metres (Huber threshold / Tukey cut-off). */
  kM?: number;
}

/** IRLS weight of a residual r (metres) under a robust kernel. */
export function robustWeight(kernel: RobustKernel | undefined, r: number): number {
  if (!kernel || kernel.kind === 'none') return 1;
  const k = kernel.kM ?? 0.01;
  const a = Math.abs(r);
  if (kernel.kind === 'huber') return a <= k ? 1 : k / a;
  if (a >= k) return 0;
  const u = 1 - (a / k) * (a / k);
  return u * u;
}

export interface IcpOptions {
  /** Pairs farther than this are ignored (metres). */
  maxCorrespondenceDistanceM: number;
  /** Default 'point-to-plane' when the target has normals, else 'point-to-point'. */
  method?: 'point-to-point' | 'point-to-plane';
  /** Robust IRLS kernel on the residuals (default none). */
  robust?: RobustKernel;
  /** Default 30. */
  maxIterations?: number;
  /** Stop when fitness and RMSE change by less than these between iterations (defaults 1e-6). */
  relativeFitness?: number;
  relativeRmse?: number;
  /** Reuse a tree over target.points. */
  targetTree?: KdTree;
}

/**
 * Iterative closest point (as Open3D `registration_icp`): returns the pose mapping source into target, starting
 * from `init`. Point-to-plane uses the linearised 6-DoF least squares with an exact rotation update;
 * point-to-point uses weighted Kabsch. Robust kernels reweight residuals each iteration (IRLS).
 */
export function registrationIcp(
  source: PointCloud,
  target: PointCloud,
  init: Pose = poseIdentity(),
  options: IcpOptions,
): RegistrationResult {
  requirePositive('options.maxCorrespondenceDistanceM', options.maxCorrespondenceDistanceM);
  const method = options.method ?? (target.normals ? 'point-to-plane' : 'point-to-point');
  if (method === 'point-to-plane' && !target.normals) {
    throw new GeometryInputError(
      'target.normals',
      'point-to-plane ICP needs target normals; call estimateNormals first',
    );
  }
  const ns = pointCount(source);
  pointCount(target);
  const tree = options.targetTree ?? new KdTree(target.points);
  const maxIt = options.maxIterations ?? 30;
  const relF = options.relativeFitness ?? 1e-6;
  const relR = options.relativeRmse ?? 1e-6;
  const maxD = options.maxCorrespondenceDistanceM;
  const sp = source.points;
  const tp = target.points;
  const tn = target.normals;
  let pose: Pose = { R: new Float64Array(init.R), tM: new Float64Array(init.tM) };
  const corrS = new Int32Array(ns);
  const corrT = new Int32Array(ns);
  const tx = new Float64Array(3 * ns);
  const prevJ = new Int32Array(ns).fill(-1);
  const maxD2 = maxD * maxD;
  let prevFit = -1;
  let prevRmse = Infinity;
  let converged = false;
  let iterations = 0;

  const match = (): { m: number; fitness: number; rmse: number } => {
    const R = pose.R;
    const t = pose.tM;
    let m = 0;
    let e = 0;
    let valid = 0;
    for (let i = 0; i < ns; i++) {
      const x = sp[3 * i];
      const y = sp[3 * i + 1];
      const z = sp[3 * i + 2];
      if (!(x - x === 0 && y - y === 0 && z - z === 0)) continue;
      valid++;
      const X = R[0] * x + R[1] * y + R[2] * z + t[0];
      const Y = R[3] * x + R[4] * y + R[5] * z + t[1];
      const Z = R[6] * x + R[7] * y + R[8] * z + t[2];
      // warm start: the previous match bounds the search (same nearest point, far less of the tree visited)
      let r2 = maxD2;
      const pj = prevJ[i];
      if (pj >= 0) {
        const ex = tp[3 * pj] - X;
        const ey = tp[3 * pj + 1] - Y;
        const ez = tp[3 * pj + 2] - Z;
        const d2 = ex * ex + ey * ey + ez * ez;
        if (d2 < r2) r2 = d2;
      }
      // on the previous match exactly (a zero bound admits nothing): keep it
      const j = r2 === 0 ? pj : tree.nearestWithinSq(X, Y, Z, r2);
      const jd2 = r2 === 0 ? 0 : tree.lastDist2;
      prevJ[i] = j;
      if (j < 0) continue;
      if (tn && !(tn[3 * j] - tn[3 * j] === 0) && method === 'point-to-plane') continue;
      tx[3 * m] = X;
      tx[3 * m + 1] = Y;
      tx[3 * m + 2] = Z;
      corrS[m] = i;
      corrT[m] = j;
      e += jd2;
      m++;
    }
    return { m, fitness: valid ? m / valid : 0, rmse: m ? Math.sqrt(e / m) : 0 };
  };

  let cur = match();
  for (iterations = 0; iterations < maxIt; iterations++) {
    if (cur.m < 3) break;
    if (Math.abs(cur.fitness - prevFit) < relF && Math.abs(cur.rmse - prevRmse) < relR) {
      converged = true;
      break;
    }
    prevFit = cur.fitness;
    prevRmse = cur.rmse;
    let delta: Pose | null = null;
    if (method === 'point-to-plane') {
      const A = new Float64Array(36);
      const b = new Float64Array(6);
      const J = new Float64Array(6);
      for (let k = 0; k < cur.m; k++) {
        const px = tx[3 * k];
        const py = tx[3 * k + 1];
        const pz = tx[3 * k + 2];
        const j = corrT[k] * 3;
        const nx = tn![j];
        const ny = tn![j + 1];
        const nz = tn![j + 2];
        const r = (px - tp[j]) * nx + (py - tp[j + 1]) * ny + (pz - tp[j + 2]) * nz;
        const w = robustWeight(options.robust, r);
        if (w === 0) continue;
        J[0] = py * nz - pz * ny;
        J[1] = pz * nx - px * nz;
        J[2] = px * ny - py * nx;
        J[3] = nx;
        J[4] = ny;
        J[5] = nz;
        for (let a = 0; a < 6; a++) {
          b[a] -= w * J[a] * r;
          for (let c = a; c < 6; c++) A[a * 6 + c] += w * J[a] * J[c];
        }
      }
      for (let a = 0; a < 6; a++) for (let c = 0; c < a; c++) A[a * 6 + c] = A[c * 6 + a];
      const x = solveLinear(A, b, 6);
      if (x) delta = { R: rotvecToMat3(x[0], x[1], x[2]), tM: new Float64Array([x[3], x[4], x[5]]) };
    } else {
      const weights = new Float64Array(cur.m);
      const ia = new Int32Array(cur.m);
      for (let k = 0; k < cur.m; k++) {
        const j = corrT[k] * 3;
        const r = Math.hypot(tx[3 * k] - tp[j], tx[3 * k + 1] - tp[j + 1], tx[3 * k + 2] - tp[j + 2]);
        weights[k] = robustWeight(options.robust, r);
        ia[k] = k;
      }
      const fit = kabsch(tx, tp, { srcIndices: ia, dstIndices: corrT.subarray(0, cur.m), weights });
      if (fit) delta = fit.pose;
    }
    if (!delta) break;
    pose = poseCompose(delta, pose);
    cur = match();
  }
  return {
    pose,
    fitness: cur.fitness,
    inlierRmseM: cur.rmse,
    numCorrespondences: cur.m,
    iterations,
    converged,
  };
}

/** Fitness and inlier RMSE of `pose` applied to source against target (as Open3D `evaluate_registration`). */
export function evaluateRegistration(
  source: PointCloud,
  target: PointCloud,
  pose: Pose,
  maxCorrespondenceDistanceM: number,
  targetTree?: KdTree,
): { fitness: number; inlierRmseM: number; numCorrespondences: number } {
  const r = registrationIcp(source, { points: target.points }, pose, {
    maxCorrespondenceDistanceM,
    method: 'point-to-point',
    maxIterations: 0,
    targetTree,
  });
  return { fitness: r.fitness, inlierRmseM: r.inlierRmseM, numCorrespondences: r.numCorrespondences };
}
