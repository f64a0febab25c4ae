/** 2D mask metrics (bop_toolkit `cou_mask`; Oryon's mask IoU summary, Corsetti et al. CVPR 2024). */
import { EvalInputError } from './errors';

/**
 * Intersection over union of two binary masks of equal length (non-zero = inside). Returns 0 when both are
 * empty (bop_toolkit `cou_mask` returns the complement 1 in that case).
 */
export function maskIou(maskA: ArrayLike<number>, maskB: ArrayLike<number>): number {
  if (maskA.length !== maskB.length) {
    throw new EvalInputError(
      'maskB',
      `length ${maskB.length} != maskA length ${maskA.length}; masks must share a size`,
    );
  }
  let inter = 0;
  let union = 0;
  for (let i = 0; i < maskA.length; i++) {
    const a = maskA[i] !== 0;
    const b = maskB[i] !== 0;
    if (a || b) union++;
    if (a && b) inter++;
  }
  return union > 0 ? inter / union : 0;
}

/** Per-pair mask IoU: anchor and query; null = no predicted mask (counts as IoU 0). */
export interface PairMaskIou {
  iouAnchor: number | null;
  iouQuery: number | null;
}

export interface MaskIouSummary {
  count: number;
  meanIouAnchor: number;
  meanIouQuery: number;
  /** Mean over pairs of (iouAnchor + iouQuery) / 2. */
  meanIou: number;
  /** Share of pairs whose mean IoU is strictly above 0.25 / 0.5 / 0.75 (Oryon: `mean_iou > th`). */
  shareAbove025: number;
  shareAbove050: number;
  shareAbove075: number;
}

/**
 * Oryon's mask metrics over pairs (utils/evaluator.py): per pair the mean IoU is (anchor + query) / 2; the
 * report gives the means and the share of pairs with mean IoU > 0.25 / 0.5 / 0.75. Missing masks are 0.
 */
export function summarizeMaskIou(pairs: PairMaskIou[]): MaskIouSummary {
  const n = pairs.length;
  if (n === 0) {
    return {
      count: 0,
      meanIouAnchor: 0,
      meanIouQuery: 0,
      meanIou: 0,
      shareAbove025: 0,
      shareAbove050: 0,
      shareAbove075: 0,
    };
  }
  let sa = 0;
  let sq = 0;
  let sm = 0;
  let c25 = 0;
  let c50 = 0;
  let c75 = 0;
  for (const p of pairs) {
    const a = p.iouAnchor ?? 0;
    const q = p.iouQuery ?? 0;
    const m = (a + q) / 2;
    sa += a;
    sq += q;
    sm += m;
    if (m > 0.25) c25++;
    if (m > 0.5) c50++;
    if (m > 0.75) c75++;
  }
  return {
    count: n,
    meanIouAnchor: sa / n,
    meanIouQuery: sq / n,
    meanIou: sm / n,
    shareAbove025: c25 / n,
    shareAbove050: c50 / n,
    shareAbove075: c75 / n,
  };
}
