/**
 * The real pipeline behind the node's `Pipeline` interface: Perceiver (open-vocabulary masks from a model
 * package) -> PosePipeline (3D instances, model / anchor / box pose, tracking, grasp). The node, `declip replay`,
 * the demo, evaluation and the soak test all use this one class.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Frame, Pose } from '../types';
import { Perceiver, type PerceiverOptions } from '../perception/perceiver';
import type { DenseFeatures } from '../perception/masks';
import type { ResizePlan } from '../perception/preprocess';
import type { Device, PerceptionLogger } from '../perception/session';
import { PosePipeline, type PosePipelineOptions, type PoseQueryConfig } from '../pose/pipeline';
import { ModelRegistry, loadObjectModelFile, type LoadModelOptions } from '../pose/models';
import { decodeAnchor, encodeAnchor, type AnchorRecord } from '../pose/anchorFile';
import type { DenseFeatureMap } from '../pose/anchor';
import type { QueryMask } from '../pose/instances';
import type {
  Pipeline,
  PipelineInstance,
  PipelineResult,
  PipelineSettings,
  PoseSource,
  QueryResult,
  StageTimingsMs,
} from './pipeline';

/** The embedded default model package (trained here on the synthetic world; see models/tiny-synth/REPORT.md). */
export const DEFAULT_MODEL_DIR = path.resolve(__dirname, '..', '..', 'models', 'tiny-synth');

/** Model and anchor files are looked up by query: lower-case, spaces and punctuation as `_` ("red mug" -> red_mug). */
export function queryFileStem(query: string): string {
  return query
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Error of the pipeline's configuration (bad model path, unreadable models dir, ...): names the setting. */
export class PipelineConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PipelineConfigError';
  }
}

/** A PipelineInstance plus what only in-process callers (demo, eval) use. */
export interface DeclipInstance extends PipelineInstance {
  /** Why no pose was found ('' when it was). The pose then is the box pose's fallback or identity. */
  noPoseReason: string;
  /** Full-frame pixel indices of the instance's points. */
  pixelIndices: Uint32Array;
}

export interface DeclipPipelineOptions {
  /** Model package directory (default: the embedded model, models/tiny-synth). */
  modelPath?: string;
  device?: Device;
  /** Extra Perceiver options (threads, background prompts, sliding window, ...). */
  perceiver?: Omit<PerceiverOptions, 'device' | 'logger'>;
  pose?: PosePipelineOptions;
  /** Object models registered up front (in addition to models_dir). */
  models?: ModelRegistry;
  /** Per-query pose configuration that overrides pose_method (e.g. a model with another name than the query). */
  queryConfigs?: Record<string, PoseQueryConfig>;
  /** Options for loading models_dir files (scale is detected: coordinates above 10 are taken as mm). */
  modelLoad?: LoadModelOptions;
  logger?: PerceptionLogger;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Crops the network-input feature grid to the image content (letterbox padding removed), so that cell (gx, gy)
 * covers image pixels [gx*W/gridW, (gx+1)*W/gridW) as the anchor estimator expects.
 */
export function featureMapForImage(dense: DenseFeatures, plan: ResizePlan): DenseFeatureMap {
  const p = plan.patchSize;
  const gx0 = Math.floor(plan.contentX / p);
  const gy0 = Math.floor(plan.contentY / p);
  const gx1 = Math.min(dense.gridWidth, Math.ceil((plan.contentX + plan.contentWidth) / p));
  const gy1 = Math.min(dense.gridHeight, Math.ceil((plan.contentY + plan.contentHeight) / p));
  if (gx0 === 0 && gy0 === 0 && gx1 === dense.gridWidth && gy1 === dense.gridHeight) {
    return { data: dense.data, gridH: dense.gridHeight, gridW: dense.gridWidth, dim: dense.dim };
  }
  const gw = gx1 - gx0;
  const gh = gy1 - gy0;
  const D = dense.dim;
  const out = new Float32Array(gw * gh * D);
  for (let y = 0; y < gh; y++) {
    const src = ((gy0 + y) * dense.gridWidth + gx0) * D;
    out.set(dense.data.subarray(src, src + gw * D), y * gw * D);
  }
  return { data: out, gridH: gh, gridW: gw, dim: D };
}

function cropMask(
  indices: Uint32Array,
  width: number,
  roi: { x: number; y: number; width: number; height: number },
) {
  const data = new Uint8Array(roi.width * roi.height);
  for (let i = 0; i < indices.length; i++) {
    const u = indices[i] % width;
    const v = (indices[i] - u) / width;
    data[(v - roi.y) * roi.width + (u - roi.x)] = 255;
  }
  return { width: roi.width, height: roi.height, data };
}

function roiOf(indices: Uint32Array, width: number) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let i = 0; i < indices.length; i++) {
    const u = indices[i] % width;
    const v = (indices[i] - u) / width;
    if (u < x0) x0 = u;
    if (u > x1) x1 = u;
    if (v < y0) y0 = v;
    if (v > y1) y1 = v;
  }
  if (x1 < 0) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

