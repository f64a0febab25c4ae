import { EVAL_SMALL_CAMERA, synthEvalSequences } from './fixtures';

/** Share of non-object pixels with rendered depth (table, floor, walls). */
function backgroundWithDepth(seq: ReturnType<typeof synthEvalSequences>[number]): number {
  const f = seq.frames[0];
  let bg = 0;
  let withDepth = 0;
  for (let i = 0; i < f.instanceMask.length; i++) {
    if (f.instanceMask[i]) continue;
    bg++;
    if (f.depthTrueM[i] > 0) withDepth++;
  }
  return withDepth / bg;
}

describe('synthEvalSequences', () => {
  it("default: no table/room, saturated colours, flat light; world: the model's world at training distances", () => {
    const plain = synthEvalSequences({ scenes: 2, framesPerScene: 1 });
    const world = synthEvalSequences({ scenes: 2, framesPerScene: 1, world: true });
    for (const s of plain) {
      expect(backgroundWithDepth(s)).toBe(0);
      expect(s.scene.ambient).toBe(1.1);
      expect(s.scene.objects.find((o) => o.category === 'mug')?.material.rgb).toEqual([235, 30, 30]);
    }
    for (const s of world) {
      expect(backgroundWithDepth(s)).toBeGreaterThan(0.9);
      expect(s.scene.ambient).toBeGreaterThanOrEqual(0.3);
      expect(s.scene.ambient).toBeLessThanOrEqual(0.45);
      expect(s.scene.objects.find((o) => o.category === 'mug')?.material.rgb).not.toEqual([235, 30, 30]);
      const t = s.frames[0].camPoseWorld.tM;
      const dist = Math.hypot(t[0], t[1], t[2] - 0.04);
      expect(dist).toBeGreaterThanOrEqual(0.7);
      expect(dist).toBeLessThanOrEqual(1.15);
      // the same three objects, all visible
      expect(s.frames[0].objects.map((o) => `${o.colour} ${o.category}`)).toEqual([
        'red mug',
        'blue bottle',
        'green bowl',
      ]);
      for (const o of s.frames[0].objects) expect(o.pxCountVisib).toBeGreaterThan(20);
    }
  });

  it('the seed changes the scenes (scene s uses seed + 1000 s) and the camera sets the image size', () => {
    const cam = { ...EVAL_SMALL_CAMERA, width: 80, height: 60, fx: 37, fy: 37, cx: 40, cy: 30 };
    const a = synthEvalSequences({ scenes: 2, framesPerScene: 1, seed: 11, camera: cam, world: true });
    const b = synthEvalSequences({ scenes: 2, framesPerScene: 1, seed: 12, camera: cam, world: true });
    expect(a.map((s) => s.scene.seed)).toEqual([11, 1011]);
    expect(a[0].frames[0].rgb.width).toBe(80);
    expect(a[0].frames[0].rgb.height).toBe(60);
    expect(
      Buffer.compare(Buffer.from(a[0].frames[0].rgb.data), Buffer.from(b[0].frames[0].rgb.data)),
    ).not.toBe(0);
  });
});
