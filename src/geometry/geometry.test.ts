import fc from 'fast-check';
import type { CameraIntrinsics } from '../types';
import {
  GeometryInputError,
  KdTree,
  computeFpfh,
  dbscan,
  depthMmToM,
  depthToPointCloud,
  distortNormalized,
  estimateNormals,
  euclideanClustering,
  kabsch,
  makePointCloud,
  matchFeatures,
  nearestRowsBothWays,
  obbIou,
  orientedBoundingBox,
  organizedClustering,
  poseCompose,
  poseInverse,
  projectPoint,
  ransacCorrespondences,
  registrationIcp,
  removeRadiusOutliers,
  removeStatisticalOutliers,
  rotationAngleBetween,
  rotvecToMat3,
  SeededRng,
  segmentPlane,
  transformPoints,
  undistortPixel,
  voxelDownSample,
  type OrientedBox,
} from './index';
import { asymmetricObject, boxSurface, randomPose, sphereSurface } from './testutil';

const CAM: CameraIntrinsics = { width: 64, height: 48, fx: 60, fy: 62, cx: 31.5, cy: 23.5 };

describe('depth lifting', () => {
  it('back-projects a fronto-parallel plane to z = depth and x = (u - cx) z / fx', () => {
    const depth = new Float32Array(64 * 48).fill(0.8);
    depth[0] = 0;
    depth[1] = NaN;
    depth[2] = 5;
    const cloud = depthToPointCloud(depth, CAM, { maxDepthM: 2 });
    expect(cloud.points.length / 3).toBe(64 * 48 - 3);
    const k = 10;
    const pix = cloud.pixelIndices[k];
    const u = pix % 64;
    const v = Math.floor(pix / 64);
    expect(cloud.points[3 * k]).toBeCloseTo(((u - 31.5) * 0.8) / 60, 6);
    expect(cloud.points[3 * k + 1]).toBeCloseTo(((v - 23.5) * 0.8) / 62, 6);
    expect(cloud.points[3 * k + 2]).toBeCloseTo(0.8, 6);
  });

  it('organised output keeps w*h points with NaN holes, colours and mask', () => {
    const depth = depthMmToM(new Uint16Array(64 * 48).fill(1000));
    const rgb = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(7) };
    const mask = new Uint8Array(64 * 48);
    mask[100] = 1;
    const org = depthToPointCloud(depth, CAM, { organized: true, rgb, mask });
    expect(org.points.length).toBe(64 * 48 * 3);
    expect(org.points[3 * 100 + 2]).toBeCloseTo(1, 6);
    expect(Number.isNaN(org.points[3 * 101 + 2])).toBe(true);
    expect(org.colors![300]).toBe(7);
  });

  it('undistortion inverts plumb_bob distortion and lifted points re-project to their pixel', () => {
    const cam: CameraIntrinsics = {
      ...CAM,
      distortionModel: 'plumb_bob',
      d: [-0.2, 0.05, 0.001, -0.002, 0.01],
    };
    const [xn, yn] = undistortPixel(cam, 5, 40);
    const [xd, yd] = distortNormalized(cam, xn, yn);
    expect(cam.fx * xd + cam.cx).toBeCloseTo(5, 6);
    expect(cam.fy * yd + cam.cy).toBeCloseTo(40, 6);
    const depth = new Float32Array(64 * 48).fill(1.5);
    const cloud = depthToPointCloud(depth, cam);
    const k = 64 * 40 + 5;
    const [u, v] = projectPoint(cam, cloud.points[3 * k], cloud.points[3 * k + 1], cloud.points[3 * k + 2]);
    expect(u).toBeCloseTo(5, 3);
    expect(v).toBeCloseTo(40, 3);
  });

  it('rejects a depth image of the wrong size with a typed error naming the field', () => {
    expect(() => depthToPointCloud(new Float32Array(10), CAM)).toThrow(GeometryInputError);
    expect(() => depthToPointCloud(new Float32Array(10), CAM)).toThrow(/depthM/);
  });
});

