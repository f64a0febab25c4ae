/**
 * Evaluation of single tasks (Oryon pairs, or BOP single-view targets) on a converted dataset. Every view is
 * produced by replaying that frame's recorded CDR messages through DeclipNode (src/node runReplay), the
 * same node core that runs live, with {@link EvalPipeline} behind it.
 */
import { openBag, type BagReader } from '../../bag';
import { runReplay } from '../../node/replay';
import { estimateAnchorPose } from '../../pose/anchor';
import { extractInstances } from '../../pose/instances';
import { estimateModelPose, prepareObjectModel, type PreparedModel } from '../../pose/model';
import type { Pose } from '../../types';
import { Perceiver } from '../../perception';
import { EvalDatasetError, type GtFrame } from '../convert/format';
import {
  loadEvalModel,
  openConvertedDataset,
  readFrameMessages,
  type ConvertedDataset,
  type LoadedModel,
} from '../dataset';
import { synthRenderDepth } from '../metrics/synthRender';
import { evaluateOryonPair, type PairRecord } from '../protocol/oryon';
import type { OryonPair } from '../protocol/pairs';
import { EvalPipeline, type EvalView, type MaskVariant } from './evalPipeline';

export type EvalProtocol = 'oryon' | 'bop';

/** Settings of a run (also stored as run.json; a resumed run must use the same ones). */
export interface EvalRunConfig {
  /** Converted dataset root (what `declip eval convert` wrote). */
  bagsDir: string;
  /** Dataset label (real275 | toyl | bop); must match dataset.json when given. */
  dataset?: string;
  protocol: EvalProtocol;
  /** Oryon pairs (or BOP targets) to sample; Oryon uses 2000. */
  pairs: number;
  seed: number;
  masks: MaskVariant;
  /** Model package directory (needed for predicted masks; gives the dense features of anchor mode). */
  modelPath?: string;
  /** Compute VSD (renders the model; default true). */
  vsd: boolean;
  /**
   * Network input size for packages with dynamic H, W (short side for short_side resizing); default the
   * manifest's input_size. Larger = finer feature grid and masks, slower.
   */
  inputSize?: number;
  /** Model points used by ADD/MSSD/MSPD (default 1000). */
  maxModelPoints?: number;
}

const hashStr = (s: string): number => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
};

/** Evaluates tasks one at a time; one per process (each with its own inference session). */
export class TaskEvaluator {
  private readonly bags = new Map<string, BagReader>();
  private readonly models = new Map<string, LoadedModel>();
  private readonly prepared = new Map<string, PreparedModel>();
  private readonly cache = new Map<string, EvalView>();
  private readonly frames = new Map<string, GtFrame>();

  private constructor(
    readonly config: EvalRunConfig,
    readonly ds: ConvertedDataset,
    readonly pipeline: EvalPipeline,
    private readonly cacheSize = 12,
  ) {
    for (const s of ds.scenes) for (const f of s.frames) this.frames.set(`${s.sceneId}/${f.frameId}`, f);
  }

  static async create(config: EvalRunConfig, ds?: ConvertedDataset): Promise<TaskEvaluator> {
    const d = ds ?? (await openConvertedDataset(config.bagsDir));
    const perceiver = config.modelPath
      ? await Perceiver.load(config.modelPath, { logger: quietLogger })
      : null;
    return new TaskEvaluator(config, d, new EvalPipeline(config.masks, perceiver, {}, config.inputSize));
  }

  model(objectId: string): LoadedModel {
    let m = this.models.get(objectId);
    if (!m) {
      m = loadEvalModel(this.ds, objectId, this.config.maxModelPoints ?? 1000);
      this.models.set(objectId, m);
    }
    return m;
  }

  private preparedModel(objectId: string): PreparedModel {
    let p = this.prepared.get(objectId);
    if (!p) {
      const m = this.model(objectId);
      p = prepareObjectModel({ name: objectId, pointsM: Float32Array.from(m.pointsM) });
      this.prepared.set(objectId, p);
    }
    return p;
  }

  private async bag(sceneId: string): Promise<BagReader> {
    let b = this.bags.get(sceneId);
    if (!b) {
      const s = this.ds.scenes.find((x) => x.sceneId === sceneId);
      if (!s) throw new EvalDatasetError(`scene ${sceneId} is not in the converted dataset`);
      b = await openBag(s.bagPath);
      this.bags.set(sceneId, b);
    }
    return b;
  }

