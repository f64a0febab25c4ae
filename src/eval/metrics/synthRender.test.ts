import type { CameraIntrinsics } from '../../types';
import { boxMesh } from '../../synth/mesh';
import { synthRenderDepth } from './synthRender';
import { cus, vsd } from './vsd';
import { makePose } from './linalg';

// 40x40 camera: the 0.4 m front face at z = 0.9 m spans 0.4 / 0.9 * 40 = 17.8 px.
const cam: CameraIntrinsics = { width: 40, height: 40, fx: 40, fy: 40, cx: 19.5, cy: 19.5 };
const box = boxMesh(-0.2, 0.2, -0.2, 0.2, -0.1, 0.1);
const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const gt = makePose(I, [0, 0, 1]);

describe('VSD with the src/synth rasterizer', () => {
  test('renders the front face at z = 0.9 m over about 18 x 18 px', () => {
    const d = synthRenderDepth(box, gt, cam);
    expect(d[20 * 40 + 20]).toBeCloseTo(0.9, 5);
    const n = d.reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
    expect(n).toBeGreaterThanOrEqual(17 * 17);
    expect(n).toBeLessThanOrEqual(19 * 19);
    expect(d[0]).toBe(0);
  });

  test('GT estimate: VSD 0; 4 px lateral shift: VSD and CUS close to the analytic 8.9/22.2 column share', () => {
    const test = synthRenderDepth(box, gt, cam);
    expect(vsd(gt, gt, test, cam, box, synthRenderDepth, { diameterM: 0.6 })).toEqual(Array(10).fill(0));
    const est = makePose(I, [0.1, 0, 1]);
    // silhouettes of ~17.8 columns shifted by ~4.44 px (0.1 m at z = 0.9): union ~22.2, inter ~13.3 -> ~0.4
    const e = vsd(est, gt, test, cam, box, synthRenderDepth, { diameterM: 0.6 });
    for (const x of e) expect(x).toBeGreaterThan(0.35);
    for (const x of e) expect(x).toBeLessThan(0.5);
    const c = cus(est, gt, cam, box, synthRenderDepth);
    expect(Math.abs(c - e[9])).toBeLessThan(0.05);
  });
});
