import type { Pose } from '../types';
import { FPFH_DIM, computeFpfh, matchFeatures, nearestRowsBothWays } from '../geometry/fpfh';
import { voxelDownSample } from '../geometry/filters';
import { KdTree } from '../geometry/kdtree';
import { mat3Det, mat3Identity, mat3Vec, poseCompose, poseInverse, symmetricEigen } from '../geometry/linalg';
import { estimateNormals, orientNormalsConsistent } from '../geometry/normals';
import {
  computeCentroid,
  computeCovariance,
  computeDiameter,
  pointCount,
  removeNonFinite,
  selectByIndex,
  type PointCloud,
} from '../geometry/pointcloud';
import { canonicalizeSymmetricPose } from './metrics';
import {
  evaluateRegistration,
  ransacCorrespondences,
  registrationIcp,
  type RegistrationResult,
} from '../geometry/registration';
import { noPose, type ModelSymmetries, type ObjectModel, type PoseResult } from './types';

/** A model with its down-sampled cloud, normals, FPFH and kd-tree computed once. */
export interface PreparedModel {
  name: string;
  diameterM: number;
  voxelM: number;
  /** Down-sampled model with normals (registration target). */
  cloud: PointCloud;
  fpfh: Float32Array;
  tree: KdTree;
  /** Centroid of the model points (object frame). */
  centroidM: Float64Array;
  fpfhMaxNeighbors: number;
  /**
   * The coarser level used for global registration (FPFH + RANSAC): the model down-sampled at `global.voxelM`,
   * with normals, FPFH and a kd-tree (the fine level itself when that voxel is not coarser). ICP refines at
   * `voxelM`.
   */
  global: { voxelM: number; cloud: PointCloud; fpfh: Float32Array; tree: KdTree };
  symmetries?: ModelSymmetries;
}

export interface PrepareModelOptions {
  /** Voxel size for registration (default diameter / 25). */
  voxelM?: number;
  /** FPFH neighbourhood cap, used for the model and every scene (default 60). */
  fpfhMaxNeighbors?: number;
  /**
   * Voxel size of the global-registration level (default diameter / 15, and never finer than voxelM): FPFH
   * matching and RANSAC run on this coarser cloud, as in Open3D's global registration pipeline, which cuts
   * their cost several-fold; ICP verifies and refines at voxelM.
   */
  globalVoxelM?: number;
}

/** Pre-computes what model-mode registration needs (do it once per model, not per frame). */
export function prepareObjectModel(model: ObjectModel, options: PrepareModelOptions = {}): PreparedModel {
  const full = removeNonFinite({ points: model.pointsM, normals: model.normals });
  const diameterM = computeDiameter(full.points);
  const voxelM = options.voxelM ?? diameterM / 25;
  const { cloud } = voxelDownSample(full, voxelM);
  const tree = new KdTree(cloud.points);
  if (!cloud.normals) {
    const raw = estimateNormals(cloud, { radiusM: 2.5 * voxelM, orientOutward: true, tree });
    cloud.normals = orientNormalsConsistent(cloud.points, raw, 10, tree);
  }
  const fpfhMaxNeighbors = options.fpfhMaxNeighbors ?? 60;
  const fpfh = computeFpfh(cloud, { radiusM: 5 * voxelM, tree, maxNeighbors: fpfhMaxNeighbors });
  const gv = Math.max(voxelM, options.globalVoxelM ?? diameterM / 15);
  let global: PreparedModel['global'] = { voxelM, cloud, fpfh, tree };
  if (gv > voxelM) {
    const { cloud: gc } = voxelDownSample(full, gv);
    const gt = new KdTree(gc.points);
    if (!gc.normals) {
      const raw = estimateNormals(gc, { radiusM: 2.5 * gv, orientOutward: true, tree: gt });
      gc.normals = orientNormalsConsistent(gc.points, raw, 10, gt);
    }
    const gf = computeFpfh(gc, { radiusM: 5 * gv, tree: gt, maxNeighbors: fpfhMaxNeighbors });
    global = { voxelM: gv, cloud: gc, fpfh: gf, tree: gt };
  }
  return {
    name: model.name,
    diameterM,
    voxelM,
    cloud,
    fpfh,
    tree,
    centroidM: computeCentroid(cloud.points),
    fpfhMaxNeighbors,
    global,
    symmetries: model.symmetries,
  };
}

