import { lookAt, makePose, rotZ } from './math';
import { generateScene } from './scene';
import { renderScene } from './render';
import { generateSequence } from './sequence';
import { SynthOptionError } from './errors';
import { SMALL_CAMERA } from './testutil';

const K = SMALL_CAMERA;

describe('synth determinism', () => {
  const opts = { seed: 11, numFrames: 2, camera: K, numObjects: 4 };
  test('same seed gives identical bytes, a different seed gives different images', () => {
    const a = generateSequence(opts);
    const b = generateSequence(opts);
    const c = generateSequence({ ...opts, seed: 12 });
    for (let i = 0; i < 2; i++) {
      expect(Buffer.from(a.frames[i].rgb.data).equals(Buffer.from(b.frames[i].rgb.data))).toBe(true);
      expect(Buffer.from(a.frames[i].depthMm.buffer).equals(Buffer.from(b.frames[i].depthMm.buffer))).toBe(
        true,
      );
      expect(
        Buffer.from(a.frames[i].instanceMask.buffer).equals(Buffer.from(b.frames[i].instanceMask.buffer)),
      ).toBe(true);
      expect(a.frames[i].stampNs).toBe(b.frames[i].stampNs);
    }
    expect(a.scene.objects.map((o) => o.captions[0])).toEqual(b.scene.objects.map((o) => o.captions[0]));
    expect(Buffer.from(a.frames[0].rgb.data).equals(Buffer.from(c.frames[0].rgb.data))).toBe(false);
    expect(Buffer.from(a.frames[0].depthMm.buffer).equals(Buffer.from(c.frames[0].depthMm.buffer))).toBe(
      false,
    );
  });

  test('sequence frames move the camera smoothly and report per-object ground truth', () => {
    const s = generateSequence({ seed: 5, numFrames: 12, camera: K, frameRateHz: 10 });
    expect(s.frames).toHaveLength(12);
    expect(s.frames[1].stampNs - s.frames[0].stampNs).toBe(100_000_000n);
    const step = Math.hypot(
      ...[0, 1, 2].map((k) => s.frames[1].camPoseWorld.tM[k] - s.frames[0].camPoseWorld.tM[k]),
    );
    expect(step).toBeGreaterThan(0.001);
    expect(step).toBeLessThan(0.1);
    const f = s.frames[0];
    expect(f.objects.length).toBe(s.scene.objects.length);
    for (const o of f.objects) {
      expect(o.captions[0]).toContain(o.category);
      expect(o.captions[0]).toContain(o.colour);
      expect(o.sizeM.every((v) => v > 0.01 && v < 0.5)).toBe(true);
      expect(o.poseCam.tM[2]).toBeGreaterThan(0.2); // in front of the camera
    }
    const total = f.objects.reduce((acc, o) => acc + o.pxCountVisib, 0);
    expect(total).toBe(f.instanceMask.reduce((acc, id) => acc + (id > 0 ? 1 : 0), 0));
  });

  test('bad options raise SynthOptionError naming the field', () => {
    expect(() => generateScene({ seed: 1.5 })).toThrow(SynthOptionError);
    expect(() => generateScene({ seed: 1, camera: { ...K, fx: -1 } })).toThrow(/camera\.fx/);
    expect(() => generateSequence({ seed: 1, numFrames: 0 })).toThrow(/numFrames/);
    const s = generateScene({ seed: 1, camera: K, numObjects: 1 });
    expect(() => renderScene(s, lookAt([0, -1, 1], [0, 0, 0]), { sensor: { edgeDropProb: 2 } })).toThrow(
      /sensor\.edgeDropProb/,
    );
  });
});

