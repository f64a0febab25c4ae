import type { CameraIntrinsics } from '../../types';
import { cus, depthImToDistIm, estimateVisibMask, vsd, vsdFromDepth, BOP19_VSD_TAUS } from './vsd';
import { makePose } from './linalg';
import { EvalInputError } from './errors';
import { renderPatchDepth, type PatchModel } from './testutil';

// 20x20 camera: at Z = 1 m one pixel spans 0.05 m; a patch of half-size 0.2 m covers u, v = 6..13 (8 px).
const cam: CameraIntrinsics = { width: 20, height: 20, fx: 20, fy: 20, cx: 9.5, cy: 9.5 };
const patch: PatchModel = { halfM: 0.2 };
const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const gt = makePose(I, [0, 0, 1]);
const opts = { diameterM: 1 };

describe('VSD (bop_toolkit pose_error.vsd, bop19 visibility, step cost)', () => {
  test('estimate equal to GT with the GT render as test depth: all errors 0', () => {
    const test = renderPatchDepth(patch, gt, cam);
    expect(vsd(gt, gt, test, cam, patch, renderPatchDepth, opts)).toEqual(BOP19_VSD_TAUS.map(() => 0));
  });

  test('estimate 0.2 m behind: 6x6 px silhouette inside the 8x8 GT; error 1 for tau <= 0.2 d, 28/64 above', () => {
    const test = renderPatchDepth(patch, gt, cam);
    const est = makePose(I, [0, 0, 1.2]);
    const e = vsd(est, gt, test, cam, patch, renderPatchDepth, opts);
    // est at Z = 1.2 covers |u - 9.5| <= 3.33 -> u = 7..12 (36 px); union = GT (64 px), inter = 36 px;
    // costs on the intersection are 1 iff 0.2 * sqrt(1 + x^2 + y^2) >= tau.
    expect(e.slice(0, 4)).toEqual([1, 1, 1, 1]);
    for (const x of e.slice(4)) expect(x).toBeCloseTo(28 / 64, 12);
    // not normalised: taus in metres give the same step
    const e2 = vsd(est, gt, test, cam, patch, renderPatchDepth, {
      normalizedByDiameter: false,
      taus: [0.15, 0.3],
    });
    expect(e2[0]).toBe(1);
    expect(e2[1]).toBeCloseTo(28 / 64, 12);
  });

  test('lateral shift of 2 px: error = |union \\ inter| / |union| = 32/80 for every tau; CUS agrees', () => {
    const test = renderPatchDepth(patch, gt, cam);
    const est = makePose(I, [0.1, 0, 1]);
    const e = vsd(est, gt, test, cam, patch, renderPatchDepth, opts);
    for (const x of e) expect(x).toBeCloseTo(32 / 80, 12);
    expect(cus(est, gt, cam, patch, renderPatchDepth)).toBeCloseTo(1 - 48 / 80, 12);
  });

  test('occluder: the estimate hidden behind it is not visible, error = 16/48', () => {
    const test = renderPatchDepth(patch, gt, cam);
    for (let v = 0; v < 20; v++) for (let u = 0; u < 8; u++) test[v * 20 + u] = 0.5; // occluder on u < 8
    const est = makePose(I, [-0.1, 0, 1]); // covers u = 4..11
    const e = vsd(est, gt, test, cam, patch, renderPatchDepth, opts);
    for (const x of e) expect(x).toBeCloseTo(16 / 48, 12);
    expect(vsd(gt, gt, test, cam, patch, renderPatchDepth, opts)[0]).toBe(0);
  });

  test('nothing rendered anywhere: every error is 1', () => {
    const empty = new Float32Array(400);
    expect(vsdFromDepth(empty, empty, empty, cam, { diameterM: 1, taus: [0.1, 0.2] })).toEqual([1, 1]);
  });

  test('tlinear cost is dist / tau truncated at 1', () => {
    const test = renderPatchDepth(patch, gt, cam);
    const est = makePose(I, [0, 0, 1.01]);
    const [e] = vsdFromDepth(renderPatchDepth(patch, est, cam), test, test, cam, {
      diameterM: 1,
      taus: [0.1],
      costType: 'tlinear',
    });
    // distances are 0.01 * sqrt(1 + x^2 + y^2), between 0.01 and 0.0105 on the patch -> cost ~ 0.1
    expect(e).toBeGreaterThan(0.1);
    expect(e).toBeLessThan(0.105);
  });

  test('distance image and visibility mask match the bop definitions on single pixels', () => {
    const d = new Float32Array(400);
    d[0] = 2; // u = 0, v = 0
    const dist = depthImToDistIm(d, cam);
    expect(dist[0]).toBeCloseTo(2 * Math.sqrt(1 + 2 * (9.5 / 20) ** 2), 5);
    const t = new Float32Array([1, 0, 1, 1]);
    const m = new Float32Array([1.01, 1, 1.2, 0]);
    expect(Array.from(estimateVisibMask(t, m, 0.015))).toEqual([1, 1, 0, 0]);
  });

  test('missing diameter for normalised VSD is a typed error', () => {
    const test = renderPatchDepth(patch, gt, cam);
    expect(() => vsd(gt, gt, test, cam, patch, renderPatchDepth)).toThrow(EvalInputError);
    expect(() => vsdFromDepth(test, test, new Float32Array(3), cam, opts)).toThrow(/depthTestM/);
  });
});