export interface ModelPoseOptions {
  /** RANSAC seed (default 1). */
  seed?: number;
  /** Minimum scene points after down-sampling (default 15). */
  minPoints?: number;
  /** Below this ICP fitness the result is 'low-fitness' (default 0.3). */
  minFitness?: number;
  /** Distinct RANSAC hypotheses verified by ICP; the best ICP fitness wins (default 8). */
  hypotheses?: number;
  /** Mutual feature matching (default false: every scene point keeps its nearest model feature). */
  mutual?: boolean;
  /** RANSAC cap (default 50000; the adaptive count usually stops earlier). */
  maxRansacIterations?: number;
  /** Skip global registration and refine from this object -> camera pose (tracking). */
  initialPose?: Pose;
  /**
   * For models that declare symmetries: among equivalent poses, return the one closest to this object -> camera
   * pose (default: initialPose when given). Keeps tracked symmetric objects from flipping between frames.
   */
  referencePose?: Pose;
  /**
   * Below this coarse fitness, the 24 cube-group flips of the best hypothesis are also tried (default 0.97): a box
   * flipped onto a similar face, or slid along one, still fits 93-96% of its points, a right fit 99-100%.
   */
  flipSearchBelowFitness?: number;
  /** Scene points whose features are matched (even subsample; default 400). */
  maxKeypoints?: number;
}

let CUBE_GROUP: Float64Array[] | null = null;

/** The 23 non-identity rotations mapping the coordinate axes onto themselves (signed permutation matrices, det +1). */
function cubeGroup(): Float64Array[] {
  if (CUBE_GROUP) return CUBE_GROUP;
  const out: Float64Array[] = [];
  const perms = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ];
  for (const p of perms) {
    for (let s = 0; s < 8; s++) {
      const R = new Float64Array(9);
      for (let r = 0; r < 3; r++) R[r * 3 + p[r]] = s & (1 << r) ? -1 : 1;
      const det = mat3Det(R);
      const isId = R[0] === 1 && R[4] === 1 && R[8] === 1;
      if (det > 0 && !isId) out.push(R);
    }
  }
  CUBE_GROUP = out;
  return out;
}

/** `count` indices spread evenly over [0, n) (all of them when n <= count). */
function evenSubsample(n: number, count: number): Uint32Array {
  if (n <= count) return Uint32Array.from({ length: n }, (_, i) => i);
  const out = new Uint32Array(count);
  const step = n / count;
  for (let i = 0; i < count; i++) out[i] = Math.floor(i * step);
  return out;
}

/**
 * Model-mode 6D pose: registers the instance cloud (camera frame) to the object model by FPFH features, mutual
 * nearest-neighbour matching and RANSAC, then point-to-plane ICP with a Tukey kernel (coarse to fine).
 * Registration runs scene -> model (every observed point lies on the model, not vice versa) and the result is
 * inverted, so the pose maps object -> camera. Fitness = fraction of observed points within 1.5 voxels of the model.
 */