function modelExtent(pointsM: Float32Array): Float64Array {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < pointsM.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      const v = pointsM[i + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  }
  return new Float64Array([hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]]);
}

const IDENTITY: Pose = { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) };

/** Perceiver + PosePipeline behind the node's Pipeline interface. Create with {@link createDeclipPipeline}. */
export class DeclipPipeline implements Pipeline {
  private perceiver: Perceiver | null = null;
  private loadedKey = '';
  private settings: PipelineSettings | null = null;
  private pose: PosePipeline;
  private readonly registry: ModelRegistry;
  private readonly modelExtents = new Map<string, Float64Array>();
  private readonly anchors = new Map<string, AnchorRecord>();
  private modelsDirLoaded = '';
  private anchorsDirLoaded = '';
  private readonly log: PerceptionLogger;

  constructor(private readonly options: DeclipPipelineOptions = {}) {
    this.registry = options.models ?? new ModelRegistry();
    for (const n of this.registry.names())
      this.modelExtents.set(n, modelExtent(this.registry.get(n)!.cloud.points));
    this.pose = new PosePipeline(this.registry, options.pose);
    this.log = options.logger ?? {
      info: (m) => process.stderr.write(`[declip] ${m}\n`),
      warn: (m) => process.stderr.write(`[declip] warning: ${m}\n`),
    };
  }

  /** The loaded perceiver (after configure). */
  get perception(): Perceiver | null {
    return this.perceiver;
  }

  /** Object models available to model mode. */
  get models(): ModelRegistry {
    return this.registry;
  }

  /** Registers an anchor for a query in memory (anchor mode), e.g. from a stored anchor file. */
  addAnchor(query: string, rec: AnchorRecord): void {
    this.anchors.set(queryFileStem(query), rec);
  }

