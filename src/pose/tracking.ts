import type { Pose } from '../types';
import { mat3ToQuat, quatSlerp, quatToMat3 } from '../geometry/linalg';
import { obbIou } from '../geometry/obb';
import type { Instance3D } from './types';

export interface TrackerOptions {
  /** Maximum centroid distance for a match, metres (default 0.1). */
  maxDistanceM?: number;
  /** Also require at least this 3D box IoU (default 0 = centroid distance only). */
  minIou?: number;
  /** A track is dropped after this many consecutive frames without a match (default 5). */
  maxMissed?: number;
  /** Exponential smoothing of centroid and pose: 0 = raw observations, 0.9 = very smooth (default 0.5). */
  smoothing?: number;
  /**
   * A pose that rotates more than this from the track's pose (deg) replaces it instead of being averaged with it
   * (default 30): such a jump is another symmetric solution or a re-detection, and a slerp half-way between two
   * such poses matches neither.
   */
  maxSmoothingAngleDeg?: number;
}

/** One tracked instance. Ids are stable across frames and unique per tracker. */
export interface Track {
  id: number;
  label: string;
  instance: Instance3D;
  /** Smoothed centroid, metres. */
  centroidM: Float64Array;
  /** Smoothed pose, when observations carry one. */
  pose?: Pose;
  /** Frames matched so far. */
  hits: number;
  /** Consecutive frames without a match (0 = seen this frame). */
  missed: number;
}

/** An instance observed this frame, with its pose estimate when there is one. */
export interface Observation {
  instance: Instance3D;
  pose?: Pose;
}

function rotationAngleDeg(a: ArrayLike<number>, b: ArrayLike<number>): number {
  // angle of a^T b: acos((trace - 1) / 2)
  let tr = 0;
  for (let i = 0; i < 3; i++) for (let k = 0; k < 3; k++) tr += a[3 * k + i] * b[3 * k + i];
  return (Math.acos(Math.min(1, Math.max(-1, (tr - 1) / 2))) * 180) / Math.PI;
}

function smoothPose(prev: Pose, obs: Pose, s: number, maxAngleDeg: number): Pose {
  if (rotationAngleDeg(prev.R, obs.R) > maxAngleDeg) return obs;
  const q = quatSlerp(mat3ToQuat(prev.R), mat3ToQuat(obs.R), 1 - s);
  return {
    R: quatToMat3(q),
    tM: new Float64Array([0, 1, 2].map((k) => s * prev.tM[k] + (1 - s) * obs.tM[k])),
  };
}

/**
 * Temporal association of instances of the same query across frames: greedy matching by ascending centroid
 * distance (gated by maxDistanceM and optionally box IoU) within each label, stable ids, exponential smoothing of
 * centroid and pose, expiry after maxMissed unmatched frames.
 */
export class InstanceTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  private readonly opts: Required<TrackerOptions>;

  constructor(options: TrackerOptions = {}) {
    this.opts = {
      maxDistanceM: options.maxDistanceM ?? 0.1,
      minIou: options.minIou ?? 0,
      maxMissed: options.maxMissed ?? 5,
      smoothing: Math.min(0.99, Math.max(0, options.smoothing ?? 0.5)),
      maxSmoothingAngleDeg: options.maxSmoothingAngleDeg ?? 30,
    };
  }

  /** Feeds one frame's observations; returns the live tracks (missed = 0 for those seen this frame). */
  update(observations: Observation[]): Track[] {
    const { maxDistanceM, minIou, maxMissed, smoothing: s, maxSmoothingAngleDeg } = this.opts;
    const pairs: { t: number; o: number; d: number }[] = [];
    this.tracks.forEach((tr, ti) => {
      observations.forEach((ob, oi) => {
        if (ob.instance.label !== tr.label) return;
        const c = ob.instance.centroidM;
        const d = Math.hypot(c[0] - tr.centroidM[0], c[1] - tr.centroidM[1], c[2] - tr.centroidM[2]);
        if (!(d <= maxDistanceM)) return;
        if (minIou > 0 && obbIou(ob.instance.box, tr.instance.box) < minIou) return;
        pairs.push({ t: ti, o: oi, d });
      });
    });
    pairs.sort((a, b) => a.d - b.d);
    const usedT = new Set<number>();
    const usedO = new Set<number>();
    for (const p of pairs) {
      if (usedT.has(p.t) || usedO.has(p.o)) continue;
      usedT.add(p.t);
      usedO.add(p.o);
      const tr = this.tracks[p.t];
      const ob = observations[p.o];
      const c = ob.instance.centroidM;
      tr.centroidM = new Float64Array([0, 1, 2].map((k) => s * tr.centroidM[k] + (1 - s) * c[k]));
      tr.pose = ob.pose
        ? tr.pose
          ? smoothPose(tr.pose, ob.pose, s, maxSmoothingAngleDeg)
          : ob.pose
        : tr.pose;
      tr.instance = ob.instance;
      tr.hits++;
      tr.missed = 0;
    }
    this.tracks.forEach((tr, ti) => {
      if (!usedT.has(ti)) tr.missed++;
    });
    this.tracks = this.tracks.filter((tr) => tr.missed <= maxMissed);
    observations.forEach((ob, oi) => {
      if (usedO.has(oi)) return;
      this.tracks.push({
        id: this.nextId++,
        label: ob.instance.label,
        instance: ob.instance,
        centroidM: new Float64Array(ob.instance.centroidM),
        pose: ob.pose,
        hits: 1,
        missed: 0,
      });
    });
    return this.tracks.slice();
  }

  /** The smoothed pose of the live track this instance would match (nearest, same label, within the gate). */
  peek(instance: Instance3D): Pose | undefined {
    let best: Track | undefined;
    let bestD = this.opts.maxDistanceM;
    for (const tr of this.tracks) {
      if (tr.label !== instance.label || !tr.pose) continue;
      const c = instance.centroidM;
      const d = Math.hypot(c[0] - tr.centroidM[0], c[1] - tr.centroidM[1], c[2] - tr.centroidM[2]);
      if (d <= bestD) {
        bestD = d;
        best = tr;
      }
    }
    return best?.pose;
  }

  /** Drops all tracks (ids keep increasing). */
  reset(): void {
    this.tracks = [];
  }
}
