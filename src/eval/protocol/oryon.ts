/**
 * Per-pair evaluation and aggregation of Oryon's protocol (Corsetti et al. CVPR 2024; reference
 * scripts/evaluation/compute_metrics.py and utils/evaluator.py):
 * - the relative estimate is turned into a query-frame pose T_rel * T_a (anchor GT) and compared with T_q;
 * - BOP 2019 scores per pair: VSD (needs the query depth and a renderer), MSSD, MSPD, AR = their mean;
 * - ADD(S)-0.1d: ADD-S for objects with symmetries, else ADD, correct when error <= 0.1 x diameter;
 * - rotation error (deg) and translation error (cm) in the query frame;
 * - a missing estimate (no mask / no pose) is a failure: every score 0 (Oryon register_test_failure).
 */
import type { CameraIntrinsics, Pose } from '../../types';
import { EvalInputError, requirePositive } from '../metrics/errors';
import { add, adi, mspd, mssd, re, teCm } from '../metrics/poseError';
import { vsd, type RenderDepthFn, type VsdOptions } from '../metrics/vsd';
import { BOP19_CORRECT_TH, BOP19_MSPD_TH_PX, bop19TargetScores, recallCurve } from '../metrics/recall';
import { summarizeMaskIou, type MaskIouSummary } from '../metrics/mask';
import { queryPoseFromRelative, type OryonPair } from './pairs';

/** What the evaluation needs to know about an object. */
export interface EvalObjectModel<M = unknown> {
  /** Model points, metres, interleaved xyz. */
  pointsM: ArrayLike<number>;
  /** Object diameter, metres (BOP models_info diameter). */
  diameterM: number;
  /** Symmetry transformations (getSymmetryTransformations); [identity] for asymmetric objects. */
  symmetries: Pose[];
  /**
   * Diameter for ADD(S)-0.1d when it differs from diameterM (Oryon recomputes it as the largest distance
   * between model points, see modelDiameter); default diameterM.
   */
  addDiameterM?: number;
  /**
   * Whether ADD-S (true) or ADD (false) is used for ADD(S)-0.1d. Default as Oryon: true when the object has
   * symmetries (symmetries.length > 1).
   */
  symmetric?: boolean;
  /** Model handed to the VSD renderer. */
  renderModel?: M;
}

/** One JSON line of results: everything needed to aggregate and to resume. */
export interface PairRecord {
  pairId: string;
  objectId: string;
  prompt: string;
  status: 'ok' | 'missing';
  /** Relative estimate anchor -> query (row-major R, tM), absent when missing. */
  estimateRel?: { R: number[]; tM: number[] };
  diameterM: number;
  /** Diameter used for ADD(S)-0.1d when different from diameterM. */
  addDiameterM?: number;
  imageWidth: number;
  errors?: {
    addM: number;
    adiM: number;
    /** The ADD(S) error used for ADD(S)-0.1d (adi when symmetric, else add). */
    addSM: number;
    reDeg: number;
    teCm: number;
    mssdM: number;
    mspdPx: number;
    /** One VSD error per tau, when depth and renderer were available. */
    vsd?: number[];
  };
  scores: { mssd: number; mspd: number; vsd?: number; ar?: number; addS01d: 0 | 1 };
  iouAnchor: number | null;
  iouQuery: number | null;
  /** Free-form extra fields (timings, mask variant, ...). */
  extra?: Record<string, unknown>;
}

/** Inputs of one pair evaluation. */
export interface EvaluatePairInput<M> {
  pair: OryonPair;
  /** Relative pose estimate anchor -> query; null when the method produced nothing. */
  estimateRel: Pose | null;
  model: EvalObjectModel<M>;
  /** Query camera. */
  camera: CameraIntrinsics;
  /** Query depth (metres) for VSD; VSD is skipped when it or renderDepth is absent. */
  depthQueryM?: Float32Array;
  renderDepth?: RenderDepthFn<M>;
  vsdOptions?: VsdOptions;
  iouAnchor?: number | null;
  iouQuery?: number | null;
}

/** Evaluates one pair into a {@link PairRecord}. */
export function evaluateOryonPair<M>(input: EvaluatePairInput<M>): PairRecord {
  const { pair, estimateRel, model, camera } = input;
  requirePositive('model.diameterM', model.diameterM);
  const base = {
    pairId: pair.pairId,
    objectId: pair.objectId,
    prompt: pair.prompt,
    diameterM: model.diameterM,
    ...(model.addDiameterM !== undefined ? { addDiameterM: model.addDiameterM } : {}),
    imageWidth: camera.width,
    iouAnchor: input.iouAnchor ?? null,
    iouQuery: input.iouQuery ?? null,
  };
  const withVsd = !!(input.depthQueryM && input.renderDepth && model.renderModel !== undefined);
  if (!estimateRel) {
    return {
      ...base,
      status: 'missing',
      scores: withVsd ? { mssd: 0, mspd: 0, vsd: 0, ar: 0, addS01d: 0 } : { mssd: 0, mspd: 0, addS01d: 0 },
    };
  }
  const est = queryPoseFromRelative(estimateRel, pair.anchor.poseGt);
  const gt = pair.query.poseGt;
  const addM = add(est, gt, model.pointsM);
  const adiM = adi(est, gt, model.pointsM);
  const addSM = (model.symmetric ?? model.symmetries.length > 1) ? adiM : addM;
  const mssdM = mssd(est, gt, model.pointsM, model.symmetries);
  const mspdPx = mspd(est, gt, camera, model.pointsM, model.symmetries);
  const vsdErr = withVsd
    ? vsd(
        est,
        gt,
        input.depthQueryM as Float32Array,
        camera,
        model.renderModel as M,
        input.renderDepth as RenderDepthFn<M>,
        {
          diameterM: model.diameterM,
          ...input.vsdOptions,
        },
      )
    : undefined;
  const s = bop19TargetScores({
    vsd: vsdErr ?? null,
    mssdM,
    mspdPx,
    diameterM: model.diameterM,
    imageWidth: camera.width,
  });
  return {
    ...base,
    status: 'ok',
    estimateRel: { R: Array.from(estimateRel.R), tM: Array.from(estimateRel.tM) },
    errors: {
      addM,
      adiM,
      addSM,
      reDeg: re(est.R, gt.R),
      teCm: teCm(est.tM, gt.tM),
      mssdM,
      mspdPx,
      ...(vsdErr ? { vsd: vsdErr } : {}),
    },
    scores: {
      mssd: s.mssd,
      mspd: s.mspd,
      ...(vsdErr ? { vsd: s.vsd, ar: s.ar } : {}),
      addS01d: addSM <= 0.1 * (model.addDiameterM ?? model.diameterM) ? 1 : 0,
    },
  };
}