describe('KdTree', () => {
  const brute = (pts: Float32Array, q: number[], k: number) => {
    const d: [number, number][] = [];
    for (let i = 0; i < pts.length / 3; i++) {
      const dx = pts[3 * i] - q[0];
      const dy = pts[3 * i + 1] - q[1];
      const dz = pts[3 * i + 2] - q[2];
      d.push([dx * dx + dy * dy + dz * dz, i]);
    }
    return d.sort((a, b) => a[0] - b[0]).slice(0, k);
  };

  it('kNN and radius search match brute force on random clouds (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        (n, k, seed) => {
          const rng = new SeededRng(seed);
          const pts = new Float32Array(3 * n);
          for (let i = 0; i < pts.length; i++) pts[i] = Math.round(rng.next() * 20) / 20; // duplicates/ties too
          const tree = new KdTree(pts, 4);
          const q = [rng.next(), rng.next(), rng.next()];
          const idx = new Int32Array(k);
          const d2 = new Float64Array(k);
          const f = tree.knn(q[0], q[1], q[2], k, idx, d2);
          const ref = brute(pts, q, k);
          expect(f).toBe(ref.length);
          for (let j = 0; j < f; j++) expect(d2[j]).toBeCloseTo(ref[j][0], 6);
          const r = 0.25;
          const got = tree.radiusSearch(q[0], q[1], q[2], r).sort((a, b) => a - b);
          const want = brute(pts, q, n)
            .filter(([dd]) => dd <= r * r)
            .map(([, i]) => i)
            .sort((a, b) => a - b);
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });

  it('default leaves, sampled-pivot splits: knnSearch matches brute force on flat, duplicated and clustered clouds', () => {
    const rng = new SeededRng(7);
    const n = 3000;
    const clouds: Record<string, Float32Array> = {
      // a plane (one axis constant), a 4-level grid (massive ties), all points identical, two tight clusters
      plane: new Float32Array(3 * n).map((_, i) => (i % 3 === 2 ? 0.5 : rng.next())),
      grid: new Float32Array(3 * n).map(() => Math.floor(rng.next() * 4) / 4),
      identical: new Float32Array(3 * n).fill(0.25),
      clusters: new Float32Array(3 * n).map((_, i) => (i < 3 * 100 ? 5 : 0) + 1e-3 * rng.next()),
    };
    for (const [name, pts] of Object.entries(clouds)) {
      const tree = new KdTree(pts);
      expect(tree.size).toBe(n);
      const queries = new Float32Array(3 * 25);
      for (let q = 0; q < 25; q++) {
        const src = q % 2 === 0 ? 3 * Math.floor(rng.next() * n) : -1; // data points and free points
        for (let a = 0; a < 3; a++) queries[3 * q + a] = src >= 0 ? pts[src + a] : rng.next();
      }
      const k = 12;
      const res = tree.knnSearch(queries, k);
      for (let q = 0; q < 25; q++) {
        const ref = brute(pts, Array.from(queries.subarray(3 * q, 3 * q + 3)), k);
        for (let j = 0; j < k; j++) {
          const i = res.indices[q * k + j];
          const dx = pts[3 * i] - queries[3 * q];
          const dy = pts[3 * i + 1] - queries[3 * q + 1];
          const dz = pts[3 * i + 2] - queries[3 * q + 2];
          expect([name, dx * dx + dy * dy + dz * dz]).toEqual([name, expect.closeTo(ref[j][0], 6)]);
          expect(res.distances2[q * k + j]).toBeCloseTo(ref[j][0], 6);
        }
      }
    }
  });

  it('knnSearch on large batches (the grid path) matches knn and brute force: uniform, surface, clustered, gaps, outside and NaN queries', () => {
    const rng = new SeededRng(21);
    const n = 6000;
    const clouds: Record<string, Float32Array> = {
      cube: new Float32Array(3 * n).map(() => rng.next()),
      // a curved surface (a 2D manifold: the 3D grid is mostly empty) and a plane with the density varying 100x
      surface: new Float32Array(3 * n).map((_, i, a) =>
        i % 3 === 2 ? 0.1 * Math.sin(6 * a[i - 2]) : rng.next(),
      ),
      ramp: new Float32Array(3 * n).map((_, i) =>
        i % 3 === 2 ? 0 : i % 3 === 0 ? rng.next() ** 3 : rng.next(),
      ),
      // dense clusters far apart: most cells empty, many queries far from the sample's scale
      clusters: new Float32Array(3 * n).map((_, i) => 0.3 * (Math.floor(i / 3) % 5) + 0.01 * rng.next()),
      // ties: points on a 12^3 lattice
      lattice: new Float32Array(3 * n).map(() => Math.floor(rng.next() * 12) / 12),
    };
    const k = 10;
    const ti = new Int32Array(k);
    const td = new Float64Array(k);
    let checked = 0;
    for (const [name, pts] of Object.entries(clouds)) {
      const tree = new KdTree(pts);
      // the cloud itself, plus free queries: inside, far outside the box, and non-finite
      const nq = n + 300;
      const queries = new Float32Array(3 * nq);
      queries.set(pts);
      for (let q = n; q < nq; q++) {
        for (let a = 0; a < 3; a++) queries[3 * q + a] = q % 3 === 0 ? 3 * rng.next() - 1 : rng.next();
      }
      queries[3 * (nq - 1)] = NaN;
      const res = tree.knnSearch(queries, k);
      for (let q = 0; q < nq - 1; q++) {
        expect(tree.knn(queries[3 * q], queries[3 * q + 1], queries[3 * q + 2], k, ti, td)).toBe(k);
        for (let j = 0; j < k; j++) {
          // equal distances (the order of equidistant points may differ), and the index matches its distance
          if (res.distances2[q * k + j] !== Math.fround(td[j]))
            expect([name, q, j, res.distances2[q * k + j]]).toEqual([name, q, j, Math.fround(td[j])]);
          const i = res.indices[q * k + j];
          const dx = pts[3 * i] - queries[3 * q];
          const dy = pts[3 * i + 1] - queries[3 * q + 1];
          const dz = pts[3 * i + 2] - queries[3 * q + 2];
          expect(Math.abs(dx * dx + dy * dy + dz * dz - res.distances2[q * k + j])).toBeLessThan(1e-6);
          checked++;
        }
      }
      // brute force on a sample
      for (let q = 0; q < nq - 1; q += 97) {
        const ref = brute(pts, Array.from(queries.subarray(3 * q, 3 * q + 3)), k);
        for (let j = 0; j < k; j++) expect(res.distances2[q * k + j]).toBeCloseTo(ref[j][0], 6);
      }
      expect(Array.from(res.indices.subarray((nq - 1) * k))).toEqual(new Array(k).fill(-1));
      expect(res.distances2[(nq - 1) * k]).toBe(Infinity);
    }
    expect(checked).toBe(5 * (n + 299) * k);
    // fewer points than k: the missing neighbours are -1 / Infinity
    const few = new Float32Array(3 * 5).map(() => rng.next());
    const many = new Float32Array(3 * 3000).map(() => rng.next());
    const r = new KdTree(few).knnSearch(many, 8);
    expect(r.indices[5]).toBe(-1);
    expect(r.distances2[4]).toBeLessThan(Infinity);
  });

  it('nearestWithin finds the nearest point inside the radius (inclusive) and -1 beyond it', () => {
    const rng = new SeededRng(11);
    const pts = new Float32Array(3 * 500).map(() => rng.next());
    const tree = new KdTree(pts);
    for (let t = 0; t < 50; t++) {
      const q = [rng.next() * 1.4 - 0.2, rng.next() * 1.4 - 0.2, rng.next() * 1.4 - 0.2];
      const [d2, i] = brute(pts, q, 1)[0];
      const r = 0.02 + 0.1 * rng.next();
      const j = tree.nearestWithin(q[0], q[1], q[2], r);
      if (d2 <= r * r) {
        expect(j).toBe(i);
        expect(tree.lastDist2).toBeCloseTo(d2, 9);
      } else {
        expect(j).toBe(-1);
        expect(tree.lastDist2).toBe(Infinity);
      }
    }
    // exactly on the radius counts
    const one = new KdTree(new Float32Array([0.5, 0, 0]));
    expect(one.nearestWithin(0, 0, 0, 0.5)).toBe(0);
    expect(one.nearestWithin(0, 0, 0, 0.49)).toBe(-1);
  });

  it('skips NaN points', () => {
    const tree = new KdTree(new Float32Array([NaN, 0, 0, 1, 1, 1]));
    expect(tree.size).toBe(1);
    expect(tree.nearest(0, 0, 0)).toBe(1);
  });
});

