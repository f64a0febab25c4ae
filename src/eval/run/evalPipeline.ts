/**
 * The pipeline the evaluation plugs into DeclipNode (src/node) for replay: the node decodes the bag's CDR
 * (colour, aligned depth, camera info) into a Frame exactly as it does live, and calls `process`. Here the
 * Frame is turned into one evaluation view: the object mask (oracle = the GT mask_visib from the bag, or
 * predicted = the model package's open-vocabulary mask for the prompt) and dense features for anchor-mode pose.
 *
 * Features: with a model package, the image encoder's dense patch features (one encoder run per frame, reused
 * for the mask), bilinearly upsampled to at most 1/2 of the image resolution; without a package (oracle masks
 * only), per-pixel colour features (normalised RGB), which are what the anchor-mode matcher can use without a
 * network — documented as such in the report.
 */
import type { Frame } from '../../types';
import type { Pipeline, PipelineResult } from '../../node/pipeline';
import { zeroTimings } from '../../node/pipeline';
import type { DenseFeatureMap } from '../../pose/anchor';
import {
  DEFAULT_BACKGROUND_PROMPTS,
  masksFromDenseFeatures,
  planResize,
  preprocessImage,
  rawFromRgb,
  resizeOptionsFromManifest,
  type DenseFeatures,
  type Perceiver,
  type ResizePlan,
} from '../../perception';

export type MaskVariant = 'oracle' | 'predicted';

/** What the evaluation keeps of one processed frame for one object. */
export interface EvalView {
  frame: Frame;
  /** Mask used for pose (oracle or predicted), 0/1, width*height. */
  mask: Uint8Array;
  /** GT visible mask of the object, 0/1. */
  gtMask: Uint8Array;
  /** Mask IoU (predicted vs GT); 1 for oracle masks. */
  iou: number;
  features: DenseFeatureMap;
}

/** The request the runner sets before replaying a frame. */
export interface ViewRequest {
  prompt: string;
  /** 0/1 GT mask of the object. */
  gtMask: Uint8Array;
}

/** Bilinear upsampling of a [gh, gw, D] grid to [oh, ow, D] (cell centres aligned), rows re-normalised. */
export function upsampleFeatureGrid(f: DenseFeatures, oh: number, ow: number): DenseFeatureMap {
  const { gridHeight: gh, gridWidth: gw, dim: D, data } = f;
  const out = new Float32Array(oh * ow * D);
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(gh - 1, Math.max(0, ((y + 0.5) * gh) / oh - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(gh - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(gw - 1, Math.max(0, ((x + 0.5) * gw) / ow - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(gw - 1, x0 + 1);
      const wx = fx - x0;
      const o = (y * ow + x) * D;
      const a = (y0 * gw + x0) * D;
      const b = (y0 * gw + x1) * D;
      const c = (y1 * gw + x0) * D;
      const d = (y1 * gw + x1) * D;
      let n = 0;
      for (let k = 0; k < D; k++) {
        const v =
          (1 - wy) * ((1 - wx) * data[a + k] + wx * data[b + k]) +
          wy * ((1 - wx) * data[c + k] + wx * data[d + k]);
        out[o + k] = v;
        n += v * v;
      }
      if (n > 0) {
        const inv = 1 / Math.sqrt(n);
        for (let k = 0; k < D; k++) out[o + k] *= inv;
      }
    }
  }
  return { data: out, gridH: oh, gridW: ow, dim: D };
}

/** Per-pixel colour features: normalised (r, g, b, 0.2) at full resolution (no network). */
export function colourFeatures(frame: Frame): DenseFeatureMap {
  const { width: w, height: h, data } = frame.rgb;
  const out = new Float32Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const r = data[3 * i] / 255;
    const g = data[3 * i + 1] / 255;
    const b = data[3 * i + 2] / 255;
    const inv = 1 / Math.sqrt(r * r + g * g + b * b + 0.04);
    out[4 * i] = r * inv;
    out[4 * i + 1] = g * inv;
    out[4 * i + 2] = b * inv;
    out[4 * i + 3] = 0.2 * inv;
  }
  return { data: out, gridH: h, gridW: w, dim: 4 };
}

/** The content (non-letterbox) part of the feature grid, so cells map onto the whole image. */
function contentGrid(f: DenseFeatures, plan: ResizePlan): DenseFeatures {
  const p = plan.patchSize;
  const x0 = Math.floor(plan.contentX / p);
  const y0 = Math.floor(plan.contentY / p);
  const x1 = Math.min(f.gridWidth, Math.ceil((plan.contentX + plan.contentWidth) / p));
  const y1 = Math.min(f.gridHeight, Math.ceil((plan.contentY + plan.contentHeight) / p));
  if (x0 === 0 && y0 === 0 && x1 === f.gridWidth && y1 === f.gridHeight) return f;
  const gw = x1 - x0;
  const gh = y1 - y0;
  const D = f.dim;
  const out = new Float32Array(gw * gh * D);
  for (let y = 0; y < gh; y++) {
    out.set(
      f.data.subarray(((y + y0) * f.gridWidth + x0) * D, ((y + y0) * f.gridWidth + x1) * D),
      y * gw * D,
    );
  }
  return { data: out, gridHeight: gh, gridWidth: gw, dim: D };
}

/**
 * Background prompts of a predicted mask, as Perceiver.segment picks them: the package's background_prompts
 * (model.json, calibrated for that model), else DEFAULT_BACKGROUND_PROMPTS; the query itself is left out.
 */
export function backgroundPromptsFor(manifest: { background_prompts?: string[] }, prompt: string): string[] {
  const q = prompt.trim().toLowerCase();
  return (manifest.background_prompts ?? DEFAULT_BACKGROUND_PROMPTS).filter(
    (b) => b.trim().toLowerCase() !== q,
  );
}

/** 0/1 IoU of two masks. */
function iou01(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] || b[k]) u++;
    if (a[k] && b[k]) i++;
  }
  return u ? i / u : 0;
}

