/**
 * Predicted-mask evaluation through the node's own perception + pose pipeline (src/node/declipPipeline.ts:
 * Perceiver masks -> 3D instances -> PosePipeline), wrapped so the evaluation can see what it computed.
 *
 * Oryon pairs use the node's anchor mode exactly as a robot would: the anchor frame is replayed with the prompt
 * and its best instance (highest score) becomes the prompt's anchor (object frame = anchor camera frame, as
 * ~/set_anchor does); the query frame is then replayed with pose_method `anchor`, and the pose of the best
 * query instance is the relative pose anchor -> query. BOP targets replay the query frame with pose_method
 * `model` and the object's model registered under the prompt. Tracking is switched off (no smoothing, no
 * tracked initialisation), since consecutive replays are unrelated frames.
 */
import { createDeclipPipeline, queryFileStem, type DeclipPipeline } from '../../node/declipPipeline';
import type { Pipeline, PipelineResult, PipelineSettings } from '../../node/pipeline';
import { ModelRegistry } from '../../pose/models';
import type { AnchorRecord } from '../../pose/anchorFile';
import type { Frame, Pose } from '../../types';
import type { EvalView } from './evalPipeline';

const IDENTITY: Pose = { R: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) };

const seen = new Set<string>();
/** Warnings once per process (device fallbacks repeat for every session otherwise). */
export const onceLogger = {
  info: () => undefined,
  warn: (m: string) => {
    const k = m.slice(0, 60);
    if (seen.has(k)) return;
    seen.add(k);
    process.stderr.write(`warn: ${m}\n`);
  },
};

/** What one replayed frame gave. */
export interface NodeFrameResult {
  view: EvalView;
  /** Best instance's pose (object -> camera; with an anchor: anchor camera -> query camera), null when none. */
  pose: Pose | null;
  poseSource: string;
  fitness: number;
  failure?: string;
  /** The anchor record made from this frame (capture mode). */
  anchor?: AnchorRecord;
}

function iou01(a: ArrayLike<number>, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < b.length; k++) {
    if (a[k] || b[k]) u++;
    if (a[k] && b[k]) i++;
  }
  return u ? i / u : 0;
}

/** Node pipeline adapter: set `request` before each replay, read `last` after it. */
export class NodeEvalPipeline implements Pipeline {
  readonly inner: DeclipPipeline;
  readonly registry = new ModelRegistry();
  request: { prompt: string; gtMask: Uint8Array; capture: boolean } | null = null;
  last: NodeFrameResult | null = null;

  constructor() {
    this.inner = createDeclipPipeline({
      models: this.registry,
      pose: { tracker: { smoothing: 0, maxDistanceM: 0 }, trackedInit: false },
      logger: onceLogger,
    });
  }

  configure(settings: PipelineSettings): Promise<void> {
    return this.inner.configure(settings);
  }

  describe(): { device: string; model: string } {
    return this.inner.describe();
  }

  /** Registers the anchor used by the next query replays of `prompt`. */
  useAnchor(prompt: string, rec: AnchorRecord): void {
    this.inner.addAnchor(prompt, rec);
  }

  /** Registers an object model (points in metres) for model mode under the prompt's file stem, once. */
  registerModel(prompt: string, pointsM: ArrayLike<number>): void {
    const name = queryFileStem(prompt);
    if (!this.registry.has(name)) this.registry.register({ name, pointsM: Float32Array.from(pointsM) });
  }

  async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
    const req = this.request;
    const r = await this.inner.processDetailed(frame, queries);
    if (req) {
      const qi = Math.max(
        0,
        r.results.findIndex((x) => x.query === req.prompt.trim()),
      );
      const mask2d = r.masks[qi] ?? new Uint8Array(req.gtMask.length);
      const best = r.results[qi]?.instances[0];
      const view: EvalView = {
        frame,
        mask: Uint8Array.from(mask2d, (v) => (v ? 1 : 0)),
        gtMask: req.gtMask,
        iou: iou01(mask2d, req.gtMask),
        features: r.features,
      };
      const out: NodeFrameResult = { view, pose: null, poseSource: best?.poseSource ?? 'none', fitness: 0 };
      if (!best) out.failure = 'no instance of the prompt found';
      else if (req.capture) {
        const m = new Uint8Array(frame.camera.width * frame.camera.height);
        for (const p of best.pixelIndices) m[p] = 1;
        out.anchor = {
          label: req.prompt,
          camera: frame.camera,
          pose: IDENTITY,
          depthM: frame.depthM,
          mask: m,
          features: r.features,
        };
      } else if (best.noPoseReason) out.failure = best.noPoseReason;
      else {
        out.pose = best.pose;
        out.fitness = best.fitness;
      }
      this.last = out;
    }
    return { results: r.results, timingsMs: r.timingsMs };
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }
}