/** Aggregate numbers of a set of pair records. */
export interface OryonAggregate {
  count: number;
  missing: number;
  /** Means over pairs (missing = 0). `vsd`/`ar` are present only when every record has VSD. */
  ar?: number;
  vsd?: number;
  mssd: number;
  mspd: number;
  addS01d: number;
  /** Mean / median rotation (deg) and translation (cm) errors over pairs with an estimate. */
  meanReDeg: number | null;
  medianReDeg: number | null;
  meanTeCm: number | null;
  medianTeCm: number | null;
  /** Recall curves (missing = failure): MSSD vs fraction of diameter, MSPD vs px at 640 width, ADD(S) vs fraction. */
  curves: {
    mssd: { thresholds: number[]; recall: number[] };
    mspd: { thresholds: number[]; recall: number[] };
    addS: { thresholds: number[]; recall: number[] };
  };
  mask: MaskIouSummary;
  perObject: {
    objectId: string;
    prompt: string;
    count: number;
    ar?: number;
    mssd: number;
    mspd: number;
    addS01d: number;
  }[];
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
function median(v: number[]): number | null {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarise(records: PairRecord[]) {
  const hasVsd = records.length > 0 && records.every((r) => r.scores.vsd !== undefined);
  return {
    ...(hasVsd
      ? { ar: mean(records.map((r) => r.scores.ar ?? 0)), vsd: mean(records.map((r) => r.scores.vsd ?? 0)) }
      : {}),
    mssd: mean(records.map((r) => r.scores.mssd)),
    mspd: mean(records.map((r) => r.scores.mspd)),
    addS01d: mean(records.map((r) => r.scores.addS01d)),
  };
}

/** ADD(S) curve thresholds, fractions of the diameter: 0.02 .. 0.5. */
export const ADDS_CURVE_FRACTIONS: readonly number[] = Array.from({ length: 25 }, (_, i) => (i + 1) * 0.02);

/**
 * Aggregates pair records as Oryon's evaluator (means over pairs, failures count 0) plus recall curves,
 * error statistics, the mask IoU summary and per-object means.
 */
export function aggregateOryon(records: readonly PairRecord[]): OryonAggregate {
  const rs = [...records];
  rs.forEach((r, i) => {
    if (!r || typeof r.pairId !== 'string' || !r.scores) {
      throw new EvalInputError(`records[${i}]`, 'is not a PairRecord (needs pairId and scores)');
    }
  });
  const ok = rs.filter((r) => r.status === 'ok' && r.errors);
  const reDeg = ok.map((r) => r.errors?.reDeg as number);
  const teCmV = ok.map((r) => r.errors?.teCm as number);
  const norm = (r: PairRecord, f: (r: PairRecord) => number | undefined) =>
    r.status === 'ok' && r.errors ? (f(r) as number) : null;
  const mssdNorm = rs.map((r) => norm(r, (x) => (x.errors?.mssdM as number) / x.diameterM));
  const mspdNorm = rs.map((r) => norm(r, (x) => ((x.errors?.mspdPx as number) * 640) / x.imageWidth));
  const addsNorm = rs.map((r) =>
    norm(r, (x) => (x.errors?.addSM as number) / (x.addDiameterM ?? x.diameterM)),
  );
  const byObj = new Map<string, PairRecord[]>();
  for (const r of rs) {
    const l = byObj.get(r.objectId);
    if (l) l.push(r);
    else byObj.set(r.objectId, [r]);
  }
  return {
    count: rs.length,
    missing: rs.length - ok.length,
    ...summarise(rs),
    meanReDeg: reDeg.length ? mean(reDeg) : null,
    medianReDeg: median(reDeg),
    meanTeCm: teCmV.length ? mean(teCmV) : null,
    medianTeCm: median(teCmV),
    curves: {
      mssd: { thresholds: [...BOP19_CORRECT_TH], recall: recallCurve(mssdNorm, BOP19_CORRECT_TH) },
      mspd: { thresholds: [...BOP19_MSPD_TH_PX], recall: recallCurve(mspdNorm, BOP19_MSPD_TH_PX) },
      addS: {
        thresholds: [...ADDS_CURVE_FRACTIONS],
        recall: recallCurve(addsNorm, ADDS_CURVE_FRACTIONS, true),
      },
    },
    mask: summarizeMaskIou(rs.map((r) => ({ iouAnchor: r.iouAnchor, iouQuery: r.iouQuery }))),
    perObject: [...byObj.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([objectId, l]) => ({ objectId, prompt: l[0].prompt, count: l.length, ...summarise(l) })),
  };
}