/**
 * Pipeline for DeclipNode during evaluation replay. Set `request` before replaying a frame; after the replay
 * `lastView` holds the result. Pose estimation happens in the runner (it needs two views), so the node
 * publishes empty instance lists.
 */
export class EvalPipeline implements Pipeline {
  request: ViewRequest | null = null;
  lastView: EvalView | null = null;
  private plan: ResizePlan | null = null;
  private planKey = '';

  constructor(
    readonly variant: MaskVariant,
    readonly perceiver: Perceiver | null,
    readonly maskOptions: { threshold?: number; minAreaPx?: number } = {},
    /** Network input size override (short/long side or fixed square) for packages with dynamic H, W. */
    readonly inputSize?: number,
  ) {
    if (variant === 'predicted' && !perceiver) {
      throw new Error('predicted masks need a model package: pass --model <package dir>');
    }
  }

  describe(): { device: string; model: string } {
    return { device: 'cpu', model: this.perceiver?.manifest.name ?? 'none (oracle masks, colour features)' };
  }

  private async encode(frame: Frame): Promise<{ dense: DenseFeatures; plan: ResizePlan }> {
    const p = this.perceiver as Perceiver;
    const m = p.manifest;
    const key = `${frame.rgb.width}x${frame.rgb.height}`;
    if (!this.plan || key !== this.planKey) {
      const ro = resizeOptionsFromManifest(m);
      if (this.inputSize && m.image.dynamic_hw) ro.inputSize = [this.inputSize, this.inputSize];
      this.plan = planResize(frame.rgb.width, frame.rgb.height, ro);
      this.planKey = key;
    }
    const pre = preprocessImage(rawFromRgb(frame.rgb), this.plan, m.image.mean, m.image.std);
    const { dense } = await p.encodeImage(pre.pixels, pre.dims[2], pre.dims[3]);
    return { dense, plan: this.plan };
  }

  async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
    const t0 = performance.now();
    const req = this.request;
    if (!req) return { results: queries.map((q) => ({ query: q, instances: [] })), timingsMs: zeroTimings() };
    const W = frame.camera.width;
    const H = frame.camera.height;
    let mask: Uint8Array = req.gtMask;
    let features: DenseFeatureMap;
    if (this.perceiver) {
      const { dense, plan } = await this.encode(frame);
      if (this.variant === 'predicted') {
        const qEmb = await this.perceiver.embedText(req.prompt);
        const bg = backgroundPromptsFor(this.perceiver.manifest, req.prompt);
        const D = this.perceiver.manifest.feature_dim;
        const bgEmb = new Float32Array(bg.length * D);
        for (let i = 0; i < bg.length; i++) bgEmb.set(await this.perceiver.embedText(bg[i]), i * D);
        const r = masksFromDenseFeatures(
          dense,
          [req.prompt],
          qEmb,
          bgEmb,
          this.perceiver.manifest.logit_scale,
          plan,
          {
            backgroundLogitOffset: this.perceiver.manifest.background_logit_offset,
            ...this.maskOptions,
          },
        );
        mask = r.masks[0];
      }
      const c = contentGrid(dense, plan);
      const scale = Math.min(1, Math.sqrt(4_000_000 / (W * H * c.dim)));
      features = upsampleFeatureGrid(
        c,
        Math.max(c.gridHeight, Math.round((H / 2) * scale)),
        Math.max(c.gridWidth, Math.round((W / 2) * scale)),
      );
    } else {
      features = colourFeatures(frame);
    }
    const iou = this.variant === 'oracle' ? 1 : iou01(mask, req.gtMask);
    this.lastView = { frame, mask, gtMask: req.gtMask, iou, features };
    const t = performance.now() - t0;
    return {
      results: queries.map((q) => ({ query: q, instances: [] })),
      timingsMs: { ...zeroTimings(), masks: t },
    };
  }
}
