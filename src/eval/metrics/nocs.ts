/**
 * Category-level metrics of NOCS (Wang et al., "Normalized Object Coordinate Space for Category-Level 6D
 * Object Pose and Size Estimation", CVPR 2019; reference code utils.py: compute_3d_iou_new,
 * compute_RT_degree_cm_symmetry, compute_3d_matches, compute_match_from_degree_cm,
 * compute_ap_from_matches_scores, compute_degree_cm_mAP).
 *
 * Boxes: an instance is a pose (R, tM, no scale) plus the full box extents `sizeM` in the object frame
 * (NOCS folds the scale into RT and keeps normalised `scales`; sizeM = scale * scales). As in NOCS, the IoU
 * is computed between the camera-frame axis-aligned bounds of the 8 transformed box corners (not an
 * oriented-box intersection).
 */
import type { Pose } from '../../types';
import { EvalInputError, requirePose } from './errors';
import { composePoses, matMul3, transpose3 } from './linalg';

/** NOCS classes symmetric about the object y axis (the mug only when its handle is not visible). */
export const NOCS_Y_SYMMETRIC_CLASSES: readonly string[] = ['bottle', 'bowl', 'can'];
/** NOCS classes that are equal under a 180° rotation about y for the rotation error. */
export const NOCS_Y_FLIP_CLASSES: readonly string[] = ['phone', 'eggbox', 'glue'];
/** NOCS synset names of CAMERA/REAL275 (index = class id, 0 = background). */
export const NOCS_CLASS_NAMES: readonly string[] = ['BG', 'bottle', 'bowl', 'camera', 'can', 'laptop', 'mug'];

export interface NocsBox {
  pose: Pose;
  /** Full extents of the object-frame box, metres. */
  sizeM: ArrayLike<number>;
}