export function estimateModelPose(
  scene: PointCloud,
  model: PreparedModel,
  options: ModelPoseOptions = {},
): PoseResult {
  const t0 = performance.now();
  try {
    const n = scene.points.length / 3;
    if (!Number.isInteger(n))
      return noPose('model', 'invalid-input', 'scene.points length is not a multiple of 3', t0);
    if (n === 0) return noPose('model', 'empty-input', 'instance cloud is empty', t0);
    const v = model.voxelM;
    const { cloud: down } = voxelDownSample(removeNonFinite({ points: scene.points }), v);
    const m = pointCount(down);
    if (m < (options.minPoints ?? 15)) {
      return noPose(
        'model',
        'too-few-points',
        `${m} points after ${(v * 1000).toFixed(1)} mm voxels (< ${options.minPoints ?? 15})`,
        t0,
      );
    }
    // colinear observations (a thin rod edge-on, a depth artefact) cannot fix a 6D pose
    const ev = symmetricEigen(computeCovariance(down.points), 3).values;
    if (!(ev[1] > 1e-4 * ev[2])) {
      return noPose(
        'model',
        'degenerate-geometry',
        'instance points are colinear; a 6D pose is undetermined',
        t0,
      );
    }
    const hypotheses: Pose[] = [];
    let forceFlips = false;
    // the global level: FPFH + RANSAC on the scene down-sampled at the model's global voxel (scene normals are
    // only needed here: point-to-plane ICP uses the model's normals)
    // a view too small for the global voxel (fewer than minPoints there) is registered at the fine one
    let g = model.global;
    let gCloud: PointCloud = g.voxelM > v ? voxelDownSample(down, g.voxelM).cloud : { points: down.points };
    if (pointCount(gCloud) < (options.minPoints ?? 15)) {
      g = { voxelM: v, cloud: model.cloud, fpfh: model.fpfh, tree: model.tree };
      gCloud = { points: down.points };
    }
    const gm = pointCount(gCloud);
    if (options.initialPose) {
      hypotheses.push(poseInverse(options.initialPose));
    } else {
      const gTree = new KdTree(gCloud.points);
      gCloud.normals = estimateNormals(gCloud, { radiusM: 2.5 * g.voxelM, tree: gTree });
      // match an even subsample of at most maxKeypoints scene points (RANSAC needs a few hundred pairs);
      // one-directional scene -> model: a partial view has too few mutual FPFH neighbours
      const maxKp = options.maxKeypoints ?? 400;
      const kp = evenSubsample(gm, maxKp);
      const fk = computeFpfh(gCloud, {
        radiusM: 5 * g.voxelM,
        tree: gTree,
        maxNeighbors: model.fpfhMaxNeighbors,
        indices: kp,
      });
      const mutual = options.mutual ?? false;
      const srcIdx: number[] = [];
      const dstIdx: number[] = [];
      if (mutual) {
        const c0 = matchFeatures(fk, g.fpfh, FPFH_DIM, { mutual: true });
        for (let i = 0; i < c0.src.length; i++) {
          srcIdx.push(kp[c0.src[i]]);
          dstIdx.push(c0.dst[i]);
        }
      } else {
        // scene -> model plus model -> scene nearest features (one pass over all pairs gives both): on smooth or
        // repetitive shapes many scene points share one nearest model feature (hubness), which leaves too few
        // geometrically distinct triples for RANSAC
        const nn = nearestRowsBothWays(fk, g.fpfh, FPFH_DIM);
        for (let i = 0; i < nn.ab.length; i++) {
          if (nn.ab[i] < 0) continue;
          srcIdx.push(kp[i]);
          dstIdx.push(nn.ab[i]);
        }
        for (let j = 0; j < nn.ba.length; j++) {
          if (nn.ba[j] < 0) continue;
          srcIdx.push(kp[nn.ba[j]]);
          dstIdx.push(j);
        }
      }
      const corr = { src: Uint32Array.from(srcIdx), dst: Uint32Array.from(dstIdx) };
      if (corr.src.length < 3) {
        return noPose('model', 'too-few-correspondences', `${corr.src.length} feature matches (< 3)`, t0);
      }
      const res = ransacCorrespondences(gCloud.points, g.cloud.points, corr.src, corr.dst, {
        maxDistanceM: 1.5 * g.voxelM,
        seed: options.seed ?? 1,
        maxIterations: options.maxRansacIterations ?? 50000,
        topK: Math.max(1, options.hypotheses ?? 8),
      });
      if (res) hypotheses.push(...(res.hypotheses ?? [res.pose]));
      if (!hypotheses.length) {
        // no consistent feature triple (smooth or repetitive shapes): fall back to centroid alignment + flip search
        const cs = computeCentroid(down.points);
        const cm = model.centroidM;
        hypotheses.push({
          R: mat3Identity(),
          tM: new Float64Array([cm[0] - cs[0], cm[1] - cs[1], cm[2] - cs[2]]),
        });
        forceFlips = true;
      }
    }
    // verify each hypothesis by a coarse ICP on a subsample, scored on all points; refine only the best finely
    const sub = m > 250 ? selectByIndex(down, evenSubsample(m, 250)) : down;
    let coarse: RegistrationResult | null = null;
    for (const h of hypotheses) {
      const cur = registrationIcp(sub, model.cloud, h, {
        maxCorrespondenceDistanceM: 3 * v,
        method: 'point-to-plane',
        robust: { kind: 'tukey', kM: 3 * v },
        maxIterations: 12,
        targetTree: model.tree,
      });
      const fit = evaluateRegistration(down, model.cloud, cur.pose, 1.5 * v, model.tree);
      cur.fitness = fit.fitness;
      cur.inlierRmseM = fit.inlierRmseM;
      if (
        !coarse ||
        cur.fitness > coarse.fitness + 1e-9 ||
        (Math.abs(cur.fitness - coarse.fitness) <= 1e-9 && cur.inlierRmseM < coarse.inlierRmseM)
      ) {
        coarse = cur;
      }
    }
    // ambiguous fit (typical of box-like shapes flipped onto a similar face): also try the 23 other rotations of
    // the cube group about the model centroid, starting from the best hypothesis
    const flipBelow = options.flipSearchBelowFitness ?? 0.97;
    if (coarse && (forceFlips || coarse.fitness < flipBelow)) {
      const c = model.centroidM;
      for (const G of cubeGroup()) {
        const Gc = mat3Vec(G, c);
        const flip: Pose = { R: G, tM: new Float64Array([c[0] - Gc[0], c[1] - Gc[1], c[2] - Gc[2]]) };
        const cur = registrationIcp(sub, model.cloud, poseCompose(flip, coarse.pose), {
          maxCorrespondenceDistanceM: 3 * v,
          method: 'point-to-plane',
          robust: { kind: 'tukey', kM: 3 * v },
          maxIterations: 12,
          targetTree: model.tree,
        });
        const fit = evaluateRegistration(down, model.cloud, cur.pose, 1.5 * v, model.tree);
        if (fit.fitness > coarse.fitness + 1e-9) {
          cur.fitness = fit.fitness;
          cur.inlierRmseM = fit.inlierRmseM;
          coarse = cur;
        }
      }
    }
    let best: RegistrationResult | null = null;
    if (coarse) {
      const cur = registrationIcp(down, model.cloud, coarse.pose, {
        maxCorrespondenceDistanceM: 1.5 * v,
        method: 'point-to-plane',
        robust: { kind: 'tukey', kM: 1.5 * v },
        maxIterations: 30,
        targetTree: model.tree,
      });
      best = cur;
    }
    if (best && model.symmetries && (options.referencePose || options.initialPose)) {
      // report the symmetry-equivalent pose closest to the reference (object -> camera), mapped back to scene -> model
      const ref = options.referencePose ?? options.initialPose!;
      best.pose = poseInverse(canonicalizeSymmetricPose(poseInverse(best.pose), model.symmetries, ref));
    }
    const minFit = options.minFitness ?? 0.3;
    if (!best || best.fitness < minFit) {
      return noPose(
        'model',
        'low-fitness',
        `best ICP fitness ${best ? best.fitness.toFixed(3) : 0} < ${minFit}`,
        t0,
      );
    }
    return {
      ok: true,
      source: 'model',
      pose: poseInverse(best.pose),
      fitness: best.fitness,
      inlierRmseM: best.inlierRmseM,
      numCorrespondences: best.numCorrespondences,
      runtimeMs: performance.now() - t0,
    };
  } catch (e) {
    return noPose('model', 'invalid-input', (e as Error).message, t0);
  }
}