describe('filters', () => {
  it('voxelDownSample averages points per voxel', () => {
    const c = makePointCloud([0.01, 0.01, 0.01, 0.03, 0.03, 0.03, 0.51, 0.5, 0.5]);
    const { cloud, voxelOfPoint } = voxelDownSample(c, 0.1);
    expect(cloud.points.length).toBe(6);
    expect(cloud.points[0]).toBeCloseTo(0.02, 6);
    expect(Array.from(voxelOfPoint)).toEqual([0, 0, 1]);
  });

  it('statistical and radius outlier removal drop isolated points and keep the plane', () => {
    const rng = new SeededRng(3);
    const pts: number[] = [];
    for (let i = 0; i < 500; i++) pts.push(rng.next() * 0.2, rng.next() * 0.2, 1);
    pts.push(0.1, 0.1, 1.5, 0.5, 0.5, 0.3);
    const c = makePointCloud(pts);
    const s = removeStatisticalOutliers(c, 10, 2);
    expect(Array.from(s.indices)).not.toContain(500);
    expect(Array.from(s.indices)).not.toContain(501);
    expect(s.indices.length).toBeGreaterThan(480);
    const r = removeRadiusOutliers(c, 3, 0.05);
    expect(r.indices.length).toBe(500);
  });
});

describe('normals', () => {
  it('plane normals are ±z oriented towards the camera; sphere normals are radial', () => {
    const rng = new SeededRng(5);
    const pts: number[] = [];
    for (let i = 0; i < 400; i++) pts.push(rng.next() - 0.5, rng.next() - 0.5, 1);
    const plane = estimateNormals(makePointCloud(pts));
    for (let i = 0; i < 400; i++) expect(plane[3 * i + 2]).toBeCloseTo(-1, 5);
    const sph = sphereSurface(rng, 2000, 0.1, [0, 0, 1]);
    const n = estimateNormals({ points: sph }, { k: 15, orientOutward: true });
    let worst = 1;
    for (let i = 0; i < 2000; i++) {
      const d =
        (sph[3 * i] * n[3 * i] + sph[3 * i + 1] * n[3 * i + 1] + (sph[3 * i + 2] - 1) * n[3 * i + 2]) / 0.1;
      worst = Math.min(worst, d);
    }
    expect(worst).toBeGreaterThan(0.97);
  });
});

