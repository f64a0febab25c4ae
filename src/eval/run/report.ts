/**
 * report.html of a run: the Oryon/BOP tables and plots of src/eval/report plus overlay thumbnails of the best
 * and worst pairs (anchor | query side by side: GT mask tinted green, the mask used for the estimate outlined
 * in magenta, GT box/axes in green, estimated box/axes in red on the query).
 */
import * as fs from 'fs';
import { renderOverlayPng, type OverlayObject } from '../../cli/overlay';
import type { RgbImage } from '../../types';
import type { ConvertedDataset } from '../dataset';
import { composePoses } from '../metrics/linalg';
import type { NocsMapResult } from '../metrics/nocs';
import type { OryonAggregate, PairRecord } from '../protocol/oryon';
import type { OryonPair } from '../protocol/pairs';
import { BOP19_CORRECT_TH, recallCurve } from '../metrics/recall';
import { buildReportHtml, oryonReportInput, type ReportThumbnail } from '../report/html';
import { recallCurveSvg } from '../report/svg';
import { TaskEvaluator, type EvalRunConfig } from './evaluator';
import type { EvalView } from './evalPipeline';

/**
 * VSD recall vs the correctness threshold θ (0.05..0.5), averaged over the τ values (BOP19 AR_VSD is the mean
 * of this curve); null when the records have no VSD errors. Missing estimates are failures.
 */
export function vsdRecallCurve(
  records: readonly PairRecord[],
): { thresholds: number[]; recall: number[] } | null {
  if (!records.length || !records.every((r) => r.status !== 'ok' || r.errors?.vsd)) return null;
  const withVsd = records.find((r) => r.errors?.vsd);
  if (!withVsd) return null;
  const nTau = withVsd.errors!.vsd!.length;
  const recall = BOP19_CORRECT_TH.map((th) => {
    let s = 0;
    for (let k = 0; k < nTau; k++) {
      s += recallCurve(
        records.map((r) => (r.status === 'ok' ? (r.errors?.vsd?.[k] ?? null) : null)),
        [th],
      )[0];
    }
    return s / nTau;
  });
  return { thresholds: [...BOP19_CORRECT_TH], recall };
}

/** Counts of the reasons why no estimate was produced (the part before ':' of `extra.failure`). */
export function failureReasons(records: readonly PairRecord[]): [string, number][] {
  const c = new Map<string, number>();
  for (const r of records) {
    if (r.status === 'ok') continue;
    const f = typeof r.extra?.failure === 'string' ? (r.extra.failure as string) : 'unknown';
    const k = f.split(':')[0].trim() || 'unknown';
    c.set(k, (c.get(k) ?? 0) + 1);
  }
  return [...c.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** Score used to rank pairs: AR when VSD was computed, else mean of MSSD/MSPD scores; missing = -1. */
export function pairRank(r: PairRecord): number {
  if (r.status !== 'ok') return -1;
  return r.scores.ar ?? (r.scores.mssd + r.scores.mspd) / 2;
}

/** Copy of the view's RGB with the GT mask tinted green and the estimate's mask outlined in magenta. */
function tinted(v: EvalView): RgbImage {
  const { width: w, height: h, data } = v.frame.rgb;
  const out = new Uint8Array(data);
  for (let i = 0; i < w * h; i++) {
    if (v.gtMask[i]) {
      out[3 * i] = (out[3 * i] * 0.6) | 0;
      out[3 * i + 1] = Math.min(255, out[3 * i + 1] * 0.6 + 100) | 0;
      out[3 * i + 2] = (out[3 * i + 2] * 0.6) | 0;
    }
    if (v.mask[i]) {
      const x = i % w;
      const y = (i / w) | 0;
      const edge =
        x === 0 ||
        y === 0 ||
        x === w - 1 ||
        y === h - 1 ||
        !v.mask[i - 1] ||
        !v.mask[i + 1] ||
        !v.mask[i - w] ||
        !v.mask[i + w];
      if (edge) out.set([255, 0, 255], 3 * i);
    }
  }
  return { width: w, height: h, data: out };
}

/** Nearest-neighbour upscaling by an integer factor (small evaluation images stay legible). */
function upscale(img: RgbImage, k: number): RgbImage {
  if (k <= 1) return img;
  const w = img.width * k;
  const h = img.height * k;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = (y / k) | 0;
    for (let x = 0; x < w; x++) {
      const si = (sy * img.width + ((x / k) | 0)) * 3;
      const di = (y * w + x) * 3;
      out[di] = img.data[si];
      out[di + 1] = img.data[si + 1];
      out[di + 2] = img.data[si + 2];
    }
  }
  return { width: w, height: h, data: out };
}

function sideBySide(a: RgbImage | null, b: RgbImage): RgbImage {
  if (!a) return b;
  const w = a.width + b.width;
  const h = Math.max(a.height, b.height);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    if (y < a.height) out.set(a.data.subarray(y * a.width * 3, (y + 1) * a.width * 3), y * w * 3);
    if (y < b.height) out.set(b.data.subarray(y * b.width * 3, (y + 1) * b.width * 3), (y * w + a.width) * 3);
  }
  return { width: w, height: h, data: out };
}

