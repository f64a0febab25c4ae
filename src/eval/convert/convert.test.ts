import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openBag } from '../../bag';
import { synthEvalSequences, writeSynthBop, writeSynthNocs } from '../fixtures';
import { loadEvalModel, observationsOf, openConvertedDataset } from '../dataset';
import type { SynthSequence } from '../../synth';
import { convertBop } from './bop';
import { convertReal275, decomposeNocsRt, real275Intrinsics } from './real275';
import { EvalDatasetError, readPromptsFile, TOPICS } from './format';

const apply = (R: ArrayLike<number>, t: ArrayLike<number>, p: number[]) =>
  [0, 1, 2].map((i) => R[3 * i] * p[0] + R[3 * i + 1] * p[1] + R[3 * i + 2] * p[2] + t[i]);

describe('dataset converters (synthetic BOP and NOCS exports)', () => {
  let tmp: string;
  let seqs: SynthSequence[];
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evalconv-'));
    seqs = synthEvalSequences({ scenes: 2, framesPerScene: 2 });
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('BOP: one bag per scene with RealSense topics + GT, poses equal to the generator, resumable', async () => {
    const src = path.join(tmp, 'bop');
    const { prompts } = await writeSynthBop(src, seqs);
    const out = path.join(tmp, 'bop-conv');
    const events: boolean[] = [];
    const sum = await convertBop({
      srcDir: src,
      outDir: out,
      dataset: 'toyl',
      prompts: readPromptsFile(prompts),
      onProgress: (e) => events.push(!!e.skipped),
    });
    expect(sum.scenes.map((s) => s.frames)).toEqual([2, 2]);
    expect(sum.objects).toBe(3);
    expect(events).toEqual([false, false, false, false]);
    const r = await openBag(sum.scenes[0].bag);
    const counts = Object.fromEntries(r.info().topics.map((t) => [t.topic, t.messageCount]));
    await r.close();
    for (const t of Object.values(TOPICS)) expect(counts[t]).toBe(2);
    const ds = await openConvertedDataset(out);
    expect(ds.scenes.map((s) => s.sceneId)).toEqual(['000001', '000002']);
    const f = ds.scenes[1].frames[1];
    const synth = seqs[1].frames[1];
    expect(f.objects.map((o) => o.prompt)).toEqual(['red mug', 'blue bottle', 'green bowl']);
    // same objectId across scenes (folded obj ids)
    expect(ds.scenes[0].frames[0].objects.map((o) => o.objectId)).toEqual(f.objects.map((o) => o.objectId));
    f.objects.forEach((o, k) => {
      const p = synth.objects[k].poseCam;
      o.tM.forEach((v, i) => expect(v).toBeCloseTo(p.tM[i], 5));
      o.R.forEach((v, i) => expect(v).toBeCloseTo(p.R[i], 5));
    });
    const m = loadEvalModel(ds, f.objects[0].objectId);
    expect(m.diameterM).toBeGreaterThan(0.05);
    expect(m.diameterM).toBeLessThan(0.3);
    // re-run: everything skipped
    const again: boolean[] = [];
    await convertBop({ srcDir: src, outDir: out, onProgress: (e) => again.push(!!e.skipped) });
    expect(again).toEqual([true, true]);
    // resuming without --prompts keeps the prompts already in the bags
    expect((await openConvertedDataset(out)).models.objects[f.objects[0].objectId].prompt).toBe('red mug');
    expect(observationsOf(ds).length).toBe(12);
  });

  it('BOP: reports missing files by path before writing anything', async () => {
    const src = path.join(tmp, 'bop-broken');
    await writeSynthBop(src, seqs.slice(0, 1));
    const gone = path.join(src, 'test', '000001', 'depth', '000001.png');
    fs.rmSync(gone);
    const out = path.join(tmp, 'bop-broken-conv');
    await expect(convertBop({ srcDir: src, outDir: out })).rejects.toThrow(EvalDatasetError);
    await expect(convertBop({ srcDir: src, outDir: out })).rejects.toThrow(gone);
    expect(fs.existsSync(path.join(out, 'scenes'))).toBe(false);
  });

  it('REAL275 layout with CPython pickles: GT matched to instances, scale folded out of gt_RTs', async () => {
    const src = path.join(tmp, 'nocs');
    const { prompts } = await writeSynthNocs(src, seqs, { pickles: true });
    expect(fs.readdirSync(path.join(src, 'gts', 'real_test')).every((f) => f.endsWith('.pkl'))).toBe(true);
    const out = path.join(tmp, 'nocs-conv');
    const sum = await convertReal275({ srcDir: src, outDir: out, prompts: readPromptsFile(prompts) });
    expect(sum.scenes.map((s) => s.sceneId)).toEqual(['scene_1', 'scene_2']);
    const ds = await openConvertedDataset(out);
    const f = ds.scenes[0].frames[1];
    const synth = seqs[0].frames[1];
    expect(f.objects.length).toBe(3);
    // camera.json of the synthetic export wins over the (640x480) REAL275 intrinsics
    const ev = await import('../dataset');
    const bag = await openBag(ds.scenes[0].bagPath);
    const { replay } = await ev.readFrameMessages(bag, BigInt(f.stampNs));
    await bag.close();
    const { decodeMessage } = await import('../../bag');
    const info = decodeMessage('sensor_msgs/msg/CameraInfo', replay[0].data) as {
      k: number[];
      width: number;
    };
    expect(info.width).toBe(synth.camera.width);
    expect(info.k[0]).toBeCloseTo(synth.camera.fx, 6);
    expect(info.k[2]).toBeCloseTo(synth.camera.cx, 6);
    for (const o of f.objects) {
      const so = synth.objects.find((x) => x.modelName === o.objectId)!;
      expect(so).toBeDefined();
      // a vertex of the converted (canonical, metres) model lands where the synth mesh vertex does
      const m = loadEvalModel(ds, o.objectId);
      for (const vi of [0, 7]) {
        const pm = Array.from(m.mesh.positionsM.subarray(3 * vi, 3 * vi + 3));
        const ps = Array.from(so.mesh.positionsM.subarray(3 * vi, 3 * vi + 3));
        const a = apply(o.R, o.tM, pm);
        const b = apply(so.poseCam.R, so.poseCam.tM, ps);
        a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 4));
      }
      expect(o.classId).toBeGreaterThan(0);
    }
    expect(ds.models.objects[f.objects[1].objectId].symmetries?.continuous).toBeDefined(); // bottle
  });

  it('real275Intrinsics scales the REAL275 camera to other image sizes', () => {
    const k = real275Intrinsics(640, 480);
    expect(k.fx).toBe(591.0125);
    expect(k.cy).toBeCloseTo(244.11084, 9);
    const h = real275Intrinsics(320, 240);
    expect(h.fx).toBeCloseTo(295.50625, 9);
    expect(h.cx).toBeCloseTo((322.525 + 0.5) / 2 - 0.5, 9);
  });

  it('decomposeNocsRt removes the scale', () => {
    const s = 0.3;
    const { R, tM, scale } = decomposeNocsRt([
      [0, -s, 0, 1],
      [s, 0, 0, 2],
      [0, 0, s, 3],
      [0, 0, 0, 1],
    ]);
    expect(scale).toBeCloseTo(0.3, 12);
    expect(R.map((v) => Math.round(v * 1e9) / 1e9)).toEqual([0, -1, 0, 1, 0, 0, 0, 0, 1]);
    expect(tM).toEqual([1, 2, 3]);
  });
});
