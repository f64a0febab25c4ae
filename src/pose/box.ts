import type { Pose } from '../types';
import { orientedBoxAboutAxis, orientedBoundingBox, type OrientedBox } from '../geometry/obb';
import { computeCentroid } from '../geometry/pointcloud';
import { noPose, type PoseResult } from './types';

export interface BoxPoseOptions {
  /** Support-plane normal in the camera frame (e.g. from a table plane fit); its camera-facing side becomes +z. */
  supportNormal?: ArrayLike<number>;
  /** Fewer points -> 'too-few-points' (default 10). */
  minPoints?: number;
}

/** Box-mode estimate: the pose is the box frame (object -> camera) plus the box itself. */
export type BoxPoseResult = PoseResult & { box?: OrientedBox };

/**
 * Box pose for unknown objects: an oriented box with a consistent axis convention — z along the support-plane
 * normal (or, without one, the box axis most aligned with the direction to the camera), pointing towards the
 * camera; x along the longest horizontal extent, signed to point along the image +u direction; y = z × x. The
 * origin is the box centre; extentM is reordered to [x, y, z].
 */
export function estimateBoxPose(points: Float32Array, options: BoxPoseOptions = {}): BoxPoseResult {
  const t0 = performance.now();
  try {
    let n = 0;
    for (let i = 0; i + 2 < points.length; i += 3) if (points[i + 2] === points[i + 2]) n++;
    if (n === 0) return noPose('box', 'empty-input', 'instance has no valid point', t0);
    if (n < (options.minPoints ?? 10))
      return noPose('box', 'too-few-points', `${n} points (< ${options.minPoints ?? 10})`, t0);
    const c = computeCentroid(points);
    const toCam = [-c[0], -c[1], -c[2]];
    let z: number[];
    let box: OrientedBox;
    if (options.supportNormal) {
      z = Array.from(options.supportNormal);
      box = orientedBoxAboutAxis(points, z, c);
    } else {
      box = orientedBoundingBox(points);
      let best = -1;
      z = [0, 0, 1];
      for (let a = 0; a < 3; a++) {
        const ax = [box.R[a], box.R[3 + a], box.R[6 + a]];
        const d = Math.abs(ax[0] * toCam[0] + ax[1] * toCam[1] + ax[2] * toCam[2]);
        if (d > best) {
          best = d;
          z = ax;
        }
      }
      box = orientedBoxAboutAxis(points, z, c);
    }
    const lz = Math.hypot(z[0], z[1], z[2]);
    z = z.map((v) => v / lz);
    if (z[0] * toCam[0] + z[1] * toCam[1] + z[2] * toCam[2] < 0) z = z.map((v) => -v);
    // axes of the box perpendicular to z, the longer first
    const axes = [0, 1, 2].map((a) => ({ v: [box.R[a], box.R[3 + a], box.R[6 + a]], e: box.extentM[a] }));
    axes.sort(
      (p, q) =>
        Math.abs(p.v[0] * z[0] + p.v[1] * z[1] + p.v[2] * z[2]) -
        Math.abs(q.v[0] * z[0] + q.v[1] * z[1] + q.v[2] * z[2]),
    );
    const horiz = axes.slice(0, 2).sort((p, q) => q.e - p.e);
    let x = horiz[0].v;
    if (x[0] < 0) x = x.map((v) => -v);
    const y = [z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]];
    const R = new Float64Array([x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]]);
    const framed: OrientedBox = {
      center: box.center,
      R,
      extentM: new Float64Array([horiz[0].e, horiz[1].e, axes[2].e]),
    };
    return {
      ok: true,
      source: 'box',
      pose: { R, tM: new Float64Array(box.center) },
      fitness: 1,
      inlierRmseM: 0,
      numCorrespondences: n,
      runtimeMs: performance.now() - t0,
      box: framed,
    };
  } catch (e) {
    return noPose('box', 'invalid-input', (e as Error).message, t0);
  }
}

/** A parallel-jaw grasp: gripper frame with z = approach direction, y = closing direction. */
export interface GraspTarget {
  /** Gripper -> camera pose at the grasp point. */
  pose: Pose;
  /** Pre-grasp pose, backed off along -approach by approachDistanceM. */
  preGraspPose: Pose;
  /** Opening needed between the fingers, metres. */
  widthM: number;
  /** False when the object is wider than the gripper. */
  feasible: boolean;
}

export interface GraspOptions {
  /** Gripper maximum opening (default 0.085 m, Robotiq 2F-85). */
  maxWidthM?: number;
  /** How far below the top face the fingertips go (default min(0.02, height/2)). */
  graspDepthM?: number;
  /** Pre-grasp back-off (default 0.1 m). */
  approachDistanceM?: number;
}

/**
 * Top-down grasp on a box frame from `estimateBoxPose` (z up towards the camera): approach along -z through the
 * top face centre, fingers closing across the shorter horizontal side (box y).
 */
export function topDownGrasp(box: OrientedBox, options: GraspOptions = {}): GraspTarget {
  const R = box.R;
  const y = [R[1], R[4], R[7]];
  const z = [R[2], R[5], R[8]];
  const h = box.extentM[2];
  const depth = options.graspDepthM ?? Math.min(0.02, h / 2);
  const off = h / 2 - depth;
  const p = [0, 1, 2].map((k) => box.center[k] + z[k] * off);
  // gripper axes: z_g = -z (approach), y_g = y (closing), x_g = y_g × z_g
  const zg = z.map((v) => -v);
  const yg = y;
  const xg = [yg[1] * zg[2] - yg[2] * zg[1], yg[2] * zg[0] - yg[0] * zg[2], yg[0] * zg[1] - yg[1] * zg[0]];
  const Rg = new Float64Array([xg[0], yg[0], zg[0], xg[1], yg[1], zg[1], xg[2], yg[2], zg[2]]);
  const back = options.approachDistanceM ?? 0.1;
  const widthM = box.extentM[1];
  return {
    pose: { R: Rg, tM: new Float64Array(p) },
    preGraspPose: { R: new Float64Array(Rg), tM: new Float64Array(p.map((v, k) => v - zg[k] * back)) },
    widthM,
    feasible: widthM <= (options.maxWidthM ?? 0.085),
  };
}
