/**
 * The boundary between the ROS node and the perception/pose pipeline. The node turns synchronised CDR into a
 * `Frame`, calls `Pipeline.process`, and turns the `PipelineResult` back into CDR; the pipeline never sees
 * ROS. Wire the real pipeline (src/perception + src/pose) behind this interface.
 */
import type { Frame, Pose } from '../types';

/** How a pose was obtained (ObjectInstance.pose_source). */
export type PoseSource = 'model' | 'anchor' | 'box';

/** A mono8 mask (255 = object) cropped to the instance's roi. */
export interface RoiMask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Axis-aligned pixel box in the colour image. */
export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One object instance found for one query. */
export interface PipelineInstance {
  /** The query it answers. */
  label: string;
  /** Stable across frames while tracked (0 = untracked). */
  instanceId: number;
  /** Query-to-instance score in [0, 1]. */
  score: number;
  roi: Roi;
  /** Object-to-camera pose (p_cam = R p_obj + t), metres. */
  pose: Pose;
  /** Extent along the object's own x, y, z axes, metres. */
  sizeM: ArrayLike<number>;
  poseSource: PoseSource;
  /** Registration fitness in [0, 1]. */
  fitness: number;
  /** Valid depth points on the instance. */
  pointCount: number;
  /** Mask cropped to roi (width = roi.width, height = roi.height). */
  mask?: RoiMask;
  /** Instance points in the camera frame, xyz interleaved, metres (for ~/points). */
  pointsM?: Float32Array;
  /** Suggested top-down grasp (gripper -> camera), when the estimator gives one. */
  grasp?: InstanceGrasp;
}

/** A parallel-gripper grasp suggestion for an instance. */
export interface InstanceGrasp {
  /** Gripper -> camera pose at the grasp point (approach along the gripper's +z). */
  pose: Pose;
  /** Pre-grasp pose, backed off along the approach axis. */
  preGraspPose: Pose;
  /** Finger opening needed, metres. */
  widthM: number;
  /** False when the object is wider than the gripper opening. */
  feasible: boolean;
}

/** Instances of one query, best score first. */
export interface QueryResult {
  query: string;
  instances: PipelineInstance[];
}

/** Time spent per stage, milliseconds. */
export interface StageTimingsMs {
  preprocess: number;
  features: number;
  masks: number;
  instances: number;
  pose: number;
}

/** Everything the pipeline found in one frame. */
export interface PipelineResult {
  /** One entry per query asked, in the order asked. */
  results: QueryResult[];
  timingsMs: StageTimingsMs;
}

/** Settings the node forwards to the pipeline (from its parameters); changes arrive through `configure`. */
export interface PipelineSettings {
  device: string;
  modelPath: string;
  scoreThreshold: number;
  maskThreshold: number;
  maxInstances: number;
  erosionPx: number;
  minPoints: number;
  minDepthM: number;
  maxDepthM: number;
  poseMethod: string;
  modelsDir: string;
  anchorsDir: string;
  /** onnxruntime intra-op threads on the CPU provider (0 = onnxruntime's default). */
  cpuThreads?: number;
}

/** What the node needs from the perception + pose pipeline. */
export interface Pipeline {
  /** Find the instances of every query in the frame. May reject; the node logs and keeps running. */
  process(frame: Frame, queries: string[]): Promise<PipelineResult>;
  /** Apply (changed) settings; called once before the first frame and after every parameter update. */
  configure?(settings: PipelineSettings): void | Promise<void>;
  /** Device and model in use, for /diagnostics. */
  describe?(): { device: string; model: string };
  /** Save an anchor view (SetAnchor service); absent = anchors unsupported. */
  setAnchor?(name: string, query: string, frame: Frame): Promise<{ success: boolean; message: string }>;
  /** Release resources. */
  dispose?(): void | Promise<void>;
}

/** Zero timings. */
export function zeroTimings(): StageTimingsMs {
  return { preprocess: 0, features: 0, masks: 0, instances: 0, pose: 0 };
}