describe('synth depth sensor model', () => {
  test('drops pixels at depth edges but keeps the interior of a bright matte box', () => {
    const scene = generateScene({
      seed: 21,
      camera: K,
      room: false,
      objects: [
        {
          category: 'box',
          boxSizeM: [0.14, 0.1, 0.12],
          colour: 'white',
          texture: 'plain',
          poseWorld: makePose(rotZ(0.4), [0, 0, 0]),
        },
      ],
    });
    scene.objects[0].material.specular = 0;
    const cam = lookAt([0.3, -0.35, 0.3], [0, 0, 0.05]);
    const off = renderScene(scene, cam, { sensor: false });
    const on = renderScene(scene, cam, { sensor: { randomDropProb: 0 } });
    const W = K.width;
    const H = K.height;
    let edgeN = 0;
    let edgeMissing = 0;
    let inN = 0;
    let inMissing = 0;
    for (let v = 3; v < H - 3; v++) {
      for (let u = 3; u < W - 3; u++) {
        const i = v * W + u;
        if (off.instanceMask[i] !== 1) continue;
        expect(off.depthMm[i]).toBeGreaterThan(0);
        let nearEdge = false;
        let edge = false;
        for (let dv = -3; dv <= 3; dv++) {
          for (let du = -3; du <= 3; du++) {
            const j = i + dv * W + du;
            const jump = Math.abs(off.depthTrueM[j] - off.depthTrueM[i]) > 0.03 || off.depthTrueM[j] === 0;
            if (jump) nearEdge = true;
            if (jump && Math.abs(du) + Math.abs(dv) === 1) edge = true;
          }
        }
        if (edge) {
          edgeN++;
          if (on.depthMm[i] === 0) edgeMissing++;
        } else if (!nearEdge) {
          inN++;
          if (on.depthMm[i] === 0) inMissing++;
        }
      }
    }
    expect(edgeN).toBeGreaterThan(50);
    expect(inN).toBeGreaterThan(500);
    expect(edgeMissing / edgeN).toBeGreaterThan(0.6);
    expect(inMissing / inN).toBeLessThan(0.02);
  });

  test('drops pixels on a black surface', () => {
    const scene = generateScene({
      seed: 22,
      camera: K,
      table: false,
      room: false,
      objects: [{ category: 'box', boxSizeM: [0.3, 0.3, 0.05], colour: 'black', texture: 'plain' }],
    });
    scene.objects[0].material.specular = 0;
    const r = renderScene(scene, lookAt([0.001, 0, 0.5], [0, 0, 0.05]), {
      sensor: { randomDropProb: 0, edgeDropProb: 0 },
    });
    let n = 0;
    let missing = 0;
    for (let i = 0; i < r.instanceMask.length; i++) {
      if (r.instanceMask[i] !== 1) continue;
      n++;
      if (r.depthMm[i] === 0) missing++;
    }
    expect(n).toBeGreaterThan(1000);
    expect(missing / n).toBeGreaterThan(0.4);
  });

  test('depth noise grows with distance', () => {
    function noiseStdMm(distanceM: number): number {
      const scene = generateScene({
        seed: 23,
        camera: K,
        table: false,
        room: false,
        objects: [
          {
            category: 'box',
            boxSizeM: [4, 4, 0.02],
            colour: 'white',
            texture: 'plain',
            poseWorld: makePose([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, -0.02]),
          },
        ],
      });
      scene.objects[0].material.specular = 0;
      const r = renderScene(scene, lookAt([0.001, 0, distanceM], [0, 0, 0]), {
        sensor: { randomDropProb: 0 },
      });
      let n = 0;
      let s2 = 0;
      for (let i = 0; i < r.depthMm.length; i++) {
        if (r.depthMm[i] === 0 || r.depthTrueM[i] === 0) continue;
        const e = r.depthMm[i] - r.depthTrueM[i] * 1000;
        s2 += e * e;
        n++;
      }
      expect(n).toBeGreaterThan(10000);
      return Math.sqrt(s2 / n);
    }
    const near = noiseStdMm(0.5);
    const far = noiseStdMm(2.0);
    expect(near).toBeGreaterThan(0.3);
    expect(far).toBeGreaterThan(3 * near);
  });
});