async function thumbnail(
  ev: TaskEvaluator,
  pair: OryonPair,
  rec: PairRecord,
  label: string,
): Promise<ReportThumbnail> {
  const q = await ev.view(pair.query.sceneId, pair.query.frameId, pair.objectId);
  const a =
    ev.config.protocol === 'oryon'
      ? await ev.view(pair.anchor.sceneId, pair.anchor.frameId, pair.objectId)
      : null;
  const k = Math.max(1, Math.floor(360 / q.frame.camera.height));
  const img = upscale(sideBySide(a ? tinted(a) : null, tinted(q)), k);
  const model = ev.model(pair.objectId);
  const st = model.stored;
  const lo = (st.minM ?? [-0.05, -0.05, -0.05]) as [number, number, number];
  const hi = lo.map((v, k) => v + (st.sizeM?.[k] ?? 0.1)) as [number, number, number];
  const shift = a ? a.frame.camera.width : 0;
  const c0 = q.frame.camera;
  // pixel (u, v) of the query becomes ((u + shift + 0.5) k - 0.5, (v + 0.5) k - 0.5) in the thumbnail
  const cam = {
    ...c0,
    fx: c0.fx * k,
    fy: c0.fy * k,
    cx: (c0.cx + shift + 0.5) * k - 0.5,
    cy: (c0.cy + 0.5) * k - 0.5,
    width: img.width,
    height: img.height,
  };
  const objs: OverlayObject[] = [
    { label: 'GT', pose: pair.query.poseGt, boxMinM: lo, boxMaxM: hi, color: '#30e030' },
  ];
  if (rec.estimateRel) {
    const est = composePoses(
      { R: Float64Array.from(rec.estimateRel.R), tM: Float64Array.from(rec.estimateRel.tM) },
      pair.anchor.poseGt,
    );
    objs.push({ label: 'estimate', pose: est, boxMinM: lo, boxMaxM: hi, color: '#ff3030' });
  }
  const png = await renderOverlayPng(img, cam, objs);
  const score = pairRank(rec);
  return {
    caption: `${label}: ${pair.prompt} — ${pair.pairId} (${rec.status === 'ok' ? `score ${score.toFixed(3)}` : 'no estimate'})`,
    dataUri: `data:image/png;base64,${png.toString('base64')}`,
  };
}

export interface WriteReportInput {
  file: string;
  title: string;
  config: EvalRunConfig;
  ds: ConvertedDataset;
  tasks: OryonPair[];
  records: PairRecord[];
  aggregate: OryonAggregate;
  /** NOCS category-level mAP (REAL275). */
  nocs?: NocsMapResult | null;
  /** Best and worst pairs each. */
  thumbnails: number;
}

