import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { CameraIntrinsics } from '../../types';
import { makePose, axisAngleToR } from '../metrics/linalg';
import { getSymmetryTransformations } from '../metrics/symmetry';
import { renderPatchDepth, cylinderPoints, type PatchModel } from '../metrics/testutil';
import { sampleOryonPairs, type ObjectObservation } from './pairs';
import { evaluateOryonPair, aggregateOryon, type EvalObjectModel, type PairRecord } from './oryon';
import {
  parsePairRecordsJsonl,
  serializePairRecord,
  readPairRecordsFile,
  repairTruncatedTail,
  appendPairRecord,
  pendingPairs,
} from './jsonl';

const cam: CameraIntrinsics = { width: 20, height: 20, fx: 20, fy: 20, cx: 9.5, cy: 9.5 };
const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const patchPts = new Float64Array([-0.2, -0.2, 0, 0.2, -0.2, 0, 0.2, 0.2, 0, -0.2, 0.2, 0, 0, 0, 0]);
const model: EvalObjectModel<PatchModel> = {
  pointsM: patchPts,
  diameterM: Math.hypot(0.4, 0.4),
  symmetries: getSymmetryTransformations(undefined),
  symmetric: false,
  renderModel: { halfM: 0.2 },
};

function twoScenes(): ObjectObservation[] {
  return [
    { sceneId: 'a', frameId: '0', objectId: 'box', prompt: 'a box', poseGt: makePose(I, [0.05, 0, 1.1]) },
    { sceneId: 'b', frameId: '0', objectId: 'box', prompt: 'a box', poseGt: makePose(I, [0, 0, 1]) },
  ];
}

describe('Oryon per-pair evaluation and aggregation', () => {
  const pairs = sampleOryonPairs(twoScenes(), { count: 2 });
  const pair = pairs.find((p) => p.anchor.sceneId === 'a') as (typeof pairs)[number];
  const depthQ = renderPatchDepth({ halfM: 0.2 }, pair.query.poseGt, cam);
  const common = { model, camera: cam, depthQueryM: depthQ, renderDepth: renderPatchDepth };

  test('the GT relative pose scores perfectly', () => {
    const r = evaluateOryonPair({
      ...common,
      pair,
      estimateRel: pair.relativePoseGt,
      iouAnchor: 0.9,
      iouQuery: 0.8,
    });
    expect(r.status).toBe('ok');
    expect(r.errors?.addM).toBeCloseTo(0, 12);
    expect(r.errors?.teCm).toBeCloseTo(0, 10);
    expect(r.scores).toEqual({ mssd: 1, mspd: 1, vsd: 1, ar: 1, addS01d: 1 });
  });

  test('a 2 cm translation error in the query frame: ADD = 0.02, MSSD passes 9/10, ADD(S)-0.1d passes', () => {
    const rel = makePose(pair.relativePoseGt.R, [
      pair.relativePoseGt.tM[0] + 0.02,
      pair.relativePoseGt.tM[1],
      pair.relativePoseGt.tM[2],
    ]);
    const r = evaluateOryonPair({ ...common, pair, estimateRel: rel });
    expect(r.errors?.addM).toBeCloseTo(0.02, 12);
    expect(r.errors?.teCm).toBeCloseTo(2, 10);
    // 0.02 / 0.5657 = 0.035 d -> passes all MSSD thresholds; MSPD = 20 px * 0.02 / 1 m = 0.4 px -> all
    expect(r.scores.mssd).toBe(1);
    expect(r.errors?.mspdPx).toBeCloseTo(0.4, 10);
    expect(r.scores.addS01d).toBe(1);
  });

  test('a missing estimate is a failure with all scores 0', () => {
    const r = evaluateOryonPair({ ...common, pair, estimateRel: null });
    expect(r.status).toBe('missing');
    expect(r.scores).toEqual({ mssd: 0, mspd: 0, vsd: 0, ar: 0, addS01d: 0 });
  });

  test('objects with symmetries use ADD-S for ADD(S)-0.1d by default', () => {
    const cyl = cylinderPoints(0.04, 0.1, 36, 3);
    const symModel: EvalObjectModel = {
      pointsM: cyl,
      diameterM: Math.hypot(0.08, 0.1),
      symmetries: getSymmetryTransformations({ continuous: [{ axis: [0, 0, 1], offsetM: [0, 0, 0] }] }),
      // symmetric omitted: defaults to true because the object has symmetries (Oryon)
    };
    const rot = makePose(axisAngleToR([0, 0, 1], Math.PI / 2), [0, 0, 0]);
    const p2 = {
      ...pair,
      anchor: { ...pair.anchor, poseGt: makePose(I, [0, 0, 1]) },
      query: { ...pair.query, poseGt: makePose(I, [0, 0, 1]) },
    };
    const r = evaluateOryonPair({
      pair: p2,
      estimateRel: rot,
      model: symModel,
      camera: { ...cam, width: 640, height: 480 },
    });
    expect(r.errors?.addM).toBeGreaterThan(0.05);
    expect(r.errors?.adiM).toBeLessThan(1e-12);
    expect(r.scores.addS01d).toBe(1);
    expect(r.scores.vsd).toBeUndefined();
  });

  test('aggregate: means with failures as 0, curves, mask shares and per-object rows', () => {
    const good = evaluateOryonPair({
      ...common,
      pair,
      estimateRel: pair.relativePoseGt,
      iouAnchor: 0.9,
      iouQuery: 0.8,
    });
    const miss = { ...evaluateOryonPair({ ...common, pair, estimateRel: null }), pairId: 'other' };
    const agg = aggregateOryon([good, miss]);
    expect(agg.count).toBe(2);
    expect(agg.missing).toBe(1);
    expect(agg.ar).toBeCloseTo(0.5, 12);
    expect(agg.addS01d).toBeCloseTo(0.5, 12);
    expect(agg.curves.mssd.recall.every((x) => x === 0.5)).toBe(true);
    expect(agg.mask.meanIou).toBeCloseTo(0.425, 12);
    expect(agg.mask.shareAbove075).toBe(0.5);
    expect(agg.perObject).toHaveLength(1);
    expect(agg.meanTeCm).toBeCloseTo(0, 10);
  });
});

