/**
 * Recall curves and the BOP 2019 average recall (AR), as computed by bop_toolkit `scripts/eval_bop19_pose.py`
 * + `eval_calc_scores.py` (Hodan et al., BOP Challenge 2019/2020):
 * - an estimate is correct for a threshold th when its error e < th (strict);
 * - MSSD: th in {0.05, ..., 0.5} x object diameter; MSPD: th in {5, ..., 50} px x r with r = imageWidth/640;
 * - VSD: delta = 15 mm, tau in {0.05, ..., 0.5} x diameter, and for every (tau, th) pair with th in
 *   {0.05, ..., 0.5} a recall is computed; AR_VSD is the mean of these 10 x 10 recalls (the BOP 2018
 *   single setting tau = 20 mm, theta = 0.3 is not used);
 * - AR_X = mean over its thresholds of recall; AR = (AR_VSD + AR_MSSD + AR_MSPD) / 3;
 * - recall = correct targets / all targets; a target without an estimate (null / NaN) is a failure.
 * Because every threshold sees the same set of targets, the mean over targets of the per-target fraction of
 * passed thresholds equals the mean over thresholds of recall; both forms are exposed.
 */
import { EvalInputError } from './errors';

/** 0.05, 0.10, ..., 0.50 (fractions of the object diameter), as np.arange(0.05, 0.51, 0.05). */
export const BOP19_CORRECT_TH: readonly number[] = Array.from({ length: 10 }, (_, i) => (i + 1) * 0.05);
/** 5, 10, ..., 50 px at the 640-px reference width. */
export const BOP19_MSPD_TH_PX: readonly number[] = Array.from({ length: 10 }, (_, i) => (i + 1) * 5);

/** MSPD thresholds for an image width: th * width / 640 (BOP's r factor). */
export function mspdThresholdsPx(imageWidth: number): number[] {
  if (!(imageWidth > 0)) throw new EvalInputError('imageWidth', `must be > 0, got ${imageWidth}`);
  return BOP19_MSPD_TH_PX.map((t) => (t * imageWidth) / 640);
}

/** MSSD thresholds in metres for a diameter: th * diameter. */
export function mssdThresholdsM(diameterM: number): number[] {
  if (!(diameterM > 0)) throw new EvalInputError('diameterM', `must be > 0, got ${diameterM}`);
  return BOP19_CORRECT_TH.map((t) => t * diameterM);
}

function isMissing(e: number | null | undefined): boolean {
  return e === null || e === undefined || Number.isNaN(e);
}

/**
 * Fraction of thresholds passed by one error (e < th, or e <= th when `inclusive`). A missing error passes
 * none. This is the per-target score whose mean over targets is the AR of that metric.
 */
export function passedFraction(
  error: number | null | undefined,
  thresholds: readonly number[],
  inclusive = false,
): number {
  if (thresholds.length === 0) throw new EvalInputError('thresholds', 'is empty');
  if (isMissing(error)) return 0;
  const e = error as number;
  let c = 0;
  for (const th of thresholds) if (inclusive ? e <= th : e < th) c++;
  return c / thresholds.length;
}

/**
 * Recall at each threshold: share of targets whose error is < th (<= when `inclusive`). Missing errors
 * (null/NaN) count as failures. Returns zeros for an empty list.
 */
export function recallCurve(
  errors: readonly (number | null | undefined)[],
  thresholds: readonly number[],
  inclusive = false,
): number[] {
  return thresholds.map((th) => {
    if (errors.length === 0) return 0;
    let c = 0;
    for (const e of errors) if (!isMissing(e) && (inclusive ? (e as number) <= th : (e as number) < th)) c++;
    return c / errors.length;
  });
}

/** Mean of a recall curve: AR of one metric. */
export function meanRecall(curve: readonly number[]): number {
  return curve.length ? curve.reduce((a, b) => a + b, 0) / curve.length : 0;
}

/**
 * Per-target VSD score: mean over (tau, th) of [vsdErrors[tau] < th]; `vsdErrors` holds one error per tau
 * (from vsd()), null = missing estimate -> 0.
 */