  /** GT frame record. */
  gtFrame(sceneId: string, frameId: string): GtFrame {
    const f = this.frames.get(`${sceneId}/${frameId}`);
    if (!f) throw new EvalDatasetError(`frame ${sceneId}/${frameId} is not in the converted dataset`);
    return f;
  }

  /** One object's view of one frame, replayed through DeclipNode (cached, LRU). */
  async view(sceneId: string, frameId: string, objectId: string): Promise<EvalView> {
    const key = `${sceneId}/${frameId}/${objectId}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const gt = this.gtFrame(sceneId, frameId);
    const obj = gt.objects.find((o) => o.objectId === objectId);
    if (!obj)
      throw new EvalDatasetError(`object ${objectId} is not annotated in frame ${sceneId}/${frameId}`);
    const { replay, gtMask } = await readFrameMessages(await this.bag(sceneId), BigInt(gt.stampNs));
    if (!gtMask) throw new EvalDatasetError(`frame ${sceneId}/${frameId} has no GT mask message`);
    const m01 = new Uint8Array(gtMask.length);
    for (let i = 0; i < m01.length; i++) m01[i] = gtMask[i] === obj.index + 1 ? 1 : 0;
    this.pipeline.request = { prompt: obj.prompt, gtMask: m01 };
    this.pipeline.lastView = null;
    try {
      await runReplay(replay, {
        pipeline: this.pipeline,
        parameters: { queries: obj.prompt.replace(/,/g, ' ') },
      });
    } finally {
      this.pipeline.request = null;
    }
    const v = this.pipeline.lastView;
    if (!v)
      throw new EvalDatasetError(
        `the node did not process frame ${sceneId}/${frameId} (colour/depth/camera_info)`,
      );
    this.cache.set(key, v);
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return v;
  }

  /** Evaluates one task into a pair record (never throws for a failed estimate: that is a 'missing' record). */
  async evaluate(pair: OryonPair): Promise<PairRecord> {
    const t0 = performance.now();
    const model = this.model(pair.objectId);
    const q = await this.view(pair.query.sceneId, pair.query.frameId, pair.objectId);
    let estimateRel: Pose | null = null;
    let iouAnchor: number | null;
    const extra: Record<string, unknown> = { masks: this.config.masks, protocol: this.config.protocol };
    if (this.config.protocol === 'oryon') {
      const a = await this.view(pair.anchor.sceneId, pair.anchor.frameId, pair.objectId);
      iouAnchor = a.iou;
      const r = estimateAnchorPose(
        { depthM: a.frame.depthM, camera: a.frame.camera, mask: a.mask, features: a.features },
        { depthM: q.frame.depthM, camera: q.frame.camera, mask: q.mask, features: q.features },
        undefined,
        { seed: hashStr(pair.pairId) },
      );
      if (r.ok) {
        estimateRel = r.pose;
        extra.fitness = r.fitness;
      } else extra.failure = `${r.reason}: ${r.message}`;
    } else {
      iouAnchor = q.iou;
      const inst = extractInstances(q.frame, [{ label: pair.prompt, mask: q.mask }]);
      if (!inst.length) extra.failure = 'empty-input: no 3D instance in the mask';
      else {
        const r = estimateModelPose(inst[0].cloud, this.preparedModel(pair.objectId), {
          seed: hashStr(pair.pairId),
        });
        if (r.ok) {
          estimateRel = r.pose;
          extra.fitness = r.fitness;
        } else extra.failure = `${r.reason}: ${r.message}`;
      }
    }
    const rec = evaluateOryonPair({
      pair,
      estimateRel,
      model,
      camera: q.frame.camera,
      ...(this.config.vsd ? { depthQueryM: q.frame.depthM, renderDepth: synthRenderDepth } : {}),
      iouAnchor,
      iouQuery: q.iou,
    });
    extra.ms = Math.round(performance.now() - t0);
    rec.extra = extra;
    return rec;
  }

  async close(): Promise<void> {
    for (const b of this.bags.values()) await b.close();
    this.bags.clear();
    await this.pipeline.perceiver?.release();
  }
}

const quietLogger = {
  info: () => undefined,
  warn: (m: string) => process.stderr.write(`warn: ${m}\n`),
  error: (m: string) => process.stderr.write(`error: ${m}\n`),
  debug: () => undefined,
};

export { openConvertedDataset };
export type { MaskVariant };