describe('clustering', () => {
  const rng = new SeededRng(9);
  const blobs = new Float32Array([
    ...sphereSurface(rng, 300, 0.05, [0, 0, 1]),
    ...sphereSurface(rng, 200, 0.05, [0.3, 0, 1]),
  ]);
  it('euclidean clustering splits two separated blobs', () => {
    const r = euclideanClustering({ points: blobs }, 0.03, { minPoints: 10 });
    expect(r.clusters.map((c) => c.length)).toEqual([300, 200]);
  });
  it('DBSCAN splits two blobs and labels a far point as noise', () => {
    const pts = new Float32Array([...blobs, 5, 5, 5]);
    const r = dbscan({ points: pts }, 0.03, 4);
    expect(r.clusters.map((c) => c.length)).toEqual([300, 200]);
    expect(r.labels[500]).toBe(-1);
  });
  it('organised clustering separates depth discontinuities', () => {
    const depth = new Float32Array(64 * 48);
    for (let v = 10; v < 30; v++) for (let u = 5; u < 60; u++) depth[v * 64 + u] = u < 30 ? 0.8 : 1.2;
    const org = depthToPointCloud(depth, CAM, { organized: true });
    const r = organizedClustering(org);
    expect(r.clusters.map((c) => c.length)).toEqual([30 * 20, 25 * 20]);
  });
});

