import { makePose, axisAngleToR, composePoses } from '../metrics/linalg';
import { EvalInputError } from '../metrics/errors';
import { sampleOryonPairs, relativePose, queryPoseFromRelative, type ObjectObservation } from './pairs';

function observations(): ObjectObservation[] {
  const out: ObjectObservation[] = [];
  for (const obj of ['mug', 'can', 'lonely']) {
    for (let s = 0; s < (obj === 'lonely' ? 1 : 3); s++) {
      for (let f = 0; f < 10; f++) {
        out.push({
          sceneId: `scene_${s}`,
          frameId: String(f).padStart(4, '0'),
          objectId: obj,
          prompt: `a ${obj}`,
          poseGt: makePose(axisAngleToR([0, 1, 0], 0.1 * f + s), [0.01 * f, 0, 0.5 + 0.1 * s]),
          visibFract: f === 9 ? 0.05 : 0.8,
        });
      }
    }
  }
  return out;
}

describe('Oryon pair sampling', () => {
  test('deterministic for a seed, independent of input order, different for another seed', () => {
    const obs = observations();
    const a = sampleOryonPairs(obs, { count: 50, seed: 7 });
    const b = sampleOryonPairs([...obs].reverse(), { count: 50, seed: 7 });
    const c = sampleOryonPairs(obs, { count: 50, seed: 8 });
    expect(a.map((p) => p.pairId)).toEqual(b.map((p) => p.pairId));
    expect(a.map((p) => p.pairId)).not.toEqual(c.map((p) => p.pairId));
    expect(a).toHaveLength(50);
  });

  test('same object, different scenes, distinct pairs, invisible instances excluded, prompt carried', () => {
    const pairs = sampleOryonPairs(observations(), { count: 300, seed: 1 });
    expect(pairs).toHaveLength(300);
    expect(new Set(pairs.map((p) => p.pairId)).size).toBe(300);
    for (const p of pairs) {
      expect(p.anchor.objectId).toBe(p.query.objectId);
      expect(p.anchor.sceneId).not.toBe(p.query.sceneId);
      expect(p.objectId).not.toBe('lonely'); // seen in one scene only
      expect(p.anchor.frameId).not.toBe('0009'); // visibFract 0.05 < 0.1
      expect(p.query.frameId).not.toBe('0009');
      expect(p.prompt).toBe(`a ${p.objectId}`);
    }
  });

  test('asking for more pairs than exist returns all distinct pairs (2 objects x 3 scenes x 9 frames)', () => {
    // per object: 27 visible instances, each with 18 partners in other scenes -> 486 ordered pairs
    const pairs = sampleOryonPairs(observations(), { count: 2000 });
    expect(pairs).toHaveLength(2 * 486);
    expect(new Set(pairs.map((p) => p.pairId)).size).toBe(972);
  });

  test('relative GT pose maps the anchor pose onto the query pose: T_rel * T_a = T_q', () => {
    const Ta = makePose(axisAngleToR([1, 2, 3], 0.4), [0.1, 0.2, 0.7]);
    const Tq = makePose(axisAngleToR([0, 1, 0], -0.9), [-0.1, 0.05, 0.9]);
    const rel = relativePose(Ta, Tq);
    const back = queryPoseFromRelative(rel, Ta);
    for (let i = 0; i < 9; i++) expect(back.R[i]).toBeCloseTo(Tq.R[i], 12);
    for (let i = 0; i < 3; i++) expect(back.tM[i]).toBeCloseTo(Tq.tM[i], 12);
    const same = composePoses(rel, Ta);
    expect(same.tM[2]).toBeCloseTo(0.9, 12);
  });

  test('bad options and observations raise EvalInputError', () => {
    expect(() => sampleOryonPairs(observations(), { count: -1 })).toThrow(EvalInputError);
    const bad = observations();
    bad[3] = { ...bad[3], sceneId: '' };
    expect(() => sampleOryonPairs(bad)).toThrow(/observations\[3\]/);
  });
});
