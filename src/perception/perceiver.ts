/**
 * The Perceiver: loads a model package (validated), creates the ONNX sessions on the chosen device with a
 * warm-up run, and turns frames + text queries into score maps, masks and 2D instances. The node, replay, eval
 * and benchmarks all call {@link Perceiver.segment}.
 *
 * Architectures: declip-csa / declip-qq / clip-vanilla run the image encoder's dense features straight into the
 * mask path. For 'proxyclip' the exporter builds the ProxyCLIP attention (VFM patch similarity with adaptive
 * normalisation and masking over CLIP value features) into image_encoder.onnx, so the runtime path is the same;
 * vfm.onnx, when present, is validated and loaded for inspection (`encodeVfm`).
 */
import { PerceptionInputError } from './errors';
import type { ModelManifest } from './manifest';
import { DenseFeatures, Instance2d, MaskOptions, masksFromDenseFeatures } from './masks';
import { LoadPackageOptions, loadModelPackage, loadTokenizer, ModelPackage } from './package';
import {
  PreprocessScratch,
  RawImage,
  ResizePlan,
  planResize,
  preprocessImage,
  rawFromRgb,
  resizeOptionsFromManifest,
} from './preprocess';
import { ConcreteDevice, OnnxModel, PerceptionLogger, SessionManagerOptions, stderrLogger } from './session';
import { SlidingWindowOptions, slidingWindowFeatures } from './sliding';
import { Tokenizer, tokenizeBatch } from './tokenizer';

/** Default background prompts every query is scored against. */
export const DEFAULT_BACKGROUND_PROMPTS = ['background', 'table', 'wall', 'floor'];

/** Options of {@link Perceiver.load}. */
export interface PerceiverOptions extends SessionManagerOptions, LoadPackageOptions, MaskOptions {
  /** Background / "other" prompts (default {@link DEFAULT_BACKGROUND_PROMPTS}); [] disables them. */
  backgroundPrompts?: string[];
  /** Override the manifest's prompt templates. */
  promptTemplates?: string[];
  /** For 'fixed' resize: letterbox (keep aspect) instead of stretching. */
  letterbox?: boolean;
  /** Skip the warm-up runs at load (default false). */
  skipWarmup?: boolean;
  /** Max cached query embeddings (default 1024). */
  textCacheSize?: number;
  /**
   * Sliding-window inference: when the network input is larger than `tilePx` on a side, encode overlapping tiles
   * and average their features. Needs a model with dynamic H,W, or tilePx equal to a fixed input size.
   */
  slidingWindow?: SlidingWindowOptions;
}

/** Per-stage wall time of one segment() call, milliseconds. */
export interface SegmentTimings {
  preprocessMs: number;
  textMs: number;
  encoderMs: number;
  postprocessMs: number;
  totalMs: number;
}

/** Output of {@link Perceiver.segment}. */
export interface SegmentResult {
  width: number;
  height: number;
  queries: string[];
  /** Per query: probability map over the frame (softmax over queries + background). */
  scoreMaps: Float32Array[];
  /** Per query: binary mask (1 = pixel belongs to the query). */
  masks: Uint8Array[];
  instances2d: Instance2d[];
  /** Feature grid and network input size used. */
  plan: ResizePlan;
  /** Global image embedding [D]. */
  globalEmbedding: Float32Array;
  /** Dense feature grid of the network input (covers `plan`'s dst size; L2-normalised per cell). */
  denseFeatures: DenseFeatures;
  timings: SegmentTimings;
  /** Warnings of this call (e.g. truncated queries). */
  warnings: string[];
}

/** Anything with an image: a core {@link Frame} ({rgb}), an RgbImage, or a raw ROS-style image. */
export type ImageInput =
  | { rgb: { width: number; height: number; data: Uint8Array } }
  | RawImage
  | { width: number; height: number; data: Uint8Array };

function toRaw(input: ImageInput): RawImage {
  if ('rgb' in input) return rawFromRgb(input.rgb);
  if ('encoding' in input) return input as RawImage;
  return rawFromRgb(input);
}

