/**
 * Greedy matching of pose estimates to GT poses in one image for one object, as bop_toolkit
 * `pose_matching.match_poses` (used by eval_calc_scores.py for BOP single-view, multi-instance evaluation).
 */
import { EvalInputError } from './errors';

/** One estimate with its errors w.r.t. each GT instance (gtId -> error vector, one element per threshold). */
export interface EstimateErrors {
  estId: number;
  score: number;
  errors: Map<number, readonly number[]>;
}

export interface PoseMatch {
  estId: number;
  gtId: number;
  score: number;
  error: number[];
  /** error[i] / threshold[i]. */
  errorNorm: number[];
}

/**
 * bop_toolkit `match_poses`: estimates sorted by decreasing score (top `maxEstsCount`, 0 = all; BOP 2019
 * uses the number of GT instances of the object in the image); each estimate is matched to the not yet
 * matched valid GT whose error vector is element-wise below the thresholds and below the best so far
 * (strict `<`); each GT and each estimate is matched at most once.
 */
export function matchPoses(
  estimates: readonly EstimateErrors[],
  errorThresholds: readonly number[],
  maxEstsCount = 0,
  gtValid?: (gtId: number) => boolean,
): PoseMatch[] {
  if (errorThresholds.length === 0)
    throw new EvalInputError('errorThresholds', 'is empty; pass one per error element');
  const sorted = [...estimates].sort((a, b) => b.score - a.score);
  const used = maxEstsCount > 0 ? sorted.slice(0, maxEstsCount) : sorted;
  const k = errorThresholds.length;
  const matched = new Set<number>();
  const out: PoseMatch[] = [];
  for (const e of used) {
    let bestGt = -1;
    let best: readonly number[] = errorThresholds;
    for (const [gtId, err] of e.errors) {
      if (err.length < k) {
        throw new EvalInputError(
          `estimates[${e.estId}].errors[${gtId}]`,
          `has ${err.length} elements, need ${k}`,
        );
      }
      if ((gtValid && !gtValid(gtId)) || matched.has(gtId)) continue;
      let better = true;
      for (let i = 0; i < k; i++) if (!(err[i] < best[i])) better = false;
      if (better) {
        bestGt = gtId;
        best = err;
      }
    }
    if (bestGt >= 0) {
      matched.add(bestGt);
      out.push({
        estId: e.estId,
        gtId: bestGt,
        score: e.score,
        error: [...best.slice(0, k)],
        errorNorm: best.slice(0, k).map((v, i) => v / errorThresholds[i]),
      });
    }
  }
  return out;
}