function aabb(box: NocsBox): [number[], number[]] {
  const { R, tM } = box.pose;
  const h = [box.sizeM[0] / 2, box.sizeM[1] / 2, box.sizeM[2] / 2];
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let c = 0; c < 8; c++) {
    const x = c & 1 ? h[0] : -h[0];
    const y = c & 2 ? h[1] : -h[1];
    const z = c & 4 ? h[2] : -h[2];
    for (let k = 0; k < 3; k++) {
      const v = R[3 * k] * x + R[3 * k + 1] * y + R[3 * k + 2] * z + tM[k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  }
  return [lo, hi];
}

/**
 * NOCS `asymmetric_3d_iou`: IoU of the camera-frame axis-aligned bounds of the two transformed boxes.
 */
export function asymmetric3dIou(a: NocsBox, b: NocsBox): number {
  requirePose('a.pose', a.pose);
  requirePose('b.pose', b.pose);
  const [alo, ahi] = aabb(a);
  const [blo, bhi] = aabb(b);
  let inter = 1;
  for (let k = 0; k < 3; k++) {
    const d = Math.min(ahi[k], bhi[k]) - Math.max(alo[k], blo[k]);
    if (d < 0) {
      inter = 0;
      break;
    }
    inter *= d;
  }
  const va = (ahi[0] - alo[0]) * (ahi[1] - alo[1]) * (ahi[2] - alo[2]);
  const vb = (bhi[0] - blo[0]) * (bhi[1] - blo[1]) * (bhi[2] - blo[2]);
  const union = va + vb - inter;
  return union > 0 ? inter / union : 0;
}

function isYSymmetric(className: string, handleVisible: boolean): boolean {
  return NOCS_Y_SYMMETRIC_CLASSES.includes(className) || (className === 'mug' && !handleVisible);
}

function rotY(theta: number): Pose {
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  return { R: new Float64Array([c, 0, s, 0, 1, 0, -s, 0, c]), tM: new Float64Array(3) };
}

/**
 * NOCS `compute_3d_iou_new`: for the same class and a y-symmetric category (bottle, bowl, can, or a mug
 * whose handle is not visible in the GT), the predicted box is rotated about its y axis by 2*pi*i/20,
 * i = 0..19, and the maximum IoU is kept; otherwise {@link asymmetric3dIou}.
 */
export function compute3dIou(
  pred: NocsBox,
  gt: NocsBox,
  predClassName: string,
  gtClassName: string,
  gtHandleVisible = true,
): number {
  if (predClassName === gtClassName && isYSymmetric(predClassName, gtHandleVisible)) {
    let best = 0;
    const n = 20;
    for (let i = 0; i < n; i++) {
      const rotated = { pose: composePoses(pred.pose, rotY((2 * Math.PI * i) / n)), sizeM: pred.sizeM };
      best = Math.max(best, asymmetric3dIou(rotated, gt));
    }
    return best;
  }
  return asymmetric3dIou(pred, gt);
}

/**
 * NOCS `compute_RT_degree_cm_symmetry`: [rotation error in degrees, translation error in cm] of `pred`
 * against `gt` of class `className`. y-symmetric classes (and mugs with the handle hidden) use the angle
 * between the rotated y axes; phone/eggbox/glue take the minimum over a 180° flip about y; otherwise the
 * geodesic angle. Cosines are clamped to [-1, 1] (NOCS does not clamp and can return NaN at 0°).
 */
export function nocsRotTransError(
  pred: Pose,
  gt: Pose,
  className: string,
  gtHandleVisible = true,
): [number, number] {
  requirePose('pred', pred);
  requirePose('gt', gt);
  const clampAcos = (c: number) => (Math.acos(Math.min(1, Math.max(-1, c))) * 180) / Math.PI;
  let deg: number;
  if (isYSymmetric(className, gtHandleVisible)) {
    const y1 = [pred.R[1], pred.R[4], pred.R[7]];
    const y2 = [gt.R[1], gt.R[4], gt.R[7]];
    const n1 = Math.hypot(y1[0], y1[1], y1[2]);
    const n2 = Math.hypot(y2[0], y2[1], y2[2]);
    deg = clampAcos((y1[0] * y2[0] + y1[1] * y2[1] + y1[2] * y2[2]) / (n1 * n2));
  } else {
    const M = matMul3(pred.R, transpose3(gt.R));
    deg = clampAcos((M[0] + M[4] + M[8] - 1) / 2);
    if (NOCS_Y_FLIP_CLASSES.includes(className)) {
      const flip = new Float64Array([-1, 0, 0, 0, 1, 0, 0, 0, -1]);
      const M2 = matMul3(matMul3(pred.R, flip), transpose3(gt.R));
      deg = Math.min(deg, clampAcos((M2[0] + M2[4] + M2[8] - 1) / 2));
    }
  }
  const cm = 100 * Math.hypot(pred.tM[0] - gt.tM[0], pred.tM[1] - gt.tM[1], pred.tM[2] - gt.tM[2]);
  return [deg, cm];
}

/**
 * NOCS `compute_ap_from_matches_scores`: VOC-style all-point interpolated AP. Predictions sorted by score
 * (descending); precision made monotonically non-increasing from the right; AP = sum over recall steps of
 * (r_i - r_{i-1}) * p_i, with the curve padded by (0, 0) and (1, 0). `predMatched[i]` = prediction i is a
 * true positive. Returns NaN when gtCount is 0 (the class has nothing to find).
 */
export function computeApFromMatchesScores(
  predMatched: readonly boolean[],
  predScores: readonly number[],
  gtCount: number,
): number {
  if (predMatched.length !== predScores.length) {
    throw new EvalInputError(
      'predScores',
      `length ${predScores.length} != predMatched length ${predMatched.length}`,
    );
  }
  if (gtCount <= 0) return NaN;
  const idx = predScores.map((_, i) => i).sort((a, b) => predScores[b] - predScores[a]);
  const precisions = [0];
  const recalls = [0];
  let tp = 0;
  idx.forEach((i, k) => {
    if (predMatched[i]) tp++;
    precisions.push(tp / (k + 1));
    recalls.push(tp / gtCount);
  });
  precisions.push(0);
  recalls.push(1);
  for (let i = precisions.length - 2; i >= 0; i--) precisions[i] = Math.max(precisions[i], precisions[i + 1]);
  let ap = 0;
  for (let i = 1; i < recalls.length; i++) {
    if (recalls[i] !== recalls[i - 1]) ap += (recalls[i] - recalls[i - 1]) * precisions[i];
  }
  return ap;
}

/** A GT instance of a category-level image. */
export interface NocsGtInstance extends NocsBox {
  classId: number;
  /** Mug handle visibility (NOCS gt_handle_visibility); default true. */
  handleVisible?: boolean;
}

/** A detection with pose and size. */
export interface NocsDetection extends NocsBox {
  classId: number;
  score: number;
}

export interface NocsImageResult {
  gt: NocsGtInstance[];
  pred: NocsDetection[];
}

/**
 * NOCS `compute_3d_matches` for one image (preds must already be in descending score order): for each
 * threshold and each prediction, GTs are visited by descending IoU; a matched GT is skipped, the scan stops
 * when IoU < threshold, other classes are skipped, and a match needs IoU > threshold (strict).
 * Returns predMatch[threshold][pred] = gt index or -1, and gtMatch likewise.
 */
export function compute3dMatches(
  overlaps: number[][],
  predClassIds: readonly number[],
  gtClassIds: readonly number[],
  iouThresholds: readonly number[],
): { predMatch: number[][]; gtMatch: number[][] } {
  const predMatch = iouThresholds.map(() => predClassIds.map(() => -1));
  const gtMatch = iouThresholds.map(() => gtClassIds.map(() => -1));
  iouThresholds.forEach((th, s) => {
    for (let i = 0; i < predClassIds.length; i++) {
      const order = gtClassIds.map((_, j) => j).sort((a, b) => overlaps[i][b] - overlaps[i][a]);
      for (const j of order) {
        if (gtMatch[s][j] > -1) continue;
        const iou = overlaps[i][j];
        if (iou < th) break;
        if (predClassIds[i] !== gtClassIds[j]) continue;
        if (iou > th) {
          gtMatch[s][j] = i;
          predMatch[s][i] = j;
          break;
        }
      }
    }
  });
  return { predMatch, gtMatch };
}

/**
 * NOCS `compute_match_from_degree_cm` for one image (preds in descending score order): for each
 * (degree, cm) threshold pair and each prediction, GTs are visited by ascending (degree + cm); the first
 * unmatched GT of the same class with degree <= thD and cm <= thCm is matched.
 */
export function computeDegreeCmMatches(
  errors: [number, number][][],
  predClassIds: readonly number[],
  gtClassIds: readonly number[],
  thresholds: readonly [number, number][],
): { predMatch: number[][]; gtMatch: number[][] } {
  const predMatch = thresholds.map(() => predClassIds.map(() => -1));
  const gtMatch = thresholds.map(() => gtClassIds.map(() => -1));
  thresholds.forEach(([thDeg, thCm], s) => {
    for (let i = 0; i < predClassIds.length; i++) {
      const order = gtClassIds
        .map((_, j) => j)
        .sort((a, b) => errors[i][a][0] + errors[i][a][1] - (errors[i][b][0] + errors[i][b][1]));
      for (const j of order) {
        if (gtMatch[s][j] > -1 || predClassIds[i] !== gtClassIds[j]) continue;
        if (errors[i][j][0] > thDeg || errors[i][j][1] > thCm) continue;
        gtMatch[s][j] = i;
        predMatch[s][i] = j;
        break;
      }
    }
  });
  return { predMatch, gtMatch };
}

export interface NocsMapOptions {
  /** 3D IoU thresholds to report (default [0.25, 0.5]). */
  iouThresholds?: number[];
  /** (degree, cm) thresholds (default 5°2cm, 5°5cm, 10°5cm, 10°10cm). */
  poseThresholds?: [number, number][];
  /** NOCS use_matches_for_pose: pose AP only over preds/GTs matched at IoU > iouPoseThreshold (default true). */
  useMatchesForPose?: boolean;
  /** Default 0.1, as in NOCS. */
  iouPoseThreshold?: number;
}

export interface NocsMapResult {
  iouThresholds: number[];
  poseThresholds: [number, number][];
  /** Per class id (only classes with at least one GT): AP at each IoU threshold and pose threshold. */
  perClass: { classId: number; name: string; iouAp: number[]; poseAp: number[] }[];
  /** Mean over classes with GT. */
  meanIouAp: number[];
  meanPoseAp: number[];
}

/**
 * Category-level mAP as NOCS `compute_degree_cm_mAP` + `compute_3d_matches`: per class, detections of all
 * images are matched per image (3D IoU, greedy by score), then pooled with their scores into
 * {@link computeApFromMatchesScores}; the mAP is the mean over classes that have GT instances. For pose AP
 * with useMatchesForPose (NOCS default), only predictions and GTs matched at 3D IoU > 0.1 take part, and the
 * GT count is the number of such matched GTs. Class names (for the symmetry rules) come from `classNames`
 * indexed by class id (default NOCS_CLASS_NAMES).
 */
export function computeNocsMap(
  images: readonly NocsImageResult[],
  classNames: readonly string[] = NOCS_CLASS_NAMES,
  options: NocsMapOptions = {},
): NocsMapResult {
  const iouThresholds = options.iouThresholds ?? [0.25, 0.5];
  const poseThresholds = options.poseThresholds ?? [
    [5, 2],
    [5, 5],
    [10, 5],
    [10, 10],
  ];
  const useMatches = options.useMatchesForPose ?? true;
  const iouPoseTh = options.iouPoseThreshold ?? 0.1;
  const nameOf = (id: number) => {
    const n = classNames[id];
    if (n === undefined)
      throw new EvalInputError('classId', `${id} has no entry in classNames (${classNames.length})`);
    return n;
  };
  const classIds = new Set<number>();
  for (const im of images) for (const g of im.gt) classIds.add(g.classId);
  type Acc = {
    iouMatched: boolean[][];
    iouScores: number[];
    iouGt: number;
    poseMatched: boolean[][];
    poseScores: number[];
    poseGt: number;
  };
  const acc = new Map<number, Acc>();
  for (const c of classIds) {
    acc.set(c, {
      iouMatched: iouThresholds.map(() => []),
      iouScores: [],
      iouGt: 0,
      poseMatched: poseThresholds.map(() => []),
      poseScores: [],
      poseGt: 0,
    });
  }
  for (const im of images) {
    for (const c of classIds) {
      const a = acc.get(c) as Acc;
      const gts = im.gt.filter((g) => g.classId === c);
      const preds = im.pred.filter((p) => p.classId === c).sort((x, y) => y.score - x.score);
      const name = nameOf(c);
      const overlaps = preds.map((p) =>
        gts.map((g) => compute3dIou(p, g, name, name, g.handleVisible ?? true)),
      );
      const pc = preds.map((p) => p.classId);
      const gc = gts.map((g) => g.classId);
      const iou = compute3dMatches(overlaps, pc, gc, [...iouThresholds, iouPoseTh]);
      a.iouGt += gts.length;
      for (const p of preds) a.iouScores.push(p.score);
      iouThresholds.forEach((_, s) => iou.predMatch[s].forEach((m) => a.iouMatched[s].push(m > -1)));
      // Pose matching, optionally restricted to IoU-matched predictions and GTs (NOCS use_matches_for_pose).
      const last = iouThresholds.length;
      const pKeep = preds.map((_, i) => !useMatches || iou.predMatch[last][i] > -1);
      const gKeep = gts.map((_, j) => !useMatches || iou.gtMatch[last][j] > -1);
      const pSel = preds.filter((_, i) => pKeep[i]);
      const gSel = gts.filter((_, j) => gKeep[j]);
      const errs = pSel.map((p) =>
        gSel.map((g) => nocsRotTransError(p.pose, g.pose, name, g.handleVisible ?? true)),
      );
      const pose = computeDegreeCmMatches(
        errs,
        pSel.map((p) => p.classId),
        gSel.map((g) => g.classId),
        poseThresholds,
      );
      a.poseGt += gSel.length;
      for (const p of pSel) a.poseScores.push(p.score);
      poseThresholds.forEach((_, s) => pose.predMatch[s].forEach((m) => a.poseMatched[s].push(m > -1)));
    }
  }
  const perClass = [...classIds]
    .sort((x, y) => x - y)
    .map((c) => {
      const a = acc.get(c) as Acc;
      return {
        classId: c,
        name: nameOf(c),
        iouAp: iouThresholds.map((_, s) => computeApFromMatchesScores(a.iouMatched[s], a.iouScores, a.iouGt)),
        poseAp: poseThresholds.map((_, s) =>
          a.poseGt > 0 ? computeApFromMatchesScores(a.poseMatched[s], a.poseScores, a.poseGt) : 0,
        ),
      };
    });
  const mean = (vals: number[]) => (vals.length ? vals.reduce((x, y) => x + y, 0) / vals.length : 0);
  return {
    iouThresholds,
    poseThresholds,
    perClass,
    meanIouAp: iouThresholds.map((_, s) => mean(perClass.map((p) => p.iouAp[s]))),
    meanPoseAp: poseThresholds.map((_, s) => mean(perClass.map((p) => p.poseAp[s]))),
  };
}