describe('oriented boxes', () => {
  const box = (c: number[], R: Float64Array, e: number[]): OrientedBox => ({
    center: new Float64Array(c),
    R,
    extentM: new Float64Array(e),
  });
  it('recovers a rotated box from its surface samples', () => {
    const rng = new SeededRng(11);
    const pose = randomPose(rng, Math.PI, 0.5);
    const pts = transformPoints(boxSurface(rng, 4000, 0.2, 0.1, 0.05), pose);
    const b = orientedBoundingBox(pts);
    expect(b.extentM[0]).toBeCloseTo(0.2, 2);
    expect(b.extentM[1]).toBeCloseTo(0.1, 2);
    expect(b.extentM[2]).toBeCloseTo(0.05, 2);
    for (let k = 0; k < 3; k++) expect(b.center[k]).toBeCloseTo(pose.tM[k], 2);
    const dot = Math.abs(b.R[0] * pose.R[0] + b.R[3] * pose.R[3] + b.R[6] * pose.R[6]);
    expect(dot).toBeGreaterThan(0.999);
    const iou = obbIou(b, box(Array.from(pose.tM), pose.R, [0.2, 0.1, 0.05]));
    expect(iou).toBeGreaterThan(0.97);
  });
  it('IoU: identical = 1, disjoint = 0, half-overlap = 1/3, rotated analytic case', () => {
    const I = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const a = box([0, 0, 0], I, [1, 1, 1]);
    expect(obbIou(a, a)).toBeCloseTo(1, 9);
    expect(obbIou(a, box([3, 0, 0], I, [1, 1, 1]))).toBe(0);
    expect(obbIou(a, box([0.5, 0, 0], I, [1, 1, 1]))).toBeCloseTo(1 / 3, 9);
    // unit cube vs the same cube rotated 45° about z: intersection = regular octagon prism, area 2(√2-1)
    const Rz = rotvecToMat3(0, 0, Math.PI / 4);
    const inter = 2 * (Math.SQRT2 - 1);
    expect(obbIou(a, box([0, 0, 0], Rz, [1, 1, 1]))).toBeCloseTo(inter / (2 - inter), 9);
  });
});

