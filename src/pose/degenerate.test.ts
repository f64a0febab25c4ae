import type { CameraIntrinsics } from '../types';
import { kabsch, mat3Det, orientedBoundingBox, registrationIcp } from '../geometry/index';
import { SeededRng } from '../geometry/rng';
import { curvedObject } from '../geometry/testutil';
import {
  estimateAnchorPose,
  estimateBoxPose,
  estimateModelPose,
  extractInstances,
  prepareObjectModel,
} from './index';

const CAM: CameraIntrinsics = { width: 32, height: 24, fx: 30, fy: 30, cx: 15.5, cy: 11.5 };

describe('degenerate input never throws out of the estimators', () => {
  const model = prepareObjectModel({ name: 'duck', pointsM: curvedObject(new SeededRng(1), 3000) });

  it('model mode: NaN-only, too few points, a planar patch, a colinear line', () => {
    const nan = estimateModelPose({ points: new Float32Array(300).fill(NaN) }, model);
    expect(nan.ok).toBe(false);
    expect(!nan.ok && ['too-few-points', 'empty-input']).toContain(!nan.ok && nan.reason);
    const few = estimateModelPose(
      { points: new Float32Array([0, 0, 0.5, 0.01, 0, 0.5, 0, 0.01, 0.5]) },
      model,
    );
    expect(few.ok === false && few.reason).toBe('too-few-points');
    const plane: number[] = [];
    for (let i = 0; i < 40; i++) for (let j = 0; j < 40; j++) plane.push(i * 0.002, j * 0.002, 0.6);
    const pl = estimateModelPose({ points: Float32Array.from(plane) }, model);
    // flat: a box face seen head-on is planar too, so a plane may legitimately get a pose; it must be a rigid one
    if (pl.ok) {
      expect(mat3Det(pl.pose.R)).toBeCloseTo(1, 9);
      expect(pl.fitness).toBeGreaterThanOrEqual(0.3);
    } else {
      expect(['registration-failed', 'low-fitness']).toContain(pl.reason);
    }
    const line: number[] = [];
    for (let i = 0; i < 400; i++) line.push(i * 0.0005, 0, 0.6);
    const ln = estimateModelPose({ points: Float32Array.from(line) }, model);
    expect(ln.ok === false && ln.reason).toBe('degenerate-geometry');
    const withNaN = curvedObject(new SeededRng(2), 3000).map((x, i) =>
      i % 17 === 0 ? NaN : x + (i % 3 === 2 ? 0.6 : 0),
    );
    const wn = estimateModelPose({ points: withNaN }, model);
    expect(wn.ok).toBe(true);
  });

  it('anchor mode: fewer than 3 correspondences -> too-few-correspondences', () => {
    const depth = new Float32Array(32 * 24).fill(0.5);
    const mask = new Uint8Array(32 * 24);
    mask[100] = 1;
    mask[101] = 1;
    const feats = { data: new Float32Array(32 * 24 * 2).fill(1), gridH: 24, gridW: 32, dim: 2 };
    const v = { depthM: depth, camera: CAM, mask, features: feats };
    const r = estimateAnchorPose(v, v);
    expect(r.ok === false && r.reason).toBe('too-few-correspondences');
  });

  it('box mode and instances: planar and colinear points give boxes with zero extents, not exceptions', () => {
    const planar = new Float32Array([
      0, 0, 1, 0.1, 0, 1, 0, 0.1, 1, 0.1, 0.1, 1, 0.05, 0.05, 1, 0.02, 0.07, 1, 0.03, 0.01, 1, 0.09, 0.02, 1,
      0.01, 0.09, 1, 0.06, 0.04, 1,
    ]);
    const b = orientedBoundingBox(planar);
    expect(b.extentM[2]).toBeCloseTo(0, 6);
    expect(b.extentM[0]).toBeCloseTo(0.1, 6);
    const r = estimateBoxPose(planar);
    expect(r.ok).toBe(true);
    const line = new Float32Array([
      0, 0, 1, 0.1, 0, 1, 0.2, 0, 1, 0.3, 0, 1, 0.4, 0, 1, 0.5, 0, 1, 0.6, 0, 1, 0.7, 0, 1, 0.8, 0, 1, 0.9, 0,
      1,
    ]);
    const rl = estimateBoxPose(line);
    expect(rl.ok && rl.box!.extentM[0]).toBeCloseTo(0.9, 6);
    expect(() => extractInstances({ depthM: new Float32Array(5), camera: CAM }, [])).toThrow(/depthM/);
  });

  it('Kabsch and ICP handle colinear points and empty overlaps', () => {
    const line = new Float64Array([0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0]);
    const k = kabsch(line, line)!;
    expect(Number.isFinite(k.rmseM)).toBe(true);
    expect(k.rmseM).toBeLessThan(1e-12);
    const far = registrationIcp(
      { points: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]) },
      { points: new Float32Array([10, 10, 10, 11, 10, 10]) },
      undefined,
      { maxCorrespondenceDistanceM: 0.1 },
    );
    expect(far.fitness).toBe(0);
    expect(far.converged).toBe(false);
  });
});
