/**
 * Evaluation of single tasks (Oryon pairs, or BOP single-view targets) on a converted dataset. Every view is
 * produced by replaying that frame's recorded CDR messages through DeclipNode (src/node runReplay), the
 * same node core that runs live:
 * - oracle masks: {@link EvalPipeline} behind the node (GT masks; dense features from the model package, or
 *   colour features without one); the pose is estimated here with src/pose (anchor mode or model mode);
 * - predicted masks: the node's own DeclipPipeline ({@link NodeEvalPipeline}), masks and poses from it
 *   (`predictedBy: 'perceiver'` selects EvalPipeline's Perceiver masks + src/pose here instead).
 */
import { openBag, type BagReader } from '../../bag';
import { runReplay, type ReplayMessage } from '../../node/replay';
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
import { NodeEvalPipeline, onceLogger, type NodeFrameResult } from './nodePipeline';

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
   * Network input size for packages with dynamic H, W (short side for short_side resizing) in EvalPipeline;
   * default the manifest's input_size. The node pipeline always uses the manifest's.
   */
  inputSize?: number;
  /**
   * Who predicts masks in the predicted variant: 'node' (default) = the node's DeclipPipeline (perception +
   * pose, Oryon pairs through its anchor mode), 'perceiver' = EvalPipeline's Perceiver masks + src/pose here.
   */
  predictedBy?: 'node' | 'perceiver';
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
  private readonly nodeCache = new Map<string, NodeFrameResult>();
  private readonly frames = new Map<string, GtFrame>();

  private constructor(
    readonly config: EvalRunConfig,
    readonly ds: ConvertedDataset,
    readonly pipeline: EvalPipeline | null,
    readonly nodePipeline: NodeEvalPipeline | null,
    private readonly cacheSize = 12,
  ) {
    for (const s of ds.scenes) for (const f of s.frames) this.frames.set(`${s.sceneId}/${f.frameId}`, f);
  }

  static async create(config: EvalRunConfig, ds?: ConvertedDataset): Promise<TaskEvaluator> {
    const d = ds ?? (await openConvertedDataset(config.bagsDir));
    if (config.masks === 'predicted' && !config.modelPath) {
      throw new EvalDatasetError('predicted masks need a model package: pass --model <package dir>');
    }
    if (config.masks === 'predicted' && (config.predictedBy ?? 'node') === 'node') {
      return new TaskEvaluator(config, d, null, new NodeEvalPipeline());
    }
    const perceiver = config.modelPath
      ? await Perceiver.load(config.modelPath, { logger: onceLogger })
      : null;
    return new TaskEvaluator(
      config,
      d,
      new EvalPipeline(config.masks, perceiver, {}, config.inputSize),
      null,
    );
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

  /** The frame's replay messages, the object's 0/1 GT mask and its prompt. */
  private async frameInput(
    sceneId: string,
    frameId: string,
    objectId: string,
  ): Promise<{ replay: ReplayMessage[]; gtMask: Uint8Array; prompt: string }> {
    const gt = this.gtFrame(sceneId, frameId);
    const obj = gt.objects.find((o) => o.objectId === objectId);
    if (!obj)
      throw new EvalDatasetError(`object ${objectId} is not annotated in frame ${sceneId}/${frameId}`);
    const { replay, gtMask } = await readFrameMessages(await this.bag(sceneId), BigInt(gt.stampNs));
    if (!gtMask) throw new EvalDatasetError(`frame ${sceneId}/${frameId} has no GT mask message`);
    const m01 = new Uint8Array(gtMask.length);
    for (let i = 0; i < m01.length; i++) m01[i] = gtMask[i] === obj.index + 1 ? 1 : 0;
    return { replay, gtMask: m01, prompt: obj.prompt };
  }

  private static lru<V>(cache: Map<string, V>, key: string, value: V, size: number): void {
    cache.set(key, value);
    while (cache.size > size) cache.delete(cache.keys().next().value as string);
  }

  /**
   * Replays one frame through DeclipNode + the node's DeclipPipeline. capture = make an anchor of the prompt
   * (cached); else estimate with pose_method anchor (Oryon, after useAnchor) or model (BOP).
   */
  private async nodeReplay(
    sceneId: string,
    frameId: string,
    objectId: string,
    capture: boolean,
  ): Promise<NodeFrameResult> {
    const np = this.nodePipeline as NodeEvalPipeline;
    const key = `${sceneId}/${frameId}/${objectId}`;
    const hit = capture ? this.nodeCache.get(key) : undefined;
    if (hit) return hit;
    const { replay, gtMask, prompt } = await this.frameInput(sceneId, frameId, objectId);
    np.request = { prompt, gtMask, capture };
    np.last = null;
    try {
      await runReplay(replay, {
        pipeline: np,
        parameters: {
          queries: prompt.replace(/,/g, ' '),
          model_path: this.config.modelPath ?? '',
          pose_method: this.config.protocol === 'oryon' ? 'anchor' : 'model',
        },
      });
    } finally {
      np.request = null;
    }
    const r = np.last as NodeFrameResult | null;
    if (!r) {
      throw new EvalDatasetError(
        `the node did not process frame ${sceneId}/${frameId} (colour/depth/camera_info)`,
      );
    }
    if (capture) TaskEvaluator.lru(this.nodeCache, key, r, this.cacheSize);
    return r;
  }

  /** One object's view of one frame, replayed through DeclipNode (cached, LRU). */
  async view(sceneId: string, frameId: string, objectId: string): Promise<EvalView> {
    if (this.nodePipeline) return (await this.nodeReplay(sceneId, frameId, objectId, true)).view;
    const pipeline = this.pipeline as EvalPipeline;
    const key = `${sceneId}/${frameId}/${objectId}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const { replay, gtMask, prompt } = await this.frameInput(sceneId, frameId, objectId);
    pipeline.request = { prompt, gtMask };
    pipeline.lastView = null;
    try {
      await runReplay(replay, { pipeline, parameters: { queries: prompt.replace(/,/g, ' ') } });
    } finally {
      pipeline.request = null;
    }
    const v = pipeline.lastView as EvalView | null;
    if (!v) {
      throw new EvalDatasetError(
        `the node did not process frame ${sceneId}/${frameId} (colour/depth/camera_info)`,
      );
    }
    TaskEvaluator.lru(this.cache, key, v, this.cacheSize);
    return v;
  }

  /** Predicted masks through the node pipeline: the estimate, the query view and both IoUs. */
  private async estimateWithNode(
    pair: OryonPair,
    extra: Record<string, unknown>,
  ): Promise<{ est: Pose | null; q: EvalView; iouAnchor: number }> {
    const np = this.nodePipeline as NodeEvalPipeline;
    extra.pipeline = 'node';
    let qr: NodeFrameResult | null = null;
    let iouAnchor: number;
    if (this.config.protocol === 'oryon') {
      const a = await this.nodeReplay(pair.anchor.sceneId, pair.anchor.frameId, pair.objectId, true);
      iouAnchor = a.view.iou;
      if (a.anchor) {
        np.useAnchor(pair.prompt, a.anchor);
        qr = await this.nodeReplay(pair.query.sceneId, pair.query.frameId, pair.objectId, false);
      } else extra.failure = `anchor: ${a.failure ?? 'no anchor'}`;
    } else {
      np.registerModel(pair.prompt, this.model(pair.objectId).pointsM);
      qr = await this.nodeReplay(pair.query.sceneId, pair.query.frameId, pair.objectId, false);
      iouAnchor = qr.view.iou;
    }
    if (qr && !qr.pose) extra.failure = qr.failure ?? 'no pose';
    if (qr?.pose) extra.fitness = qr.fitness;
    const q = qr ? qr.view : await this.view(pair.query.sceneId, pair.query.frameId, pair.objectId);
    return { est: qr?.pose ?? null, q, iouAnchor };
  }

  /** Oracle masks (or predictedBy 'perceiver'): views from EvalPipeline, pose estimated here with src/pose. */
  private async estimateHere(
    pair: OryonPair,
    extra: Record<string, unknown>,
  ): Promise<{ est: Pose | null; q: EvalView; iouAnchor: number }> {
    const q = await this.view(pair.query.sceneId, pair.query.frameId, pair.objectId);
    let est: Pose | null = null;
    let iouAnchor: number;
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
        est = r.pose;
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
          est = r.pose;
          extra.fitness = r.fitness;
        } else extra.failure = `${r.reason}: ${r.message}`;
      }
    }
    return { est, q, iouAnchor };
  }

  /** Evaluates one task into a pair record (never throws for a failed estimate: that is a 'missing' record). */
  async evaluate(pair: OryonPair): Promise<PairRecord> {
    const t0 = performance.now();
    const model = this.model(pair.objectId);
    const extra: Record<string, unknown> = { masks: this.config.masks, protocol: this.config.protocol };
    const { est, q, iouAnchor } = this.nodePipeline
      ? await this.estimateWithNode(pair, extra)
      : await this.estimateHere(pair, extra);
    const rec = evaluateOryonPair({
      pair,
      estimateRel: est,
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
    await this.pipeline?.perceiver?.release();
    await this.nodePipeline?.dispose();
  }
}

export { openConvertedDataset };
export type { MaskVariant };