/** Writes report.html (and returns its text). */
export async function writeRunReport(r: WriteReportInput): Promise<string> {
  const byId = new Map(r.tasks.map((t) => [t.pairId, t]));
  const ranked = [...r.records].sort((x, y) => pairRank(y) - pairRank(x) || (x.pairId < y.pairId ? -1 : 1));
  const n = Math.min(r.thumbnails, Math.floor(ranked.length / 2));
  const picks: [PairRecord, string][] = [
    ...ranked.slice(0, n).map((p, i) => [p, `best #${i + 1}`] as [PairRecord, string]),
    ...ranked.slice(ranked.length - n).map((p, i) => [p, `worst #${n - i}`] as [PairRecord, string]),
  ];
  const thumbs: ReportThumbnail[] = [];
  if (picks.length) {
    // views are recomputed through the node (masks are not stored in the JSON lines)
    const ev = await TaskEvaluator.create(r.config, r.ds);
    try {
      for (const [rec, label] of picks) {
        const pair = byId.get(rec.pairId);
        if (pair) thumbs.push(await thumbnail(ev, pair, rec, label));
      }
    } finally {
      await ev.close();
    }
  }
  const input = oryonReportInput(r.title, r.aggregate, r.records, thumbs);
  const feat = r.config.modelPath
    ? `dense features of the model package ${r.config.modelPath}`
    : 'per-pixel colour features (no model package given)';
  input.notes =
    `Dataset ${r.ds.info.dataset} (${r.ds.scenes.length} scenes, converted from ${r.ds.info.source}); ` +
    `protocol ${r.config.protocol}, ${r.tasks.length} tasks (seed ${r.config.seed}), ${r.config.masks} masks, ${feat}; ` +
    `VSD ${r.config.vsd ? 'on (delta 15 mm, tau 0.05-0.5 d)' : 'off'}. Missing estimates count as failures. ` +
    "These numbers are measured by this run on this data; they are not the papers' numbers.";
  input.summary = {
    ...input.summary,
    'mean IoU (anchor)': r.aggregate.mask.meanIouAnchor,
    'mean IoU (query)': r.aggregate.mask.meanIouQuery,
  };
  const vsdCurve = vsdRecallCurve(r.records);
  if (vsdCurve) {
    input.figures = [
      {
        caption: 'VSD recall vs threshold θ (mean over τ = 0.05..0.5 d; δ = 15 mm)',
        svg: recallCurveSvg({
          title: 'VSD',
          xLabel: 'threshold θ',
          series: [{ name: 'VSD', x: vsdCurve.thresholds, y: vsdCurve.recall }],
        }),
      },
      ...(input.figures ?? []),
    ];
  }
  const reasons = failureReasons(r.records);
  if (reasons.length) {
    input.tables = [
      ...(input.tables ?? []),
      {
        caption: 'Why estimates are missing (they count as failures)',
        headers: ['reason', 'pairs'],
        rows: reasons.map(([k, n]) => [k, n]),
      },
    ];
  }
  if (r.nocs) {
    const n = r.nocs;
    const pct = (v: number) => Math.round(v * 1000) / 10;
    input.tables = [
      ...(input.tables ?? []),
      {
        caption: 'NOCS category-level mAP (%, size taken from the GT: the protocol estimates no size)',
        headers: [
          'class',
          ...n.iouThresholds.map((t) => `3D IoU ${Math.round(t * 100)}`),
          ...n.poseThresholds.map(([d, c]) => `${d}°${c}cm`),
        ],
        rows: [
          ...n.perClass.map((c) => [c.name, ...c.iouAp.map(pct), ...c.poseAp.map(pct)]),
          ['mean', ...n.meanIouAp.map(pct), ...n.meanPoseAp.map(pct)],
        ],
      },
    ];
  }
  const html = buildReportHtml(input);
  fs.writeFileSync(r.file, html);
  return html;
}
