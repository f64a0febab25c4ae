import * as fs from 'fs';
import * as path from 'path';
import { computeDiameter } from '../geometry/pointcloud';
import {
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
