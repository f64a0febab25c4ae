/**
 * Background calibration of a model package on *training* frames of the synthetic dataset (never the eval split):
 * which background prompts, and which offset on their logits, give the best single-query mask mIoU with the
 * runtime's own mask path ({@link masksFromDenseFeatures}, as {@link Perceiver.segment} runs it).
 *
 * A small closed-world model has no natural "background" concept: one prompt such as "table" can outscore an
 * object on its own pixels, and then the object is never found. The search covers every subset of the candidate
 * prompts and a grid of logit offsets. The image encoder and the text encoder run once per frame and per text;
 * only the mask path is repeated per setting.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_BACKGROUND_PROMPTS, Perceiver, type PerceiverOptions } from '../perception';
import { masksFromDenseFeatures } from '../perception/masks';
import { planResize, preprocessImage, resizeOptionsFromManifest } from '../perception/preprocess';
import { readDatasetFrames, readDatasetImage } from './synthData';
import { maskIou, objectQuery, warnOnlyLogger } from './synthDataEval';

export interface CalibrationSetting {
  backgroundPrompts: string[];
  backgroundLogitOffset: number;
  /** Single-query mIoU on the calibration frames. */
  miou: number;
}

export interface CalibrationResult {
  split: string;
  frames: number;
  queries: number;
  /** The package's setting before calibration (its model.json), scored the same way. */
  current: CalibrationSetting;
  best: CalibrationSetting;
  /** Every setting tried, best first. */
  grid: CalibrationSetting[];
}

export interface CalibrationOptions {
  /** Dataset split to calibrate on (default 'train'). */
  split?: string;
  /** At most this many frames, evenly spaced over the split (default 40). */
  maxFrames?: number;
  /** Candidate background prompts (default: the runtime's defaults: background, table, wall, floor). */
  candidates?: string[];
  /** Offsets (logit units) to try (default -3 .. 2). */
  offsets?: number[];
  /** Mask threshold (default 0.5, the runtime default). */
  threshold?: number;
  perceiver?: PerceiverOptions;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_CALIBRATION_OFFSETS = [-3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 2];

/** All subsets of `items` (the empty one first), in a fixed order. */
export function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let m = 0; m < 1 << items.length; m++) out.push(items.filter((_, i) => (m >> i) & 1));
  return out;
}

/** Runs the calibration of `modelDir` on `datasetDir` (see the file comment). Does not modify the package. */
export async function calibrateBackground(
  modelDir: string,
  datasetDir: string,
  opts: CalibrationOptions = {},
): Promise<CalibrationResult> {
  const split = opts.split ?? 'train';
  const all = readDatasetFrames(datasetDir, split);
  if (all.length === 0) throw new Error(`calibration: split '${split}' of ${datasetDir} has no frames`);
  const nf = Math.min(all.length, opts.maxFrames ?? 40);
  const frames = Array.from({ length: nf }, (_, i) => all[Math.floor((i * all.length) / nf)]);
  const candidates = opts.candidates ?? DEFAULT_BACKGROUND_PROMPTS;
  const offsets = opts.offsets ?? DEFAULT_CALIBRATION_OFFSETS;
  const threshold = opts.threshold ?? 0.5;
  const p = await Perceiver.load(modelDir, { logger: warnOnlyLogger, ...opts.perceiver });
  const m = p.manifest;
  const D = m.feature_dim;
  const settings = subsets(candidates).flatMap((bg) =>
    offsets.map((o) => ({ backgroundPrompts: bg, backgroundLogitOffset: o })),
  );
  const current = {
    backgroundPrompts: m.background_prompts ?? DEFAULT_BACKGROUND_PROMPTS,
    backgroundLogitOffset: m.background_logit_offset ?? 0,
  };
  settings.push(current);
  const iouSum = new Float64Array(settings.length);
  let nq = 0;
  try {
    // each setting's background embeddings, once (embedText caches per prompt)
    const bgEmbs: Float32Array[] = [];
    for (const s of settings) {
      const bgEmb = new Float32Array(s.backgroundPrompts.length * D);
      for (let i = 0; i < s.backgroundPrompts.length; i++) {
        bgEmb.set(await p.embedText(s.backgroundPrompts[i]), i * D);
      }
      bgEmbs.push(bgEmb);
    }
    for (let f = 0; f < frames.length; f++) {
      const fr = frames[f];
      const { rgb, labels } = readDatasetImage(datasetDir, split, fr);
      const raw = {
        width: fr.width,
        height: fr.height,
        data: rgb,
        encoding: 'rgb8' as const,
        step: fr.width * 3,
      };
      const plan = planResize(fr.width, fr.height, resizeOptionsFromManifest(m));
      const pre = preprocessImage(raw, plan, m.image.mean, m.image.std);
      const { dense } = await p.encodeImage(pre.pixels, pre.dims[2], pre.dims[3]);
      for (const o of fr.objects) {
        const q = objectQuery(o);
        const qEmb = await p.embedText(q);
        nq++;
        for (let s = 0; s < settings.length; s++) {
          const r = masksFromDenseFeatures(dense, [q], qEmb, bgEmbs[s], m.logit_scale, plan, {
            threshold,
            backgroundLogitOffset: settings[s].backgroundLogitOffset,
          });
          iouSum[s] += maskIou(r.masks[0], labels, o.instance_id).iou;
        }
      }
      opts.onProgress?.(f + 1, frames.length);
    }
  } finally {
    await p.release();
  }
  const scored = settings.map((s, i) => ({ ...s, miou: nq ? iouSum[i] / nq : 0 }));
  const cur = scored.pop()!;
  // best first; ties prefer fewer prompts, then the offset closest to 0
  const grid = scored.sort(
    (a, b) =>
      b.miou - a.miou ||
      a.backgroundPrompts.length - b.backgroundPrompts.length ||
      Math.abs(a.backgroundLogitOffset) - Math.abs(b.backgroundLogitOffset),
  );
  return { split, frames: frames.length, queries: nq, current: cur, best: grid[0], grid };
}

/**
 * Writes the best setting into the package's model.json (background_prompts, background_logit_offset and
 * provenance.background_calibration); the ONNX files and their hashes are untouched. Returns the file written.
 */
export function writeCalibration(modelDir: string, r: CalibrationResult): string {
  const file = path.join(modelDir, 'model.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  m.background_prompts = r.best.backgroundPrompts;
  m.background_logit_offset = r.best.backgroundLogitOffset;
  m.provenance = m.provenance ?? {};
  m.provenance.background_calibration = {
    split: r.split,
    frames: r.frames,
    queries: r.queries,
    objective: 'single-query mask mIoU, threshold 0.5',
    settings_tried: r.grid.length,
    before: r.current,
    after: r.best,
  };
  fs.writeFileSync(file, JSON.stringify(m, null, 2) + '\n');
  return file;
}
