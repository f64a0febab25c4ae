import type { Pose } from '../types';
import type { OrientedBox } from '../geometry/obb';
import type { PointCloud } from '../geometry/pointcloud';

/** Which estimator produced a pose. */
export type PoseSource = 'model' | 'anchor' | 'box';

/** Why no pose could be produced (a node logs this and carries on). */
export type NoPoseReason =
  | 'invalid-input'
  | 'empty-input'
  | 'too-few-points'
  | 'too-few-correspondences'
  | 'degenerate-geometry'
  | 'registration-failed'
  | 'low-fitness';

/** A successful estimate: object -> camera (model, box) or query pose = T * anchor pose (anchor). */
export interface PoseEstimate {
  ok: true;
  source: PoseSource;
  pose: Pose;
  /** Inlier ratio in [0, 1] (fraction of observed points explained by the pose). */
  fitness: number;
  /** RMS distance of inlier pairs, metres. */
  inlierRmseM: number;
  /** Correspondences behind the final estimate. */
  numCorrespondences: number;
  runtimeMs: number;
}

/** A typed failure: never an exception escaping to the node. */
export interface NoPose {
  ok: false;
  source: PoseSource;
  reason: NoPoseReason;
  message: string;
  runtimeMs: number;
}

export type PoseResult = PoseEstimate | NoPose;

/** Symmetries of an object model, in the object frame. */
export interface ModelSymmetries {
  /** Discrete symmetry transforms S with model ≅ S(model) (identity implied). */
  discrete?: { R: Float64Array | number[]; tM?: Float64Array | number[] }[];
  /** Continuous rotational symmetry about an axis through `originM` (e.g. a bowl or a can). */
  continuous?: { axis: number[]; originM?: number[] }[];
}

/** An object model registered by name: surface points in metres, object frame. */
export interface ObjectModel {
  name: string;
  /** Interleaved xyz, metres. */
  pointsM: Float32Array;
  /** Optional outward unit normals (from the mesh). */
  normals?: Float32Array;
  symmetries?: ModelSymmetries;
}

/** One 3D object instance lifted from a query mask. */
export interface Instance3D {
  /** Query text / class label of the mask. */
  label: string;
  /** Points (camera frame, metres) with colours when rgb was given. */
  cloud: PointCloud;
  /** Pixel index (v * width + u) of every point. */
  pixelIndices: Uint32Array;
  centroidM: Float64Array;
  box: OrientedBox;
  /** Same as box.extentM, full side lengths in metres. */
  extentM: Float64Array;
  pointCount: number;
  /** Mean per-pixel mask score over the instance's pixels (1 for binary masks). */
  meanMaskScore: number;
}

/** Builds a NoPose. */
export function noPose(source: PoseSource, reason: NoPoseReason, message: string, t0: number): NoPose {
  return { ok: false, source, reason, message, runtimeMs: performance.now() - t0 };
}
