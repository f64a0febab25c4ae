import type { ConvertedDataset } from '../dataset';
import type { PairRecord } from '../protocol/oryon';
import type { ObjectObservation } from '../protocol/pairs';
import { upsampleFeatureGrid } from './evalPipeline';
import { nocsMapOfRun } from './nocsEval';
import { failureReasons, pairRank, vsdRecallCurve } from './report';
import { sampleBopTargets } from './runner';

const I = () => ({ R: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: Float64Array.from([0, 0, 0.5]) });
const obs = (scene: string, frame: string, obj: string, visibFract?: number): ObjectObservation => ({
  sceneId: scene,
  frameId: frame,
  objectId: obj,
  prompt: `p${obj}`,
  poseGt: I(),
  visibFract,
});

describe('BOP single-view targets', () => {
  const all = [
    obs('1', '0', 'a', 0.5),
    obs('1', '0', 'b', 0.05),
    obs('1', '1', 'a'),
    obs('2', '0', 'a', 0.9),
  ];
  it('are the visible instances, shuffled by the seed, identity anchor', () => {
    const t = sampleBopTargets(all, 10, 3);
    expect(t.map((x) => x.pairId).sort()).toEqual(['a:1/0', 'a:1/1', 'a:2/0']); // b is below visib 0.1
    expect(sampleBopTargets([...all].reverse(), 10, 3).map((x) => x.pairId)).toEqual(t.map((x) => x.pairId));
    expect(sampleBopTargets(all, 2, 3).length).toBe(2);
    expect(Array.from(t[0].anchor.poseGt.tM)).toEqual([0, 0, 0]);
    expect(t[0].relativePoseGt).toBe(t[0].query.poseGt);
  });
});

describe('upsampleFeatureGrid', () => {
  it('interpolates between cell centres and renormalises', () => {
    // 1x2 grid: e0 | e1 -> 1x4
    const f = upsampleFeatureGrid(
      { data: Float32Array.from([1, 0, 0, 1]), gridHeight: 1, gridWidth: 2, dim: 2 },
      1,
      4,
    );
    expect(f.gridW).toBe(4);
    expect(Array.from(f.data.subarray(0, 2))).toEqual([1, 0]); // left of the first centre: clamped
    expect(Array.from(f.data.subarray(6, 8))).toEqual([0, 1]);
    // x = 1: source 0.25 between the centres -> (0.75, 0.25) normalised
    const n = Math.hypot(0.75, 0.25);
    expect(f.data[2]).toBeCloseTo(0.75 / n, 6);
    expect(f.data[3]).toBeCloseTo(0.25 / n, 6);
  });
});

describe('NOCS mAP of a run', () => {
  const ds = {
    scenes: [
      {
        sceneId: 's1',
        frames: [
          {
            frameId: '0',
            objects: [{ objectId: 'mug1', classId: 6, extentsM: [0.1, 0.1, 0.1], handleVisible: true }],
          },
        ],
      },
    ],
  } as unknown as ConvertedDataset;
  const task = {
    pairId: 'mug1:s0/0->s1/0',
    objectId: 'mug1',
    prompt: 'mug',
    anchor: obs('s0', '0', 'mug1'),
    query: obs('s1', '0', 'mug1'),
    relativePoseGt: { R: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) },
  };
  const rec = (est: number[] | null): PairRecord =>
    ({
      pairId: task.pairId,
      status: est ? 'ok' : 'missing',
      ...(est ? { estimateRel: { R: [1, 0, 0, 0, 1, 0, 0, 0, 1], tM: est } } : {}),
      extra: { fitness: 0.9 },
    }) as unknown as PairRecord;
  it('the exact relative pose gives AP 1 everywhere; a 3 cm offset fails 5°2cm only; no estimate gives 0', () => {
    const exact = nocsMapOfRun(ds, [task], [rec([0, 0, 0])])!;
    expect(exact.meanIouAp).toEqual([1, 1]);
    expect(exact.meanPoseAp).toEqual([1, 1, 1, 1]);
    const off = nocsMapOfRun(ds, [task], [rec([0.03, 0, 0])])!;
    expect(off.meanPoseAp).toEqual([0, 1, 1, 1]);
    expect(nocsMapOfRun(ds, [task], [rec(null)])!.meanIouAp).toEqual([0, 0]);
  });
  it('is null for datasets without NOCS classes', () => {
    const bop = { scenes: [{ sceneId: 's1', frames: [{ frameId: '0', objects: [{ objectId: 'mug1' }] }] }] };
    expect(nocsMapOfRun(bop as unknown as ConvertedDataset, [task], [rec([0, 0, 0])])).toBeNull();
  });
});

describe('pairRank', () => {
  it('AR when present, else the MSSD/MSPD mean; missing ranks last', () => {
    expect(pairRank({ status: 'ok', scores: { ar: 0.4, mssd: 1, mspd: 1 } } as unknown as PairRecord)).toBe(
      0.4,
    );
    expect(pairRank({ status: 'ok', scores: { mssd: 0.2, mspd: 0.4 } } as unknown as PairRecord)).toBeCloseTo(
      0.3,
    );
    expect(pairRank({ status: 'missing', scores: { mssd: 0, mspd: 0 } } as unknown as PairRecord)).toBe(-1);
  });
});

describe('report helpers', () => {
  const ok = (vsd: number[]) => ({ status: 'ok', errors: { vsd }, scores: {} }) as unknown as PairRecord;
  const miss = (failure?: string) =>
    ({ status: 'missing', scores: {}, extra: failure ? { failure } : {} }) as unknown as PairRecord;
  it('VSD recall curve: mean over tau of e < theta, missing = failure', () => {
    // 2 taus; pair A errors (0.1, 0.3), pair B missing
    const c = vsdRecallCurve([ok([0.1, 0.3]), miss('x')])!;
    expect(c.thresholds.length).toBe(10);
    expect(c.recall[0]).toBe(0); // theta 0.05: none
    expect(c.recall[2]).toBeCloseTo(0.25); // theta 0.15: tau0 passes for A -> (1/2 + 0) / 2
    expect(c.recall[9]).toBeCloseTo(0.5); // theta 0.5: both taus of A
    expect(vsdRecallCurve([{ status: 'ok', errors: {}, scores: {} } as unknown as PairRecord])).toBeNull();
  });
  it('failure reasons are counted by their prefix', () => {
    expect(
      failureReasons([miss('too-few: 3'), miss('too-few: 4'), miss('anchor: none'), miss(), ok([0])]),
    ).toEqual([
      ['too-few', 2],
      ['anchor', 1],
      ['unknown', 1],
    ]);
  });
});