function normalizeInPlace(v: Float32Array, off = 0, n = v.length): boolean {
  let s = 0;
  for (let i = off; i < off + n; i++) s += v[i] * v[i];
  if (!(s > 0) || !Number.isFinite(s)) return false;
  const inv = 1 / Math.sqrt(s);
  for (let i = off; i < off + n; i++) v[i] *= inv;
  return true;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Open-vocabulary segmenter over a model package. */
export class Perceiver {
  private readonly textCache = new Map<string, Float32Array>();
  private readonly scratch: PreprocessScratch = {};
  private planKey = '';
  private plan: ResizePlan | null = null;

  private constructor(
    readonly pkg: ModelPackage,
    readonly tokenizer: Tokenizer,
    readonly imageEncoder: OnnxModel,
    readonly textEncoder: OnnxModel,
    readonly vfm: OnnxModel | null,
    private readonly opts: PerceiverOptions,
    private readonly log: PerceptionLogger,
  ) {}

  /** Manifest of the loaded package. */
  get manifest(): ModelManifest {
    return this.pkg.manifest;
  }

  /** Devices the sessions ended up on. */
  get devices(): { imageEncoder: ConcreteDevice; textEncoder: ConcreteDevice; vfm?: ConcreteDevice } {
    return {
      imageEncoder: this.imageEncoder.device,
      textEncoder: this.textEncoder.device,
      vfm: this.vfm?.device,
    };
  }

  /**
   * Loads and validates the package in `dir`, creates the sessions (device per `opts.device`) and runs a warm-up
   * inference on each graph, so a broken package fails here and never at frame time.
   */
  static async load(dir: string, opts: PerceiverOptions = {}): Promise<Perceiver> {
    const log = opts.logger ?? stderrLogger;
    const pkg = loadModelPackage(dir, opts);
    const tokenizer = loadTokenizer(pkg);
    const m = pkg.manifest;
    const sopts: SessionManagerOptions = { ...opts, logger: log };
    const img = await OnnxModel.load(pkg.paths.imageEncoder, m.files.image_encoder, 'image_encoder', sopts);
    const txt = await OnnxModel.load(
      pkg.paths.textEncoder,
      m.files.text_encoder,
      'text_encoder',
      sopts,
      m.text.input_dtype,
    );
    const vfm = pkg.paths.vfm ? await OnnxModel.load(pkg.paths.vfm, m.files.vfm!, 'vfm', sopts) : null;
    const p = new Perceiver(pkg, tokenizer, img, txt, vfm, opts, log);
    if (!opts.skipWarmup) await p.warmup();
    return p;
  }

  /** One inference per graph at the manifest input size; checks the output shapes against the manifest. */
  async warmup(): Promise<void> {
    const m = this.manifest;
    const [h, w] =
      m.image.resize === 'fixed' ? m.image.input_size : [m.image.input_size[0], m.image.input_size[0]];
    const pixels = { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] };
    const out = await this.imageEncoder.run({ [m.files.image_encoder.inputs[0]]: pixels });
    const dense = out[m.files.image_encoder.outputs[0]];
    const p = m.image.patch_size;
    const want = [1, h / p, w / p, m.feature_dim];
    if (dense.dims.join(',') !== want.join(',')) {
      throw new PerceptionInputError(
        `${m.files.image_encoder.file} output ${m.files.image_encoder.outputs[0]}`,
        `warm-up at ${h}x${w} gave [${dense.dims.join(', ')}], model.json implies [${want.join(', ')}] (patch_size / feature_dim); re-export the package`,
      );
    }
    const emb = await this.runText(['warm-up']);
    if (emb.length !== m.feature_dim) {
      throw new PerceptionInputError(
        `${m.files.text_encoder.file} output`,
        `text embedding has ${emb.length} values, model.json feature_dim is ${m.feature_dim}; re-export the package`,
      );
    }
    if (this.vfm) await this.vfm.run({ [m.files.vfm!.inputs[0]]: pixels });
  }

  private async runText(texts: string[], warnings?: string[]): Promise<Float32Array> {
    const batch = tokenizeBatch(this.tokenizer, texts);
    batch.truncated.forEach((t, i) => {
      if (t) {
        const msg = `query text "${texts[i].slice(0, 60)}..." is longer than the context length ${batch.contextLength}; truncated`;
        this.log.warn(msg);
        warnings?.push(msg);
      }
    });
    const spec = this.manifest.files.text_encoder;
    const out = await this.textEncoder.run({
      [spec.inputs[0]]: { data: batch.ids, dims: [batch.n, batch.contextLength] },
    });
    return out[spec.outputs[0]].data as Float32Array;
  }

  /**
   * Text embedding of a query with prompt-template ensembling: mean of the L2-normalised template embeddings,
   * re-normalised. Cached per query string.
   */
  async embedText(query: string, warnings?: string[]): Promise<Float32Array> {
    const q = query.trim();
    if (q.length === 0)
      throw new PerceptionInputError('queries', 'a query is empty; pass a non-empty text such as "red mug"');
    const hit = this.textCache.get(q);
    if (hit) return hit;
    const templates = this.opts.promptTemplates ?? this.manifest.prompt_templates;
    const D = this.manifest.feature_dim;
    const raw = await this.runText(
      templates.map((t) => t.split('{}').join(q)),
      warnings,
    );
    const mean = new Float32Array(D);
    for (let t = 0; t < templates.length; t++) {
      const row = raw.slice(t * D, (t + 1) * D);
      if (!normalizeInPlace(row)) continue;
      for (let d = 0; d < D; d++) mean[d] += row[d];
    }
    normalizeInPlace(mean);
    if (this.textCache.size >= (this.opts.textCacheSize ?? 1024)) this.textCache.clear();
    this.textCache.set(q, mean);
    return mean;
  }

  private planFor(w: number, h: number): ResizePlan {
    const key = `${w}x${h}`;
    if (this.plan && this.planKey === key) return this.plan;
    this.plan = planResize(w, h, resizeOptionsFromManifest(this.manifest, this.opts.letterbox));
    this.planKey = key;
    return this.plan;
  }

  /**
   * Segments `queries` in an image: preprocess -> image encoder -> text embeddings (cached) -> masks.
   * Each query is scored against the background prompts and the other queries.
   */
  async segment(
    input: ImageInput,
    queries: readonly string[],
    maskOpts: MaskOptions = {},
  ): Promise<SegmentResult> {
    const t0 = now();
    const warnings: string[] = [];
    if (!Array.isArray(queries) || queries.length === 0) {
      throw new PerceptionInputError('queries', 'no query given; pass at least one text such as "red mug"');
    }
    queries.forEach((q, i) => {
      if (typeof q !== 'string' || q.trim().length === 0) {
        throw new PerceptionInputError(`queries[${i}]`, 'is empty; pass a non-empty text such as "red mug"');
      }
    });
    const raw = toRaw(input);
    const m = this.manifest;
    const plan = this.planFor(raw.width, raw.height);
    const pre = preprocessImage(raw, plan, m.image.mean, m.image.std, this.scratch);
    const t1 = now();
    const D = m.feature_dim;
    const qEmb = new Float32Array(queries.length * D);
    for (let i = 0; i < queries.length; i++) qEmb.set(await this.embedText(queries[i], warnings), i * D);
    const bgPrompts = (
      this.opts.backgroundPrompts ??
      this.manifest.background_prompts ??
      DEFAULT_BACKGROUND_PROMPTS
    ).filter((b) => !queries.some((q) => q.trim().toLowerCase() === b.trim().toLowerCase()));
    const bgEmb = new Float32Array(bgPrompts.length * D);
    for (let i = 0; i < bgPrompts.length; i++) bgEmb.set(await this.embedText(bgPrompts[i], warnings), i * D);
    const t2 = now();
    const { dense, global } = await this.encodeImage(pre.pixels, pre.dims[2], pre.dims[3]);
    const t3 = now();
    const res = masksFromDenseFeatures(
      dense,
      queries.map((q) => q.trim()),
      qEmb,
      bgEmb,
      m.logit_scale,
      plan,
      {
        threshold: maskOpts.threshold ?? this.opts.threshold,
        minAreaPx: maskOpts.minAreaPx ?? this.opts.minAreaPx,
        connectivity: maskOpts.connectivity ?? this.opts.connectivity,
        skipAbsentQueries: maskOpts.skipAbsentQueries ?? this.opts.skipAbsentQueries,
        backgroundLogitOffset:
          maskOpts.backgroundLogitOffset ??
          this.opts.backgroundLogitOffset ??
          this.manifest.background_logit_offset,
      },
    );
    const t4 = now();
    return {
      width: res.width,
      height: res.height,
      queries: queries.map((q) => q.trim()),
      scoreMaps: res.scoreMaps,
      masks: res.masks,
      instances2d: res.instances2d,
      plan,
      globalEmbedding: global,
      denseFeatures: dense,
      timings: {
        preprocessMs: t1 - t0,
        textMs: t2 - t1,
        encoderMs: t3 - t2,
        postprocessMs: t4 - t3,
        totalMs: t4 - t0,
      },
      warnings,
    };
  }

  /**
   * Runs the image encoder on normalised NCHW pixels [1,3,H,W] (sliding-window when configured and the input is
   * larger than the tile). Returns the dense feature grid and the global embedding (of the whole input, or the
   * normalised mean of the tiles' global embeddings).
   */
  async encodeImage(
    pixels: Float32Array,
    heightPx: number,
    widthPx: number,
  ): Promise<{ dense: DenseFeatures; global: Float32Array }> {
    const spec = this.manifest.files.image_encoder;
    const sw = this.opts.slidingWindow;
    const runOnce = async (px: Float32Array, h: number, w: number) => {
      const out = await this.imageEncoder.run({ [spec.inputs[0]]: { data: px, dims: [1, 3, h, w] } });
      const d = out[spec.outputs[0]];
      return {
        dense: d.data as Float32Array,
        dims: d.dims,
        global: out[spec.outputs[1]].data as Float32Array,
      };
    };
    if (!sw || (heightPx <= sw.tilePx && widthPx <= sw.tilePx)) {
      const r = await runOnce(pixels, heightPx, widthPx);
      const [, gh, gw, dd] = r.dims;
      return {
        dense: { data: r.dense, gridHeight: gh, gridWidth: gw, dim: dd },
        global: Float32Array.from(r.global),
      };
    }
    let globalSum: Float32Array | null = null;
    const dense = await slidingWindowFeatures(
      pixels,
      heightPx,
      widthPx,
      this.manifest.image.patch_size,
      sw,
      async (px, h, w) => {
        const r = await runOnce(px, h, w);
        globalSum ??= new Float32Array(r.global.length);
        for (let i = 0; i < r.global.length; i++) globalSum[i] += r.global[i];
        return { data: r.dense, dim: r.dims[3] };
      },
    );
    const g = (globalSum as Float32Array | null) ?? new Float32Array(this.manifest.feature_dim);
    normalizeInPlace(g);
    return { dense, global: g };
  }

  /**
   * Runs vfm.onnx (ProxyCLIP packages only) on the same normalised pixels and returns its patch features
   * [h', w', Dv] — for inspection and debugging; segment() already uses the in-graph ProxyCLIP attention.
   */
  async encodeVfm(pixels: Float32Array, heightPx: number, widthPx: number): Promise<DenseFeatures> {
    if (!this.vfm) {
      throw new PerceptionInputError(
        'vfm',
        `package ${this.manifest.name} (${this.manifest.architecture}) has no vfm.onnx`,
      );
    }
    const spec = this.manifest.files.vfm!;
    const out = await this.vfm.run({ [spec.inputs[0]]: { data: pixels, dims: [1, 3, heightPx, widthPx] } });
    const f = out[spec.outputs[0]];
    return { data: f.data as Float32Array, gridHeight: f.dims[1], gridWidth: f.dims[2], dim: f.dims[3] };
  }

  /** Frees the native sessions. */
  async release(): Promise<void> {
    await Promise.all([this.imageEncoder.release(), this.textEncoder.release(), this.vfm?.release()]);
  }
}