export function vsdPassedFraction(
  vsdErrors: readonly number[] | null | undefined,
  thresholds: readonly number[] = BOP19_CORRECT_TH,
): number {
  if (!vsdErrors) return 0;
  if (vsdErrors.length === 0) throw new EvalInputError('vsdErrors', 'is empty; pass one error per tau');
  let s = 0;
  for (const e of vsdErrors) s += passedFraction(e, thresholds);
  return s / vsdErrors.length;
}

/**
 * VSD recall surface: recall[tauIndex][thIndex] over targets (missing = failure). AR_VSD = mean of all.
 */
export function vsdRecallSurface(
  vsdErrorsPerTarget: readonly (readonly number[] | null | undefined)[],
  tauCount: number,
  thresholds: readonly number[] = BOP19_CORRECT_TH,
): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < tauCount; k++) {
    out.push(
      recallCurve(
        vsdErrorsPerTarget.map((v) => (v ? v[k] : null)),
        thresholds,
      ),
    );
  }
  return out;
}

/** Per-target BOP 2019 errors; null/undefined = no estimate. */
export interface Bop19TargetErrors {
  /** One VSD error per tau (BOP19_VSD_TAUS). */
  vsd?: readonly number[] | null;
  mssdM?: number | null;
  mspdPx?: number | null;
  diameterM: number;
  imageWidth: number;
}

/** Per-target BOP 2019 scores in [0, 1] (fraction of thresholds passed) and their mean, the target's AR. */
export interface Bop19TargetScores {
  vsd: number;
  mssd: number;
  mspd: number;
  ar: number;
}

/**
 * BOP 2019 scores of one target (what Oryon's evaluator appends per pair); averaging these over all
 * targets gives AR_VSD, AR_MSSD, AR_MSPD and AR exactly as bop_toolkit.
 */
export function bop19TargetScores(t: Bop19TargetErrors): Bop19TargetScores {
  const vsd = vsdPassedFraction(t.vsd ?? null);
  const mssd = passedFraction(t.mssdM, mssdThresholdsM(t.diameterM));
  const mspd = passedFraction(t.mspdPx, mspdThresholdsPx(t.imageWidth));
  return { vsd, mssd, mspd, ar: (vsd + mssd + mspd) / 3 };
}

/** Mean of each BOP 2019 score over targets: { vsd: AR_VSD, mssd: AR_MSSD, mspd: AR_MSPD, ar: AR }. */
export function averageBop19Scores(scores: readonly Bop19TargetScores[]): Bop19TargetScores {
  const n = scores.length;
  if (n === 0) return { vsd: 0, mssd: 0, mspd: 0, ar: 0 };
  const s = { vsd: 0, mssd: 0, mspd: 0, ar: 0 };
  for (const x of scores) {
    s.vsd += x.vsd;
    s.mssd += x.mssd;
    s.mspd += x.mspd;
    s.ar += x.ar;
  }
  return { vsd: s.vsd / n, mssd: s.mssd / n, mspd: s.mspd / n, ar: s.ar / n };
}

/**
 * ADD(-S) recall at a fraction of the diameter (default 0.1 d). Inclusive (e <= 0.1 d) as in Oryon's
 * `ADD(S)-0.1d`; missing = failure.
 */
export function addRecall(
  errorsM: readonly (number | null | undefined)[],
  diametersM: readonly number[],
  fraction = 0.1,
): number {
  if (errorsM.length !== diametersM.length) {
    throw new EvalInputError('diametersM', `length ${diametersM.length} != errorsM length ${errorsM.length}`);
  }
  if (errorsM.length === 0) return 0;
  let c = 0;
  errorsM.forEach((e, i) => {
    if (!isMissing(e) && (e as number) <= fraction * diametersM[i]) c++;
  });
  return c / errorsM.length;
}

/** BOP's visibility filter: targets with visib_fract < 0.1 are not evaluated (eval `visib_gt_min`). */
export const BOP_VISIB_GT_MIN = 0.1;

/** True when a GT instance takes part in the evaluation (visibFract >= minVisibFract; unknown = yes). */
export function isTargetVisible(visibFract: number | undefined, minVisibFract = BOP_VISIB_GT_MIN): boolean {
  return visibFract === undefined || visibFract >= minVisibFract;
}
