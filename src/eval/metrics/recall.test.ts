import {
  addRecall,
  averageBop19Scores,
  bop19TargetScores,
  BOP19_CORRECT_TH,
  isTargetVisible,
  mspdThresholdsPx,
  passedFraction,
  recallCurve,
  vsdPassedFraction,
  vsdRecallSurface,
  meanRecall,
} from './recall';

describe('BOP 2019 recall and AR (eval_bop19_pose / eval_calc_scores)', () => {
  test('thresholds are 0.05..0.5 and 5..50 px scaled by width / 640', () => {
    expect(BOP19_CORRECT_TH).toHaveLength(10);
    expect(BOP19_CORRECT_TH[0]).toBeCloseTo(0.05, 12);
    expect(BOP19_CORRECT_TH[9]).toBeCloseTo(0.5, 12);
    expect(mspdThresholdsPx(640)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(mspdThresholdsPx(1280)[0]).toBe(10);
  });

  test('recall is strict (e < th) and missing estimates are failures', () => {
    expect(recallCurve([0.1, 0.2, null, NaN], [0.1, 0.2, 0.3])).toEqual([0, 0.25, 0.5]);
    expect(recallCurve([0.1], [0.1], true)).toEqual([1]);
    expect(meanRecall([0, 0.25, 0.5])).toBeCloseTo(0.25, 12);
    expect(passedFraction(null, [1])).toBe(0);
  });

  test('per-target scores: MSSD 0.12 d -> 0.8, MSPD 12 px -> 0.8 at 640 and 0.9 at 1280, VSD 0.27 -> 0.5', () => {
    const s = bop19TargetScores({
      vsd: Array(10).fill(0.27),
      mssdM: 0.012,
      mspdPx: 12,
      diameterM: 0.1,
      imageWidth: 640,
    });
    expect(s.mssd).toBeCloseTo(0.8, 12);
    expect(s.mspd).toBeCloseTo(0.8, 12);
    expect(s.vsd).toBeCloseTo(0.5, 12);
    expect(s.ar).toBeCloseTo(0.7, 12);
    const wide = bop19TargetScores({ vsd: null, mssdM: null, mspdPx: 12, diameterM: 0.1, imageWidth: 1280 });
    expect(wide.mspd).toBeCloseTo(0.9, 12);
    expect(wide.vsd).toBe(0);
    expect(wide.mssd).toBe(0);
  });

  test('VSD: per-target fraction over (tau, th) equals the mean of the recall surface', () => {
    const perTarget = [Array.from({ length: 10 }, (_, k) => 0.05 * k), null, Array(10).fill(0.31)];
    const surface = vsdRecallSurface(perTarget, 10);
    const arSurface = meanRecall(surface.map(meanRecall));
    const arTargets = perTarget.map((v) => vsdPassedFraction(v)).reduce((a, b) => a + b, 0) / 3;
    expect(arSurface).toBeCloseTo(arTargets, 12);
    expect(vsdPassedFraction(Array(10).fill(0))).toBe(1);
  });

  test('averaging target scores with a missing estimate', () => {
    const a = averageBop19Scores([
      { vsd: 1, mssd: 1, mspd: 1, ar: 1 },
      { vsd: 0, mssd: 0, mspd: 0, ar: 0 },
    ]);
    expect(a).toEqual({ vsd: 0.5, mssd: 0.5, mspd: 0.5, ar: 0.5 });
  });

  test('ADD(S) recall at 0.1 d is inclusive; visibility filter at 0.1', () => {
    expect(addRecall([0.01, 0.0100001, null], [0.1, 0.1, 0.1])).toBeCloseTo(1 / 3, 12);
    expect(isTargetVisible(0.05)).toBe(false);
    expect(isTargetVisible(0.1)).toBe(true);
    expect(isTargetVisible(undefined)).toBe(true);
  });
});
