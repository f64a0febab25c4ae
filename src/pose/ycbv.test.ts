import * as fs from 'fs';
import * as path from 'path';
import { computeDiameter } from '../geometry/pointcloud';
import {
  ModelRegistry,
  PosePipeline,
  type PoseQueryConfig,
  addError,
  addsError,
  extractInstances,
  estimateBoxPose,
  estimateModelPose,
  prepareObjectModel,
  rotationErrorDeg,
  translationErrorM,
} from './index';
import { loadYcbvFrame, type YcbvFrame } from './ycbv';

const DATA = path.resolve(__dirname, '../../../shared/data');

describe('real depth (shared YCB-V frame)', () => {
  let frame: YcbvFrame;
  beforeAll(async () => {
    expect(fs.existsSync(path.join(DATA, 'ycbv', '000001', 'meta.json'))).toBe(true);
    frame = await loadYcbvFrame(DATA);
  });

  it('loads depth in metres and consistent GT (shared YCB-V frame)', () => {
    expect(frame.objects.map((o) => o.name)).toEqual(['009_gelatin_box', '025_mug', '061_foam_brick']);
    for (const o of frame.objects) {
      let n = 0;
      let sum = 0;
      frame.label.forEach((l, i) => {
        if (l === o.labelValue && frame.depthM[i] > 0) {
          n++;
          sum += frame.depthM[i];
        }
      });
      // masked depth is within 5 cm of the GT translation depth
      expect(Math.abs(sum / n - o.gt.tM[2])).toBeLessThan(0.05);
    }
  });

  // Measured on this frame (see the closing note of issue 5): ADD-S 2-6 mm; rotations can flip for the two
  // near-symmetric boxes and the mug (handle hidden), which is why ADD is reported but ADD-S is asserted.
  it.each([
    ['009_gelatin_box', 0.015],
    ['025_mug', 0.015],
    ['061_foam_brick', 0.025],
  ])('model mode reaches ADD-S < 0.1 diameter on %s (shared YCB-V frame)', (name, maxTransErrM) => {
    const o = frame.objects.find((x) => x.name === name)!;
    const mask = frame.label.map((l) => (l === o.labelValue ? 1 : 0));
    const [inst] = extractInstances(frame, [{ label: name, mask }], { erodePx: 2 });
    expect(inst.pointCount).toBeGreaterThan(5000);
    const model = prepareObjectModel({ name, pointsM: o.modelPointsM });
    const diameter = computeDiameter(o.modelPointsM);
    const r = estimateModelPose(inst.cloud, model);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const adds = addsError(r.pose, o.gt, o.modelPointsM);
    const add = addError(r.pose, o.gt, o.modelPointsM);
    const te = translationErrorM(r.pose, o.gt);
    console.log(
      `${name}: ADD-S ${(adds * 1000).toFixed(1)} mm, ADD ${(add * 1000).toFixed(1)} mm, rot ${rotationErrorDeg(r.pose, o.gt).toFixed(1)}°, ` +
        `t ${(te * 1000).toFixed(1)} mm, diameter ${(diameter * 1000).toFixed(0)} mm, fitness ${r.fitness.toFixed(3)}, ${r.runtimeMs.toFixed(0)} ms`,
    );
    expect(adds).toBeLessThan(0.1 * diameter);
    expect(te).toBeLessThan(maxTransErrM);
    expect(r.fitness).toBeGreaterThan(0.7);
  });

  it('box mode extents match the object size (shared YCB-V frame)', () => {
    const o = frame.objects.find((x) => x.name === '009_gelatin_box')!;
    const mask = frame.label.map((l) => (l === o.labelValue ? 1 : 0));
    const [inst] = extractInstances(frame, [{ label: 'box', mask }]);
    const r = estimateBoxPose(inst.cloud.points);
    expect(r.ok).toBe(true);
    // gelatin box is about 9 x 7 x 3 cm; only part of it is visible, so the box can only be smaller
    expect(r.ok && r.box!.extentM[0]).toBeLessThan(0.1);
    expect(r.ok && r.box!.extentM[0]).toBeGreaterThan(0.05);
  });
});

describe('pose pipeline (shared YCB-V frame)', () => {
  it('tracks the three objects over two frames with stable ids, model and box modes (shared YCB-V frame)', async () => {
    const frame = await loadYcbvFrame(DATA);
    const registry = new ModelRegistry();
    for (const o of frame.objects.slice(0, 2)) registry.register({ name: o.name, pointsM: o.modelPointsM });
    const pipe = new PosePipeline(registry, { instances: { minPoints: 1000 } });
    const masks = frame.objects.map((o) => ({
      label: o.name,
      mask: frame.label.map((l) => (l === o.labelValue ? 1 : 0)),
    }));
    const queries: Record<string, PoseQueryConfig> = {
      '009_gelatin_box': { mode: 'model', modelName: '009_gelatin_box' },
      '025_mug': { mode: 'model', modelName: 'not-registered' },
      '061_foam_brick': { mode: 'box' },
    };
    const f1 = pipe.process(frame, masks, queries);
    const f2 = pipe.process(frame, masks, queries);
    expect(f1).toHaveLength(3);
    for (const r of f1) expect(f2.find((x) => x.label === r.label)!.trackId).toBe(r.trackId);
    const gel = f2.find((r) => r.label === '009_gelatin_box')!;
    const gt = frame.objects[0];
    expect(gel.pose.ok).toBe(true);
    expect(gel.pose.ok && addsError(gel.pose.pose, gt.gt, gt.modelPointsM)).toBeLessThan(0.01);
    expect(gel.grasp).toBeDefined();
    const mug = f2.find((r) => r.label === '025_mug')!;
    expect(mug.pose.ok === false && mug.pose.reason).toBe('invalid-input');
    const brick = f2.find((r) => r.label === '061_foam_brick')!;
    expect(brick.pose.ok && brick.pose.source).toBe('box');
    expect(brick.grasp!.widthM).toBeGreaterThan(0.03);
    expect(brick.grasp!.widthM).toBeLessThan(0.08);
  });
});
