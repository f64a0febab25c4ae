import { matchPoses, type EstimateErrors } from './poseMatching';

describe('bop_toolkit match_poses', () => {
  const ests: EstimateErrors[] = [
    {
      estId: 0,
      score: 0.5,
      errors: new Map([
        [0, [0.01]],
        [1, [0.02]],
      ]),
    },
    {
      estId: 1,
      score: 0.9,
      errors: new Map([
        [0, [0.03]],
        [1, [0.04]],
      ]),
    },
    {
      estId: 2,
      score: 0.1,
      errors: new Map([
        [0, [0.001]],
        [1, [0.001]],
      ]),
    },
  ];

  test('highest score first, lowest error below threshold, each GT once', () => {
    const m = matchPoses(ests, [0.05]);
    // est 1 (0.9) takes GT 0 (0.03 < 0.04); est 0 takes GT 1; est 2 finds nothing left
    expect(m.map((x) => [x.estId, x.gtId])).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(m[0].errorNorm[0]).toBeCloseTo(0.6, 12);
  });

  test('threshold is strict, top-k and GT validity are honoured', () => {
    expect(matchPoses(ests, [0.03]).map((x) => [x.estId, x.gtId])).toEqual([
      [0, 0],
      [2, 1],
    ]);
    expect(matchPoses(ests, [0.05], 1)).toHaveLength(1);
    expect(matchPoses(ests, [0.05], 0, (g) => g === 1).map((x) => [x.estId, x.gtId])).toEqual([[1, 1]]);
  });
});