describe('JSON-lines results (resumable)', () => {
  const rec = (id: string, mssd: number): PairRecord => ({
    pairId: id,
    objectId: 'o',
    prompt: 'p',
    status: 'ok',
    diameterM: 0.1,
    imageWidth: 640,
    scores: { mssd, mspd: 0, addS01d: 0 },
    iouAnchor: null,
    iouQuery: null,
  });

  test('tolerates a truncated last line and de-duplicates pair ids (last write wins, first position kept)', () => {
    const text =
      serializePairRecord(rec('a', 0.1)) +
      serializePairRecord(rec('b', 0.2)) +
      serializePairRecord(rec('a', 0.3)) +
      '{"pairId":"c","sco';
    const p = parsePairRecordsJsonl(text);
    expect(p.truncatedTail).toBe(true);
    expect(p.duplicates).toBe(1);
    expect(p.records.map((r) => r.pairId)).toEqual(['a', 'b']);
    expect(p.records[0].scores.mssd).toBe(0.3);
  });

  test('a corrupt line in the middle is an error naming the line', () => {
    const text = serializePairRecord(rec('a', 0)) + 'garbage\n' + serializePairRecord(rec('b', 0));
    expect(() => parsePairRecordsJsonl(text)).toThrow(/line 2/);
  });

  test('file round trip: repair the tail, append, read back, and list pending pairs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-jsonl-'));
    const file = path.join(dir, 'pairs.jsonl');
    expect(readPairRecordsFile(file).records).toEqual([]);
    fs.writeFileSync(file, serializePairRecord(rec('a', 0)) + '{"pairId":"b"');
    expect(repairTruncatedTail(file)).toBe('{"pairId":"b"'.length);
    appendPairRecord(file, rec('b', 1));
    const back = readPairRecordsFile(file);
    expect(back.truncatedTail).toBe(false);
    expect(back.records.map((r) => r.pairId)).toEqual(['a', 'b']);
    expect(pendingPairs([{ pairId: 'a' }, { pairId: 'b' }, { pairId: 'c' }], back.records)).toEqual([
      { pairId: 'c' },
    ]);
    fs.rmSync(dir, { recursive: true });
  });
});