  async configure(settings: PipelineSettings): Promise<void> {
    const modelPath = settings.modelPath || this.options.modelPath || DEFAULT_MODEL_DIR;
    const device = (settings.device || this.options.device || 'auto') as Device;
    const threads = settings.cpuThreads ?? 0;
    const key = `${path.resolve(modelPath)}|${device}|${threads}`;
    if (key !== this.loadedKey) {
      if (!fs.existsSync(path.join(modelPath, 'model.json'))) {
        throw new PipelineConfigError(
          'model_path',
          `no model package at ${modelPath} (model.json missing); export one with 'declip export', or leave model_path empty for the embedded model` +
            (modelPath === DEFAULT_MODEL_DIR
              ? ' (the embedded model is rebuilt by `npm run train:default`)'
              : ''),
        );
      }
      const next = await Perceiver.load(modelPath, {
        ...this.options.perceiver,
        ...(threads > 0 ? { intraOpThreads: threads } : {}),
        device,
        logger: this.log,
      });
      const prev = this.perceiver;
      this.perceiver = next;
      this.loadedKey = key;
      await prev?.release();
    }
    const prevSettings = this.settings;
    this.settings = settings;
    if (
      !prevSettings ||
      prevSettings.erosionPx !== settings.erosionPx ||
      prevSettings.minPoints !== settings.minPoints ||
      prevSettings.minDepthM !== settings.minDepthM ||
      prevSettings.maxDepthM !== settings.maxDepthM
    ) {
      this.pose = new PosePipeline(this.registry, {
        ...this.options.pose,
        instances: {
          ...this.options.pose?.instances,
          erodePx: settings.erosionPx,
          minPoints: settings.minPoints,
          minDepthM: settings.minDepthM,
          maxDepthM: settings.maxDepthM,
        },
      });
    }
    if (settings.modelsDir && settings.modelsDir !== this.modelsDirLoaded)
      this.loadModelsDir(settings.modelsDir);
    if (settings.anchorsDir && settings.anchorsDir !== this.anchorsDirLoaded)
      this.loadAnchorsDir(settings.anchorsDir);
  }