describe('registration', () => {
  it('Kabsch recovers a random rigid transform to 1e-9 and Umeyama a scale', () => {
    const rng = new SeededRng(21);
    for (let trial = 0; trial < 20; trial++) {
      const pose = randomPose(rng, Math.PI, 2);
      const src = new Float64Array(3 * 50).map(() => rng.next() - 0.5);
      const dst = transformPoints(src, pose);
      const fit = kabsch(src, dst)!;
      for (let i = 0; i < 9; i++) expect(Math.abs(fit.pose.R[i] - pose.R[i])).toBeLessThan(1e-9);
      for (let i = 0; i < 3; i++) expect(Math.abs(fit.pose.tM[i] - pose.tM[i])).toBeLessThan(1e-9);
      const scaled = transformPoints(src, pose, 2.5);
      const sim = kabsch(src, scaled, { withScale: true })!;
      expect(sim.scale).toBeCloseTo(2.5, 9);
      expect(rotationAngleBetween(sim.pose.R, pose.R)).toBeLessThan(1e-9);
    }
    expect(kabsch([0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1])).toBeNull();
  });

  it('RANSAC finds the transform with 60% outlier correspondences', () => {
    const rng = new SeededRng(22);
    const n = 200;
    const src = new Float32Array(3 * n).map(() => rng.next() - 0.5);
    const pose = randomPose(rng, Math.PI, 0.5);
    const dst = transformPoints(src, pose);
    const cs = new Uint32Array(n);
    const cd = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      cs[i] = i;
      cd[i] = i < 80 ? i : rng.int(n);
    }
    const r = ransacCorrespondences(src, dst, cs, cd, { maxDistanceM: 0.01, seed: 3 })!;
    expect(r.numCorrespondences).toBeGreaterThanOrEqual(80);
    expect(rotationAngleBetween(r.pose.R, pose.R)).toBeLessThan(1e-4);
    expect(r.iterations).toBeLessThan(5000);
    expect(ransacCorrespondences(src, dst, [0, 1], [0, 1], { maxDistanceM: 0.01 })).toBeNull();
  });

  const obj = asymmetricObject(new SeededRng(23), 3000);
  const target = { points: obj, normals: estimateNormals({ points: obj }, { k: 15, orientOutward: true }) };

  it.each(['point-to-point', 'point-to-plane'] as const)(
    'ICP %s converges from a 10° / 2 cm perturbation',
    (method) => {
      const rng = new SeededRng(24);
      for (let trial = 0; trial < 3; trial++) {
        const ax = [rng.normal(), rng.normal(), rng.normal()];
        const l = Math.hypot(ax[0], ax[1], ax[2]);
        const ang = (10 * Math.PI) / 180;
        const pert = {
          R: rotvecToMat3((ax[0] / l) * ang, (ax[1] / l) * ang, (ax[2] / l) * ang),
          tM: new Float64Array([0.02 / Math.sqrt(3), -0.02 / Math.sqrt(3), 0.02 / Math.sqrt(3)]),
        };
        const source = { points: transformPoints(obj.subarray(0, 3 * 1500), pert) };
        const r = registrationIcp(source, target, undefined, {
          maxCorrespondenceDistanceM: 0.05,
          method,
          robust: { kind: 'tukey', kM: 0.03 },
          maxIterations: 60,
        });
        const err = poseCompose(r.pose, pert);
        expect(rotationAngleBetween(err.R, new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]))).toBeLessThan(
          (0.2 * Math.PI) / 180,
        );
        expect(Math.hypot(err.tM[0], err.tM[1], err.tM[2])).toBeLessThan(0.001);
        expect(r.fitness).toBeGreaterThan(0.99);
        expect(r.inlierRmseM).toBeLessThan(0.002);
      }
    },
  );

  it.each(['point-to-point', 'point-to-plane'] as const)(
    'ICP %s of a cloud onto itself keeps every exact match across iterations (warm-started searches)',
    (method) => {
      // iteration 2 re-finds each point's match at distance 0: a zero search bound must not drop it
      const r = registrationIcp({ points: obj.subarray(0, 3 * 1500) }, target, undefined, {
        maxCorrespondenceDistanceM: 0.05,
        method,
        maxIterations: 5,
        relativeFitness: 0,
        relativeRmse: 0,
      });
      expect(r.fitness).toBe(1);
      expect(r.numCorrespondences).toBe(1500);
      expect(r.inlierRmseM).toBeLessThan(1e-6);
      expect(r.iterations).toBeGreaterThanOrEqual(2);
    },
  );

  it('FPFH + mutual matching + RANSAC recovers a large rotation, ICP refines it', () => {
    const rng = new SeededRng(25);
    const { cloud: model } = voxelDownSample({ points: obj }, 0.006);
    model.normals = estimateNormals(model, { radiusM: 0.015, orientOutward: true });
    const pose = { R: rotvecToMat3(0, 2.5, 0.8), tM: new Float64Array([0.1, -0.2, 0.7]) };
    const scenePts = transformPoints(asymmetricObject(rng, 3000), pose);
    const { cloud: scene } = voxelDownSample({ points: scenePts }, 0.006);
    scene.normals = estimateNormals(scene, { radiusM: 0.015, orientOutward: true });
    const fm = computeFpfh(model, { radiusM: 0.03 });
    const fs = computeFpfh(scene, { radiusM: 0.03 });
    const corr = matchFeatures(fm, fs, 33);
    expect(corr.src.length).toBeGreaterThan(20);
    const r = ransacCorrespondences(model.points, scene.points, corr.src, corr.dst, {
      maxDistanceM: 0.01,
      seed: 7,
    })!;
    expect(rotationAngleBetween(r.pose.R, pose.R)).toBeLessThan((10 * Math.PI) / 180);
    const icp = registrationIcp(model, scene, r.pose, { maxCorrespondenceDistanceM: 0.01 });
    const err = poseCompose(poseInverse(pose), icp.pose);
    expect(
      (rotationAngleBetween(err.R, new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1])) * 180) / Math.PI,
    ).toBeLessThan(2);
    expect(Math.hypot(err.tM[0], err.tM[1], err.tM[2])).toBeLessThan(0.003);
  });
});

