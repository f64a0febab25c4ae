import type { Pose } from '../types';
import { GeometryInputError } from '../geometry/errors';
import { estimateAnchorPose, type AnchorPoseOptions, type DenseFeatureMap } from './anchor';
import { anchorViewFromRecord, type AnchorRecord } from './anchorFile';
import {
  estimateBoxPose,
  topDownGrasp,
  type BoxPoseOptions,
  type GraspOptions,
  type GraspTarget,
} from './box';
import { extractInstances, type DepthView, type InstanceOptions, type QueryMask } from './instances';
import { estimateModelPose, type ModelPoseOptions } from './model';
import type { ModelRegistry } from './models';
import { InstanceTracker, type TrackerOptions } from './tracking';
import { noPose, type Instance3D, type PoseResult } from './types';

/** How the poses of one query's instances are estimated. */
export type PoseQueryConfig =
  | { mode: 'box'; box?: BoxPoseOptions }
  | { mode: 'model'; modelName: string; model?: ModelPoseOptions }
  | { mode: 'anchor'; anchor: AnchorRecord; options?: AnchorPoseOptions };

export interface PosePipelineOptions {
  instances?: InstanceOptions;
  tracker?: TrackerOptions;
  grasp?: GraspOptions;
  /** Refine from the tracked pose (ICP only) before falling back to global registration (default true). */
  trackedInit?: boolean;
  /** Tracked-init results below this fitness fall back to global registration (default 0.7). */
  trackedInitMinFitness?: number;
}

/** Everything the node publishes for one instance. */
export interface InstanceResult {
  trackId: number;
  label: string;
  instance: Instance3D;
  pose: PoseResult;
  /** Tracker-smoothed object -> camera pose, when the estimate succeeded. */
  smoothedPose?: Pose;
  /** Top-down grasp from the box frame (box and model modes). */
  grasp?: GraspTarget;
}

/** One frame's input: depth, camera, optional rgb and dense features (anchor mode). */
export interface PoseFrame extends DepthView {
  features?: DenseFeatureMap;
}

/**
 * Masks + depth -> 3D instances -> per-query pose estimator -> tracking -> grasp, one call per frame. Never
 * throws for a bad estimate: failures come back as typed NoPose results; only malformed frames/configs throw.
 */
export class PosePipeline {
  private readonly tracker: InstanceTracker;

  constructor(
    private readonly models: ModelRegistry,
    private readonly options: PosePipelineOptions = {},
  ) {
    this.tracker = new InstanceTracker(options.tracker);
  }

  /** Processes one frame; `queries[label]` says how each query's instances get a pose (default box mode). */
  process(frame: PoseFrame, masks: QueryMask[], queries: Record<string, PoseQueryConfig>): InstanceResult[] {
    const instances = extractInstances(frame, masks, this.options.instances);
    // the tracked pose of the nearest live track (same label) seeds model-mode ICP
    const poses: PoseResult[] = instances.map((inst) => {
      const cfg = queries[inst.label] ?? { mode: 'box' as const };
      return this.estimate(frame, inst, cfg, this.tracker.peek(inst));
    });
    const tracks = this.tracker.update(
      instances.map((instance, i) => ({ instance, pose: poses[i].ok ? poses[i].pose : undefined })),
    );
    return instances.map((instance, i) => {
      const track = tracks.find((t) => t.instance === instance)!;
      const pose = poses[i];
      let grasp: GraspTarget | undefined;
      if (pose.ok && (pose.source === 'box' || pose.source === 'model')) {
        const framed = pose.source === 'box' ? (pose as { box?: Instance3D['box'] }).box : undefined;
        const box = framed ?? estimateBoxPose(instance.cloud.points);
        if ('center' in box) grasp = topDownGrasp(box, this.options.grasp);
        else if (box.ok && box.box) grasp = topDownGrasp(box.box, this.options.grasp);
      }
      return {
        trackId: track.id,
        label: instance.label,
        instance,
        pose,
        smoothedPose: pose.ok ? track.pose : undefined,
        grasp,
      };
    });
  }

  private estimate(frame: PoseFrame, inst: Instance3D, cfg: PoseQueryConfig, tracked?: Pose): PoseResult {
    const t0 = performance.now();
    if (cfg.mode === 'box') return estimateBoxPose(inst.cloud.points, cfg.box);
    if (cfg.mode === 'model') {
      const model = this.models.get(cfg.modelName);
      if (!model) return noPose('model', 'invalid-input', `no model registered as "${cfg.modelName}"`, t0);
      if (tracked && (this.options.trackedInit ?? true)) {
        const r = estimateModelPose(inst.cloud, model, { ...cfg.model, initialPose: tracked });
        if (r.ok && r.fitness >= (this.options.trackedInitMinFitness ?? 0.7)) return r;
      }
      return estimateModelPose(inst.cloud, model, { ...cfg.model, referencePose: tracked });
    }
    if (!frame.features) {
      return noPose(
        'anchor',
        'invalid-input',
        'anchor mode needs frame.features (dense features of the query view)',
        t0,
      );
    }
    const mask = new Uint8Array(frame.camera.width * frame.camera.height);
    for (const p of inst.pixelIndices) mask[p] = 1;
    return estimateAnchorPose(
      anchorViewFromRecord(cfg.anchor),
      { depthM: frame.depthM, camera: frame.camera, mask, features: frame.features },
      cfg.anchor.pose,
      cfg.options,
    );
  }
}

/** Throws unless every query config names a usable estimator. */
export function validateQueryConfigs(queries: Record<string, PoseQueryConfig>, models: ModelRegistry): void {
  for (const [label, cfg] of Object.entries(queries)) {
    if (cfg.mode === 'model' && !models.has(cfg.modelName)) {
      throw new GeometryInputError(
        `queries.${label}.modelName`,
        `"${cfg.modelName}" is not registered; register the model first`,
      );
    }
    if (!['box', 'model', 'anchor'].includes(cfg.mode)) {
      throw new GeometryInputError(`queries.${label}.mode`, `must be 'box', 'model' or 'anchor'`);
    }
  }
}