  private loadModelsDir(dir: string): void {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new PipelineConfigError(
        'models_dir',
        `${dir} is not a directory; create it or leave models_dir empty`,
      );
    }
    let loaded = 0;
    for (const f of fs.readdirSync(dir).sort()) {
      const ext = path.extname(f).toLowerCase();
      if (!['.ply', '.obj', '.xyz'].includes(ext)) continue;
      const name = queryFileStem(path.basename(f, path.extname(f)));
      const file = path.join(dir, f);
      let model = loadObjectModelFile(name, file, this.options.modelLoad);
      if (this.options.modelLoad?.scaleToM === undefined) {
        let maxAbs = 0;
        for (const v of model.pointsM) maxAbs = Math.max(maxAbs, Math.abs(v));
        if (maxAbs > 10) {
          this.log.info(
            `models_dir: ${f} looks like millimetres (max |coordinate| ${maxAbs.toFixed(0)}); scaled to metres`,
          );
          // the same samples scaled, as loadObjectModelFile(..., { scaleToM: 0.001 }) would give, without reading again
          model = { ...model, pointsM: model.pointsM.map((v) => v * 0.001) };
        }
      }
      this.registry.register(model);
      this.modelExtents.delete(name);
      loaded++;
    }
    this.modelsDirLoaded = dir;
    this.log.info(`models_dir: ${loaded} object model(s) from ${dir}`);
  }

  private loadAnchorsDir(dir: string): void {
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
    } else {
      for (const f of fs.readdirSync(dir).sort()) {
        if (!f.endsWith('.anchor')) continue;
        const file = path.join(dir, f);
        try {
          const buf = fs.readFileSync(file);
          const rec = decodeAnchor(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
          this.anchors.set(queryFileStem(rec.label), rec);
        } catch (e) {
          this.log.warn(`anchors_dir: skipped ${file}: ${(e as Error).message}`);
        }
      }
    }
    this.anchorsDirLoaded = dir;
  }

  /** Extent of a registered model's points (object frame), cached per model name. */
  private extentOf(name: string): Float64Array | undefined {
    const m = this.registry.get(name);
    if (!m) return undefined;
    let e = this.modelExtents.get(name);
    if (!e) {
      e = modelExtent(m.cloud.points);
      this.modelExtents.set(name, e);
    }
    return e;
  }

  /** The model registered for a query: exact name, else its last word ("red mug" -> "mug"). */
  private modelFor(query: string): string | undefined {
    const stem = queryFileStem(query);
    if (this.registry.has(stem)) return stem;
    const last = stem.split('_').pop() ?? '';
    return last && this.registry.has(last) ? last : undefined;
  }

  /** How one query's instances get a pose, from pose_method and what is registered. */
  poseConfigFor(query: string): PoseQueryConfig {
    const override = this.options.queryConfigs?.[query];
    if (override) return override;
    const method = this.settings?.poseMethod ?? 'auto';
    const model = this.modelFor(query);
    const anchor = this.anchors.get(queryFileStem(query));
    if ((method === 'model' || method === 'auto') && model) return { mode: 'model', modelName: model };
    // ViT patch grids are coarse: sample masked pixels with interpolated features rather than one per cell
    if ((method === 'anchor' || method === 'auto') && anchor)
      return { mode: 'anchor', anchor, options: { coarseSampling: 'bilinear' } };
    return { mode: 'box' };
  }

  describe(): { device: string; model: string } {
    const p = this.perceiver;
    if (!p) return { device: 'none', model: 'none' };
    return {
      device: p.devices.imageEncoder,
      model: `${p.manifest.name} ${p.manifest.version} (${p.manifest.architecture})`,
    };
  }

  private requirePerceiver(): Perceiver {
    if (!this.perceiver || !this.settings) {
      throw new PipelineConfigError('pipeline', 'not configured; call configure(settings) before process()');
    }
    return this.perceiver;
  }

  async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
    const r = await this.processDetailed(frame, queries);
    return { results: r.results, timingsMs: r.timingsMs };
  }

  /** process() with the score maps, masks and grasps kept (demo, evaluation). */
  async processDetailed(
    frame: Frame,
    queries: string[],
  ): Promise<{
    results: (QueryResult & { instances: DeclipInstance[] })[];
    timingsMs: StageTimingsMs;
    scoreMaps: Float32Array[];
    masks: Uint8Array[];
    features: DenseFeatureMap;
  }> {
    const perceiver = this.requirePerceiver();
    const s = this.settings!;
    const seg = await perceiver.segment(frame, queries, {
      threshold: s.maskThreshold,
      skipAbsentQueries: true,
    });
    const features = featureMapForImage(seg.denseFeatures, seg.plan);
    const t0 = nowMs();
    const configs: Record<string, PoseQueryConfig> = {};
    const masks: QueryMask[] = [];
    for (let q = 0; q < seg.queries.length; q++) {
      const label = seg.queries[q];
      configs[label] = this.poseConfigFor(label);
      // absent queries (no cell above the threshold) have an empty score map and an empty mask
      masks.push({
        label,
        mask: seg.masks[q],
        score: seg.scoreMaps[q].length ? seg.scoreMaps[q] : undefined,
      });
    }
    const out = this.pose.process({ ...frame, features }, masks, configs);
    const tPose = nowMs() - t0;
    let poseMs = 0;
    const byQuery = new Map<string, DeclipInstance[]>();
    for (const r of out) {
      poseMs += r.pose.runtimeMs;
      const inst = r.instance;
      const roi = roiOf(inst.pixelIndices, frame.camera.width);
      let pose: Pose;
      let source: PoseSource = r.pose.source;
      let fitness = 0;
      let sizeM: ArrayLike<number> = inst.extentM;
      if (r.pose.ok) {
        pose = r.smoothedPose ?? r.pose.pose;
        fitness = r.pose.fitness;
        if (source === 'model') {
          const name =
            configs[r.label].mode === 'model' ? (configs[r.label] as { modelName: string }).modelName : '';
          sizeM = this.extentOf(name) ?? inst.extentM;
        }
      } else {
        // no pose: report the instance's box frame so the robot still knows where it is
        pose = { R: inst.box.R, tM: inst.box.center };
        source = 'box';
        fitness = 0;
      }
      const e: DeclipInstance = {
        label: r.label,
        instanceId: r.trackId,
        score: inst.meanMaskScore,
        roi,
        pose: pose ?? IDENTITY,
        sizeM,
        poseSource: source,
        fitness,
        pointCount: inst.pointCount,
        mask: cropMask(inst.pixelIndices, frame.camera.width, roi),
        pointsM: inst.cloud.points,
        grasp: r.grasp,
        noPoseReason: r.pose.ok ? '' : `${r.pose.reason}: ${r.pose.message}`,
        pixelIndices: inst.pixelIndices,
      };
      if (e.score < s.scoreThreshold) continue;
      const list = byQuery.get(r.label) ?? [];
      list.push(e);
      byQuery.set(r.label, list);
    }
    const results = seg.queries.map((query) => {
      const list = (byQuery.get(query) ?? []).sort((a, b) => b.score - a.score);
      return { query, instances: s.maxInstances > 0 ? list.slice(0, s.maxInstances) : list };
    });
    return {
      results,
      timingsMs: {
        preprocess: seg.timings.preprocessMs,
        features: seg.timings.encoderMs + seg.timings.textMs,
        masks: seg.timings.postprocessMs,
        instances: Math.max(0, tPose - poseMs),
        pose: poseMs,
      },
      scoreMaps: seg.scoreMaps,
      masks: seg.masks,
      features,
    };
  }

  /**
   * SetAnchor: segments `query` in `frame`, keeps its best instance as the anchor view (the object frame is the
   * anchor camera frame: pose = identity), stores it as `<anchors_dir>/<name>.anchor` and uses it for the query.
   */
  async setAnchor(name: string, query: string, frame: Frame): Promise<{ success: boolean; message: string }> {
    const perceiver = this.requirePerceiver();
    const q = query.trim() || name.trim();
    if (!q) return { success: false, message: 'query (or name) must be a non-empty text such as "red mug"' };
    const stem = queryFileStem(name || q);
    if (!stem)
      return { success: false, message: `name "${name}" has no letters or digits; use e.g. "red_mug"` };
    const seg = await perceiver.segment(frame, [q], { threshold: this.settings!.maskThreshold });
    const best = seg.instances2d.filter((i) => i.queryIndex === 0).sort((a, b) => b.areaPx - a.areaPx)[0];
    if (!best)
      return { success: false, message: `"${q}" was not found in the current frame; point the camera at it` };
    const mask = new Uint8Array(frame.camera.width * frame.camera.height);
    let valid = 0;
    for (const p of best.pixelIndices) {
      mask[p] = 1;
      const d = frame.depthM[p];
      if (d > 0 && Number.isFinite(d)) valid++;
    }
    if (valid < 50)
      return { success: false, message: `"${q}" has only ${valid} valid depth pixels; move closer` };
    const rec: AnchorRecord = {
      label: q,
      camera: frame.camera,
      pose: IDENTITY,
      depthM: frame.depthM,
      mask,
      features: featureMapForImage(seg.denseFeatures, seg.plan),
    };
    this.anchors.set(queryFileStem(q), rec);
    let where = 'in memory (anchors_dir is empty)';
    const dir = this.settings!.anchorsDir;
    if (dir) {
      const file = path.join(dir, `${stem}.anchor`);
      fs.mkdirSync(dir, { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, encodeAnchor(rec));
      fs.renameSync(tmp, file);
      where = file;
    }
    return { success: true, message: `anchor for "${q}" saved ${where} (${valid} points)` };
  }

  async dispose(): Promise<void> {
    await this.perceiver?.release();
    this.perceiver = null;
    this.loadedKey = '';
  }
}

/** Creates the pipeline (the node calls configure() with its parameters before the first frame). */
export function createDeclipPipeline(options: DeclipPipelineOptions = {}): DeclipPipeline {
  return new DeclipPipeline(options);
}

/** Settings with the node's parameter defaults, for in-process use without a node. */
export function defaultPipelineSettings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    device: 'auto',
    modelPath: '',
    scoreThreshold: 0,
    maskThreshold: 0.5,
    maxInstances: 10,
    erosionPx: 2,
    minPoints: 50,
    minDepthM: 0.1,
    maxDepthM: 3,
    poseMethod: 'auto',
    modelsDir: '',
    anchorsDir: '',
    cpuThreads: 0,
    ...overrides,
  };
}
