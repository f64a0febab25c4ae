import {
  asymmetric3dIou,
  compute3dIou,
  computeApFromMatchesScores,
  computeNocsMap,
  nocsRotTransError,
  type NocsImageResult,
} from './nocs';
import { axisAngleToR, makePose } from './linalg';

const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const at = (t: number[], R: ArrayLike<number> = I) => makePose(R, t);

describe('NOCS 3D IoU and degree/cm (Wang et al. CVPR 2019, utils.py)', () => {
  test('identical boxes give 1, a box shifted by half its width gives 1/3, disjoint 0', () => {
    const a = { pose: at([0, 0, 1]), sizeM: [0.1, 0.2, 0.3] };
    expect(asymmetric3dIou(a, a)).toBeCloseTo(1, 12);
    expect(asymmetric3dIou(a, { pose: at([0.05, 0, 1]), sizeM: a.sizeM })).toBeCloseTo(1 / 3, 12);
    expect(asymmetric3dIou(a, { pose: at([1, 0, 1]), sizeM: a.sizeM })).toBe(0);
  });

  test('y-symmetric classes search 20 rotations about y; a mug with a visible handle does not', () => {
    const gt = { pose: at([0, 0, 1]), sizeM: [0.1, 0.2, 0.05] };
    const pred = { pose: at([0, 0, 1], axisAngleToR([0, 1, 0], Math.PI / 2)), sizeM: gt.sizeM };
    const plain = asymmetric3dIou(pred, gt);
    // x/z extents swap: inter 0.05*0.2*0.05 = 5e-4, union 2 * 1e-3 - 5e-4 -> 1/3
    expect(plain).toBeCloseTo(1 / 3, 12);
    expect(compute3dIou(pred, gt, 'bottle', 'bottle')).toBeCloseTo(1, 12);
    expect(compute3dIou(pred, gt, 'mug', 'mug', false)).toBeCloseTo(1, 12);
    expect(compute3dIou(pred, gt, 'mug', 'mug', true)).toBeCloseTo(plain, 12);
    expect(compute3dIou(pred, gt, 'bottle', 'can')).toBeCloseTo(plain, 12);
  });

  test('rotation error ignores rotations about y for symmetric classes and 180-degree y flips for phone', () => {
    const gt = at([0, 0, 1]);
    const rotY = at([0, 0, 1.03], axisAngleToR([0, 1, 0], 0.7));
    const [d1, cm1] = nocsRotTransError(rotY, gt, 'bowl');
    expect(d1).toBeCloseTo(0, 5);
    expect(cm1).toBeCloseTo(3, 10);
    expect(nocsRotTransError(rotY, gt, 'camera')[0]).toBeCloseTo((0.7 * 180) / Math.PI, 8);
    const flip = at([0, 0, 1], axisAngleToR([0, 1, 0], Math.PI));
    expect(nocsRotTransError(flip, gt, 'phone')[0]).toBeCloseTo(0, 5);
    expect(nocsRotTransError(flip, gt, 'laptop')[0]).toBeCloseTo(180, 5);
  });
});

describe('NOCS AP (compute_ap_from_matches_scores, compute_degree_cm_mAP)', () => {
  test('AP of [TP, FP, TP] with 3 GTs is 5/9 (all-point interpolation)', () => {
    expect(computeApFromMatchesScores([true, false, true], [0.9, 0.8, 0.7], 3)).toBeCloseTo(5 / 9, 12);
    // order by score, not by list position
    expect(computeApFromMatchesScores([true, false, true], [0.7, 0.8, 0.9], 3)).toBeCloseTo(5 / 9, 12);
    expect(computeApFromMatchesScores([true], [1], 1)).toBe(1);
    expect(computeApFromMatchesScores([], [], 0)).toBeNaN();
  });

  test('mAP on a hand-made detection list', () => {
    const size = [0.1, 0.1, 0.1];
    const images: NocsImageResult[] = [
      {
        gt: [
          { classId: 1, pose: at([0, 0, 1]), sizeM: size },
          { classId: 3, pose: at([0.3, 0, 1]), sizeM: size },
        ],
        pred: [
          { classId: 1, score: 0.9, pose: at([0, 0, 1]), sizeM: size }, // exact
          { classId: 1, score: 0.8, pose: at([0.5, 0.5, 1]), sizeM: size }, // false positive
          {
            classId: 3,
            score: 0.7,
            pose: at([0.3, 0, 1], axisAngleToR([1, 0, 0], (7 * Math.PI) / 180)),
            sizeM: size,
          },
        ],
      },
      { gt: [{ classId: 1, pose: at([0, 0, 2]), sizeM: size }], pred: [] }, // missed bottle
    ];
    const r = computeNocsMap(images);
    const bottle = r.perClass.find((c) => c.name === 'bottle');
    const camera = r.perClass.find((c) => c.name === 'camera');
    // bottle: [TP 0.9, FP 0.8] with 2 GTs -> AP = 0.5 at IoU 25 and 50
    expect(bottle?.iouAp).toEqual([0.5, 0.5]);
    // pose AP only over IoU-matched GTs (NOCS use_matches_for_pose): the missed bottle does not count
    expect(bottle?.poseAp).toEqual([1, 1, 1, 1]);
    // camera rotated 7 degrees: fails 5 deg thresholds, passes 10 deg ones
    expect(camera?.iouAp).toEqual([1, 1]);
    expect(camera?.poseAp).toEqual([0, 0, 1, 1]);
    expect(r.meanIouAp).toEqual([0.75, 0.75]);
    expect(r.meanPoseAp).toEqual([0.5, 0.5, 1, 1]);
    // without use_matches_for_pose the missed bottle halves the bottle pose AP
    const r2 = computeNocsMap(images, undefined, { useMatchesForPose: false });
    expect(r2.perClass[0].poseAp[0]).toBeCloseTo(0.5, 12);
  });
});
