/**
 * Oryon's open-vocabulary 6D pose protocol (Corsetti et al., "Open-vocabulary object 6D pose estimation",
 * CVPR 2024; reference scripts/data/make_*_test.py): pairs (anchor frame, query frame) of the same object
 * instance taken from DIFFERENT scenes, each with the object's text prompt; the method estimates the relative
 * pose anchor -> query whose ground truth is T_q * inv(T_a). Sampling is deterministic for a seed.
 */
import type { Pose } from '../../types';
import { EvalInputError, requirePose } from '../metrics/errors';
import { composePoses, invertPose } from '../metrics/linalg';
import { BOP_VISIB_GT_MIN } from '../metrics/recall';

/** One GT object instance seen in one frame. */
export interface ObjectObservation {
  sceneId: string;
  /** Image id within the scene. */
  frameId: string;
  /** Object instance id, the same physical object across scenes (BOP obj_id, REAL275 instance). */
  objectId: string;
  /** Text prompt naming/describing the object. */
  prompt: string;
  /** GT object -> camera pose (metres). */
  poseGt: Pose;
  /** Visible fraction (BOP scene_gt_info visib_fract); below minVisibFract the instance is excluded. */
  visibFract?: number;
}

/** A sampled anchor/query pair with its relative GT pose. */
export interface OryonPair {
  /** Stable id: `${objectId}:${anchor.sceneId}/${anchor.frameId}->${query.sceneId}/${query.frameId}`. */
  pairId: string;
  objectId: string;
  prompt: string;
  anchor: ObjectObservation;
  query: ObjectObservation;
  /** T_q * inv(T_a): maps anchor-camera coordinates to query-camera coordinates. */
  relativePoseGt: Pose;
}

export interface SamplePairsOptions {
  /** Number of pairs (Oryon: 2000 per dataset). Fewer are returned when fewer distinct pairs exist. */
  count?: number;
  /** PRNG seed (default 0). */
  seed?: number;
  /** Exclude instances with visibFract below this (BOP visib_gt_min, default 0.1). */
  minVisibFract?: number;
}

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GT relative pose anchor -> query: T_q * inv(T_a) (Oryon `pose_q @ inv(pose_a)`). */
export function relativePose(anchorPoseGt: Pose, queryPoseGt: Pose): Pose {
  requirePose('anchorPoseGt', anchorPoseGt);
  requirePose('queryPoseGt', queryPoseGt);
  return composePoses(queryPoseGt, invertPose(anchorPoseGt));
}

/**
 * Object pose in the query camera implied by a relative estimate: T_rel * T_a (Oryon's compute_metrics:
 * `pred_q = pred_pose_rel @ gt_a`); metrics then compare it with T_q in the query frame.
 */
export function queryPoseFromRelative(relativeEst: Pose, anchorPoseGt: Pose): Pose {
  requirePose('relativeEst', relativeEst);
  requirePose('anchorPoseGt', anchorPoseGt);
  return composePoses(relativeEst, anchorPoseGt);
}

/** The pair id used in records and for resuming. */
export function pairIdOf(objectId: string, a: ObjectObservation, q: ObjectObservation): string {
  return `${objectId}:${a.sceneId}/${a.frameId}->${q.sceneId}/${q.frameId}`;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Samples `count` distinct ordered (anchor, query) pairs of the same objectId from different scenes.
 * Deterministic: the observations are first put in canonical order (objectId, sceneId, frameId), so the
 * result depends only on the set of observations, the seed and the count. Instances with
 * visibFract < minVisibFract are excluded (BOP). As in Oryon's samplers, the anchor is drawn uniformly among
 * eligible instances and the query uniformly among the same object's instances in other scenes, rejecting
 * duplicates; when there are at most 2 x count distinct pairs, all are enumerated, shuffled with the seed
 * and the first `count` kept.
 */
export function sampleOryonPairs(
  observations: readonly ObjectObservation[],
  options: SamplePairsOptions = {},
): OryonPair[] {
  const count = options.count ?? 2000;
  const seed = options.seed ?? 0;
  const minVis = options.minVisibFract ?? BOP_VISIB_GT_MIN;
  if (!Number.isInteger(count) || count < 0) {
    throw new EvalInputError('options.count', `must be a non-negative integer, got ${count}`);
  }
  observations.forEach((o, i) => {
    if (!o.sceneId || !o.frameId || !o.objectId) {
      throw new EvalInputError(`observations[${i}]`, 'needs non-empty sceneId, frameId and objectId');
    }
    requirePose(`observations[${i}].poseGt`, o.poseGt);
  });
  const obs = observations
    .filter((o) => o.visibFract === undefined || o.visibFract >= minVis)
    .slice()
    .sort((a, b) => cmp(a.objectId, b.objectId) || cmp(a.sceneId, b.sceneId) || cmp(a.frameId, b.frameId));
  // Per object: the list of observation indices, and per index the candidate queries (other scenes).
  const byObject = new Map<string, number[]>();
  obs.forEach((o, i) => {
    const l = byObject.get(o.objectId);
    if (l) l.push(i);
    else byObject.set(o.objectId, [i]);
  });
  const candidates: number[][] = obs.map(() => []);
  let total = 0;
  for (const idx of byObject.values()) {
    for (const a of idx) {
      for (const q of idx) if (obs[q].sceneId !== obs[a].sceneId) candidates[a].push(q);
      total += candidates[a].length;
    }
  }
  const anchors = obs.map((_, i) => i).filter((i) => candidates[i].length > 0);
  const rng = createRng(seed);
  const chosen: [number, number][] = [];
  if (total <= 2 * count) {
    for (const a of anchors) for (const q of candidates[a]) chosen.push([a, q]);
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
    }
    chosen.length = Math.min(count, chosen.length);
  } else {
    const seen = new Set<string>();
    while (chosen.length < count) {
      const a = anchors[Math.floor(rng() * anchors.length)];
      const q = candidates[a][Math.floor(rng() * candidates[a].length)];
      const key = `${a},${q}`;
      if (seen.has(key)) continue;
      seen.add(key);
      chosen.push([a, q]);
    }
  }
  return chosen.map(([a, q]) => {
    const A = obs[a];
    const Q = obs[q];
    return {
      pairId: pairIdOf(A.objectId, A, Q),
      objectId: A.objectId,
      prompt: A.prompt,
      anchor: A,
      query: Q,
      relativePoseGt: relativePose(A.poseGt, Q.poseGt),
    };
  });
}