describe('feature matching and keypoint FPFH', () => {
  it('nearestRowsBothWays equals brute-force nearest rows in both directions (l2 and cosine)', () => {
    const rng = new SeededRng(3);
    for (const [na, nb, dim] of [
      [7, 5, 33],
      [40, 31, 8],
      [1, 9, 3],
    ]) {
      const a = new Float32Array(na * dim).map(() => rng.next());
      const b = new Float32Array(nb * dim).map(() => rng.next());
      const l2 = (x: Float32Array, i: number, y: Float32Array, j: number) => {
        let s = 0;
        for (let k = 0; k < dim; k++) s += (x[i * dim + k] - y[j * dim + k]) ** 2;
        return s;
      };
      const argmin = (n: number, f: (j: number) => number) => {
        let best = 0;
        for (let j = 1; j < n; j++) if (f(j) < f(best)) best = j;
        return best;
      };
      const nn = nearestRowsBothWays(a, b, dim);
      for (let i = 0; i < na; i++) expect(nn.ab[i]).toBe(argmin(nb, (j) => l2(a, i, b, j)));
      for (let j = 0; j < nb; j++) expect(nn.ba[j]).toBe(argmin(na, (i) => l2(a, i, b, j)));
      const cos = nearestRowsBothWays(a, b, dim, true);
      const dot = (i: number, j: number) => {
        let s = 0;
        for (let k = 0; k < dim; k++) s += a[i * dim + k] * b[j * dim + k];
        return -s;
      };
      for (let i = 0; i < na; i++) expect(cos.ab[i]).toBe(argmin(nb, (j) => dot(i, j)));
    }
    expect(nearestRowsBothWays(new Float32Array(0), new Float32Array(6), 3).ba).toEqual(
      new Int32Array([-1, -1]),
    );
  });

  it('FPFH at given indices equals those rows of the full FPFH; bad indices name the field', () => {
    const rng = new SeededRng(9);
    const { cloud } = voxelDownSample({ points: asymmetricObject(rng, 3000) }, 0.006);
    cloud.normals = estimateNormals(cloud, { radiusM: 0.015, orientOutward: true });
    const full = computeFpfh(cloud, { radiusM: 0.03 });
    const idx = [5, 0, 17, 17, cloud.points.length / 3 - 1];
    const sub = computeFpfh(cloud, { radiusM: 0.03, indices: idx });
    expect(sub.length).toBe(idx.length * 33);
    idx.forEach((i, r) =>
      expect(sub.subarray(r * 33, r * 33 + 33)).toEqual(full.subarray(i * 33, i * 33 + 33)),
    );
    expect(() => computeFpfh(cloud, { radiusM: 0.03, indices: [1e6] })).toThrow(/options\.indices/);
  });
});

describe('plane segmentation', () => {
  it('finds a tilted table plane among clutter and orients the normal to the camera', () => {
    const rng = new SeededRng(61);
    const n = [0, -Math.SQRT1_2, -Math.SQRT1_2]; // faces the camera (which sits at the origin, plane at z ~ 1)
    const pts: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const x = rng.next() - 0.5;
      const y = rng.next() - 0.5;
      // n·p + d = 0 with d chosen so that (0,0,1) is on the plane: d = -n·(0,0,1) = SQRT1_2
      const z = -(n[0] * x + n[1] * y + Math.SQRT1_2) / n[2] + 0.001 * rng.normal();
      pts.push(x, y, z);
    }
    for (let i = 0; i < 300; i++) pts.push(rng.next() - 0.5, rng.next() - 0.5, 0.5 + rng.next() * 0.3);
    const r = segmentPlane(makePointCloud(pts), { distanceThresholdM: 0.005 })!;
    expect(r.inliers.length).toBeGreaterThan(980);
    expect(r.inliers.length).toBeLessThan(1030);
    for (let k = 0; k < 3; k++) expect(r.plane.normal[k]).toBeCloseTo(n[k], 2);
    expect(segmentPlane(makePointCloud([0, 0, 1, 1, 1, 1]), { distanceThresholdM: 0.01 })).toBeNull();
  });
});
