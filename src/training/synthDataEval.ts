/**
 * Open-vocabulary mask quality of a model package on the held-out synthetic frames (the 'eval' split written by
 * synthData.ts), measured with the runtime users run: {@link Perceiver.segment}.
 *
 * Every evaluation frame shows 4..6 objects of distinct categories; each object is queried by
 * "COLOUR CATEGORY" (e.g. "red mug"), and the query's mask is compared with the object's ground-truth mask (IoU).
 *  - mode 'single': one query per segment() call (plus the runtime's background prompts), as a robot asks;
 *  - mode 'joint': all of the frame's queries in one call (each pixel goes to the best query or background).
 * mIoU is the mean IoU over queries, for all queries, for queries of held-out colour x category pairs (never seen
 * together in training) and for the others.
 */
import { Perceiver, type PerceiverOptions } from '../perception';
import { readDatasetFrames, readDatasetImage, type DatasetFrame } from './synthData';

/** The training tools' Perceiver logger: warnings to stderr, no info lines. */
export const warnOnlyLogger = {
  info: (): void => undefined,
  warn: (m: string): void => {
    process.stderr.write(`warn: ${m}\n`);
  },
};

/** IoU of one query. */
export interface QueryIou {
  frame: number;
  query: string;
  instanceId: number;
  heldOut: boolean;
  mode: 'single' | 'joint';
  iou: number;
  predPx: number;
  gtPx: number;
}

/** mIoU of a subset of queries. */
export interface MiouSummary {
  miou: number;
  queries: number;
}

/** Result of {@link evaluateSynthMasks}. */
export interface SynthMaskEval {
  model: string;
  architecture: string;
  frames: number;
  single: { all: MiouSummary; seen: MiouSummary; heldOut: MiouSummary };
  joint: { all: MiouSummary; seen: MiouSummary; heldOut: MiouSummary };
  perQuery: QueryIou[];
}

/** Options of {@link evaluateSynthMasks}. */
export interface SynthMaskEvalOptions {
  split?: string;
  maxFrames?: number;
  /** Modes to run (default both). */
  modes?: Array<'single' | 'joint'>;
  perceiver?: PerceiverOptions;
  onProgress?: (done: number, total: number) => void;
}

/** IoU of a binary mask against `labels == id`. */
export function maskIou(
  mask: Uint8Array,
  labels: Uint8Array,
  id: number,
): { iou: number; pred: number; gt: number } {
  let inter = 0;
  let pred = 0;
  let gt = 0;
  for (let i = 0; i < mask.length; i++) {
    const p = mask[i] !== 0;
    const g = labels[i] === id;
    if (p) pred++;
    if (g) gt++;
    if (p && g) inter++;
  }
  const union = pred + gt - inter;
  return { iou: union > 0 ? inter / union : 0, pred, gt };
}

function summarise(rows: QueryIou[]): MiouSummary {
  return {
    miou: rows.length ? rows.reduce((s, r) => s + r.iou, 0) / rows.length : 0,
    queries: rows.length,
  };
}

/** The query text of an object: "COLOUR CATEGORY". */
export function objectQuery(o: DatasetFrame['objects'][number]): string {
  return `${o.colour} ${o.category}`;
}

/** Runs the evaluation of the package in `modelDir` on `datasetDir` (see the file comment). */
export async function evaluateSynthMasks(
  modelDir: string,
  datasetDir: string,
  opts: SynthMaskEvalOptions = {},
): Promise<SynthMaskEval> {
  const split = opts.split ?? 'eval';
  const frames = readDatasetFrames(datasetDir, split).slice(0, opts.maxFrames ?? Infinity);
  const modes = opts.modes ?? ['single', 'joint'];
  const p = await Perceiver.load(modelDir, { logger: warnOnlyLogger, ...opts.perceiver });
  const rows: QueryIou[] = [];
  try {
    for (let f = 0; f < frames.length; f++) {
      const fr = frames[f];
      const { rgb, labels } = readDatasetImage(datasetDir, split, fr);
      const image = { width: fr.width, height: fr.height, data: rgb };
      const objs = fr.objects;
      const queries = objs.map(objectQuery);
      if (modes.includes('single')) {
        for (let k = 0; k < objs.length; k++) {
          const r = await p.segment(image, [queries[k]]);
          const m = maskIou(r.masks[0], labels, objs[k].instance_id);
          rows.push({
            frame: fr.index,
            query: queries[k],
            instanceId: objs[k].instance_id,
            heldOut: objs[k].held_out,
            mode: 'single',
            iou: m.iou,
            predPx: m.pred,
            gtPx: m.gt,
          });
        }
      }
      if (modes.includes('joint') && objs.length > 0) {
        const r = await p.segment(image, queries);
        objs.forEach((o, k) => {
          const m = maskIou(r.masks[k], labels, o.instance_id);
          rows.push({
            frame: fr.index,
            query: queries[k],
            instanceId: o.instance_id,
            heldOut: o.held_out,
            mode: 'joint',
            iou: m.iou,
            predPx: m.pred,
            gtPx: m.gt,
          });
        });
      }
      opts.onProgress?.(f + 1, frames.length);
    }
  } finally {
    await p.release();
  }
  const by = (mode: 'single' | 'joint') => {
    const r = rows.filter((x) => x.mode === mode);
    return {
      all: summarise(r),
      seen: summarise(r.filter((x) => !x.heldOut)),
      heldOut: summarise(r.filter((x) => x.heldOut)),
    };
  };
  return {
    model: p.manifest.name,
    architecture: p.manifest.architecture,
    frames: frames.length,
    single: by('single'),
    joint: by('joint'),
    perQuery: rows,
  };
}
