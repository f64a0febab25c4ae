import type { CameraIntrinsics } from '../../types';
import { add, adi, re, te, teCm, mssd, mspd, mspdNormalisedPx, proj, modelDiameter } from './poseError';
import { axisAngleToR, identityPose, makePose } from './linalg';
import { getSymmetryTransformations } from './symmetry';
import { buildNnIndex, nearestDistance } from './nn';
import { EvalInputError } from './errors';
import { cylinderPoints, randomPoints } from './testutil';

const cam: CameraIntrinsics = { width: 640, height: 480, fx: 600, fy: 600, cx: 320, cy: 240 };
const gt = makePose([1, 0, 0, 0, 1, 0, 0, 0, 1], [0.1, -0.05, 0.8]);

describe('pose errors (bop_toolkit pose_error.py)', () => {
  const pts = randomPoints(500, 0.05, 1);
  const ident = getSymmetryTransformations(undefined);

  test('identity estimate gives zero for every error', () => {
    expect(add(gt, gt, pts)).toBe(0);
    expect(adi(gt, gt, pts)).toBeLessThan(1e-15);
    expect(re(gt.R, gt.R)).toBe(0);
    expect(te(gt.tM, gt.tM)).toBe(0);
    expect(mssd(gt, gt, pts, ident)).toBe(0);
    expect(mspd(gt, gt, cam, pts, ident)).toBe(0);
    expect(proj(gt, gt, cam, pts)).toBe(0);
  });

  test('a known translation offset gives exact ADD, te and MSSD', () => {
    const est = makePose(gt.R, [gt.tM[0] + 0.003, gt.tM[1] - 0.004, gt.tM[2]]);
    expect(add(est, gt, pts)).toBeCloseTo(0.005, 12);
    expect(te(est.tM, gt.tM)).toBeCloseTo(0.005, 12);
    expect(teCm(est.tM, gt.tM)).toBeCloseTo(0.5, 10);
    expect(mssd(est, gt, pts, ident)).toBeCloseTo(0.005, 12);
    expect(adi(est, gt, pts)).toBeLessThanOrEqual(0.005 + 1e-12);
  });

  test('rotation error: 90 deg about x, and the clamp keeps a slightly scaled identity finite', () => {
    expect(re(axisAngleToR([1, 0, 0], Math.PI / 2), identityPose().R)).toBeCloseTo(90, 10);
    const scaled = new Float64Array([1 + 1e-9, 0, 0, 0, 1 + 1e-9, 0, 0, 0, 1 + 1e-9]);
    expect(re(scaled, identityPose().R)).toBe(0);
    expect(re(axisAngleToR([0, 1, 1], Math.PI), identityPose().R)).toBeCloseTo(180, 6);
  });

  test('cylinder rotated about its axis by one sampling step: ADD-S = 0 but ADD = 2 r sin(theta/2)', () => {
    const r = 0.04;
    const cyl = cylinderPoints(r, 0.1, 36, 5);
    const theta = (2 * Math.PI) / 36;
    const est = makePose(axisAngleToR([0, 0, 1], theta), gt.tM);
    expect(adi(est, gt, cyl)).toBeLessThan(1e-12);
    expect(add(est, gt, cyl)).toBeCloseTo(2 * r * Math.sin(theta / 2), 12);
  });

  test('MSSD with a discrete 180-degree symmetry about z is 0 for the flipped estimate', () => {
    const box = randomPoints(200, 0.05, 7);
    // make the point set symmetric under Rz(180): add (-x, -y, z) for each point
    const symPts = new Float64Array(box.length * 2);
    symPts.set(box);
    for (let i = 0; i < box.length / 3; i++) {
      symPts[box.length + 3 * i] = -box[3 * i];
      symPts[box.length + 3 * i + 1] = -box[3 * i + 1];
      symPts[box.length + 3 * i + 2] = box[3 * i + 2];
    }
    const rz180 = [-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    const syms = getSymmetryTransformations({ discrete: [rz180] });
    expect(syms).toHaveLength(2);
    const est = makePose(axisAngleToR([0, 0, 1], Math.PI), gt.tM);
    expect(mssd(est, gt, symPts, syms)).toBeLessThan(1e-12);
    // without the symmetry the error is the largest distance of a point to its 180-degree image
    let maxR = 0;
    for (let i = 0; i < symPts.length / 3; i++)
      maxR = Math.max(maxR, Math.hypot(symPts[3 * i], symPts[3 * i + 1]));
    expect(mssd(est, gt, symPts, getSymmetryTransformations(undefined))).toBeCloseTo(2 * maxR, 12);
    expect(mspd(est, gt, cam, symPts, syms)).toBeLessThan(1e-9);
  });

  test('continuous symmetry is discretised as bop_toolkit (314 rotations, identity excluded)', () => {
    const syms = getSymmetryTransformations({ continuous: [{ axis: [0, 0, 1], offsetM: [0, 0, 0] }] });
    expect(syms).toHaveLength(314);
    const both = getSymmetryTransformations({
      discrete: [[1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1]],
      continuous: [{ axis: [0, 0, 1], offsetM: [0, 0, 0] }],
    });
    expect(both).toHaveLength(628);
    const cyl = cylinderPoints(0.04, 0.1, 36, 5);
    const est = makePose(axisAngleToR([0, 0, 1], (2 * Math.PI * 5) / 315), gt.tM);
    expect(mssd(est, gt, cyl, syms)).toBeLessThan(1e-12);
    expect(mssd(est, gt, cyl, getSymmetryTransformations(undefined))).toBeGreaterThan(0.003);
  });

  test('MSPD of a lateral shift of a planar object at constant depth is fx * dx / Z; width scaling', () => {
    const plane = new Float64Array([0, 0, 0, 0.02, 0, 0, 0, 0.03, 0, -0.01, -0.02, 0]);
    const g = makePose([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 1]);
    const e = makePose([1, 0, 0, 0, 1, 0, 0, 0, 1], [0.01, 0, 1]);
    const px = mspd(e, g, cam, plane, getSymmetryTransformations(undefined));
    expect(px).toBeCloseTo(6, 10);
    expect(mspdNormalisedPx(px, 1280)).toBeCloseTo(3, 10);
    expect(mspdNormalisedPx(px, 640)).toBeCloseTo(6, 10);
  });

  test('k-d tree nearest neighbour matches brute force, including queries outside the grid', () => {
    const target = randomPoints(400, 0.1, 3);
    const queries = randomPoints(200, 0.3, 4);
    const grid = buildNnIndex(target);
    for (let q = 0; q < 200; q++) {
      const [x, y, z] = [queries[3 * q], queries[3 * q + 1], queries[3 * q + 2]];
      let best = Infinity;
      for (let i = 0; i < 400; i++) {
        best = Math.min(best, Math.hypot(target[3 * i] - x, target[3 * i + 1] - y, target[3 * i + 2] - z));
      }
      expect(nearestDistance(grid, x, y, z)).toBeCloseTo(best, 12);
    }
  });

  test('diameter of a cylinder is the diagonal of its axial section', () => {
    const cyl = cylinderPoints(0.03, 0.08, 36, 2);
    expect(modelDiameter(cyl)).toBeCloseTo(Math.hypot(0.06, 0.08), 12);
  });

  test('bad input raises EvalInputError naming the field', () => {
    expect(() => add(gt, gt, new Float64Array(4))).toThrow(EvalInputError);
    expect(() => add(gt, gt, new Float64Array(4))).toThrow(/pointsM/);
    expect(() => mssd(gt, gt, pts, [])).toThrow(/symmetries/);
    expect(() => add({ R: new Float64Array(3), tM: gt.tM }, gt, pts)).toThrow(/est/);
  });
});
