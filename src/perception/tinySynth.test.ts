/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * The embedded default model (models/tiny-synth, trained by `npm run train:default`) loads in the runtime and
 * segments "COLOUR CATEGORY" queries on a rendered synthetic frame it never saw (an evaluation scene seed).
 * Thresholds come from the measured numbers in models/tiny-synth/REPORT.md, with a margin.
 */
import * as path from 'path';
import { randomCameraPose, renderScene } from '../synth';
import { evalScene, scaledIntrinsics } from '../training/synthData';
import { maskIou } from '../training/synthDataEval';
import { Perceiver } from './perceiver';

const MODEL = path.resolve(__dirname, '../../models/tiny-synth');
/**
 * Evaluation scene 9_000_005 of synthData.ts (never a training scene), one 640x480 view. Measured at commit time
 * (models/tiny-synth v0.1.0): IoU of "green bowl" 0.21; mean "green can" / "green bowl" score on their own pixels
 * 0.67 / 0.82 vs 0.24 / 0.12 on the other objects; 3 of the 6 queries score higher on their object than on the
 * others. The model is weak (see REPORT.md: mIoU 0.04 over the eval split); these checks guard what it does do.
 */
const SCENE_SEED = 9_000_005;

describe('models/tiny-synth', () => {
  let p: Perceiver;
  beforeAll(async () => {
    p = await Perceiver.load(MODEL, {
      device: 'cpu',
      logger: { info: () => undefined, warn: () => undefined },
    });
  });
  afterAll(async () => {
    await p?.release();
  });

  test('is a declip-csa package with a word tokenizer and provenance', () => {
    const m = p.manifest;
    expect(m.name).toBe('tiny-synth');
    expect(m.architecture).toBe('declip-csa');
    expect(m.tokenizer.type).toBe('word');
    expect(m.provenance.data_seed).toBe(0);
    expect(typeof m.provenance.command).toBe('string');
    expect(String(m.provenance.source)).toMatch(/NOT DeCLIP quality/);
  });

  test('"colour category" queries on an unseen synthetic frame score their own objects highest', async () => {
    const camera = scaledIntrinsics(640, 480);
    const scene = evalScene(SCENE_SEED, camera);
    const r = renderScene(scene, randomCameraPose(scene, 1000), { sensor: false, camera });
    const labels = Uint8Array.from(r.instanceMask, (v) => Math.min(v, 199));
    const stats = new Map<string, { iou: number; own: number; other: number }>();
    for (const o of scene.objects) {
      if (r.objects[o.instanceId - 1].pxCountVisib < 300) continue;
      const q = `${o.material.colour} ${o.category}`;
      const res = await p.segment(r.rgb, [q]);
      const s = res.scoreMaps[0];
      let own = 0;
      let nOwn = 0;
      let other = 0;
      let nOther = 0;
      for (let i = 0; i < s.length; i++) {
        if (labels[i] === o.instanceId) {
          own += s[i];
          nOwn++;
        } else if (labels[i] > 0) {
          other += s[i];
          nOther++;
        }
      }
      stats.set(q, {
        iou: maskIou(res.masks[0], labels, o.instanceId).iou,
        own: own / nOwn,
        other: other / nOther,
      });
    }
    expect([...stats.keys()].sort()).toEqual(
      ['cyan mug', 'green bowl', 'green can', 'orange laptop', 'purple camera', 'white bottle'].sort(),
    );
    // the committed package on this frame: purple camera (a held-out pair) IoU 0.74, green bowl 0.66, cyan mug
    // 0.28, orange laptop 0.25, green can and white bottle 0
    const v = [...stats.values()];
    expect(v.filter((x) => x.iou > 0.5).length).toBeGreaterThanOrEqual(2);
    expect(v.reduce((a, x) => a + x.iou, 0) / v.length).toBeGreaterThan(0.2);
    expect(stats.get('purple camera')!.iou).toBeGreaterThan(0.5);
    expect(v.filter((x) => x.own > x.other).length).toBeGreaterThanOrEqual(4);
    expect(v.filter((x) => x.own > 2 * x.other).length).toBeGreaterThanOrEqual(3);
  });
});
