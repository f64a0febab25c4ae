import { GeometryInputError } from '../geometry/errors';
import type { CameraIntrinsics, Pose } from '../types';
import { SeededRng } from '../geometry/rng';
import { axisAngleToMat3, poseCompose, rotvecToMat3, transformPoints } from '../geometry/linalg';
import {
  asymmetricObject,
  boxSurface,
  curvedObject,
  fourierFeatures,
  randomPose,
  renderPoints,
} from '../geometry/testutil';
import {
  InstanceTracker,
  ModelRegistry,
  PosePipeline,
  anchorViewFromRecord,
  decodeAnchor,
  encodeAnchor,
  addError,
  addsError,
  canonicalizeSymmetricPose,
  estimateAnchorPose,
  estimateBoxPose,
  estimateModelPose,
  extractInstances,
  prepareObjectModel,
  rotationErrorDeg,
  topDownGrasp,
  translationErrorM,
  type Instance3D,
} from './index';

const CAM: CameraIntrinsics = { width: 160, height: 120, fx: 150, fy: 150, cx: 79.5, cy: 59.5 };
const CAM2: CameraIntrinsics = { width: 320, height: 240, fx: 300, fy: 300, cx: 159.5, cy: 119.5 };

describe('3D instances', () => {
  it('splits one mask into two instances (side by side, and in front/behind), drops small ones', () => {
    const w = CAM.width;
    const depth = new Float32Array(w * 120);
    const mask = new Uint8Array(w * 120);
    const score = new Float32Array(w * 120);
    for (let v = 20; v < 60; v++) {
      for (let u = 10; u < 70; u++) {
        // left half at 0.6 m, right half (touching in the image) at 0.9 m
        depth[v * w + u] = u < 40 ? 0.6 : 0.9;
        mask[v * w + u] = 1;
        score[v * w + u] = u < 40 ? 0.8 : 0.4;
      }
    }
    for (let v = 80; v < 110; v++) {
      for (let u = 100; u < 140; u++) {
        depth[v * w + u] = 0.7;
        mask[v * w + u] = 1;
        score[v * w + u] = 1;
      }
    }
    mask[5 * w + 5] = 1; // speck
    depth[5 * w + 5] = 0.5;
    const inst = extractInstances({ depthM: depth, camera: CAM }, [{ label: 'mug', mask, score }], {
      erodePx: 2,
    });
    expect(inst).toHaveLength(3);
    const byScore = inst.map((i) => i.meanMaskScore).sort();
    expect(byScore[0]).toBeCloseTo(0.4, 5);
    expect(byScore[1]).toBeCloseTo(0.8, 5);
    expect(byScore[2]).toBeCloseTo(1, 5);
    const front = inst.find((i) => Math.abs(i.meanMaskScore - 0.8) < 1e-6)!;
    expect(front.centroidM[2]).toBeCloseTo(0.6, 5);
    // mask eroded by 2 px (outer border only; the depth step splits the halves): columns 12..39 x rows 22..57
    expect(front.pointCount).toBe(28 * 36);
    expect(front.extentM[0]).toBeCloseTo((35 * 0.6) / 150, 3);
    expect(front.label).toBe('mug');
  });

  it('merges grid components closer than mergeDistanceM (a mug interior) but not objects 5 cm apart', () => {
    const w = CAM.width;
    const mk = (gapM: number) => {
      const depth = new Float32Array(w * 120);
      const mask = new Uint8Array(w * 120);
      for (let v = 20; v < 60; v++) {
        for (let u = 20; u < 100; u++) {
          depth[v * w + u] = u < 60 ? 0.6 : 0.6 + gapM;
          mask[v * w + u] = 1;
        }
      }
      return extractInstances({ depthM: depth, camera: CAM }, [{ label: 'x', mask }]).length;
    };
    expect(mk(0.018)).toBe(1); // a depth step of 1.8 cm: separate grid components, merged in 3D
    expect(mk(0.05)).toBe(2);
  });

  it('returns no instance for an empty mask or all-invalid depth', () => {
    const depth = new Float32Array(160 * 120).fill(NaN);
    const full = new Uint8Array(160 * 120).fill(1);
    expect(
      extractInstances({ depthM: depth, camera: CAM }, [{ label: 'a', mask: new Uint8Array(160 * 120) }]),
    ).toEqual([]);
    expect(extractInstances({ depthM: depth, camera: CAM }, [{ label: 'a', mask: full }])).toEqual([]);
  });
});

describe('box pose and grasp', () => {
  it('z faces the camera, x is the longest horizontal side, grasp closes across the short side', () => {
    const rng = new SeededRng(2);
    // box 0.2 x 0.06 x 0.1 standing on a table whose normal points to the camera (camera looks down at 45°)
    const table: Pose = {
      R: axisAngleToMat3([1, 0, 0], (-3 * Math.PI) / 4),
      tM: new Float64Array([0.05, 0, 0.8]),
    };
    const yaw = rotvecToMat3(0, 0, 0.4);
    const pose = poseCompose(table, { R: yaw, tM: new Float64Array([0, 0, 0.05]) });
    const pts = transformPoints(boxSurface(rng, 3000, 0.2, 0.06, 0.1), pose);
    const r = estimateBoxPose(pts, { supportNormal: [table.R[2], table.R[5], table.R[8]] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const zc = [r.pose.R[2], r.pose.R[5], r.pose.R[8]];
    expect(zc[0] * table.R[2] + zc[1] * table.R[5] + zc[2] * table.R[8]).toBeCloseTo(1, 3);
    expect(-(zc[0] * r.pose.tM[0] + zc[1] * r.pose.tM[1] + zc[2] * r.pose.tM[2])).toBeGreaterThan(0); // towards camera
    expect(Array.from(r.box!.extentM).map((e) => +e.toFixed(2))).toEqual([0.2, 0.06, 0.1]);
    const g = topDownGrasp(r.box!);
    expect(g.widthM).toBeCloseTo(0.06, 2);
    expect(g.feasible).toBe(true);
    // approach axis = -z of the box; grasp point 2 cm below the top face
    expect(g.pose.R[2] * zc[0] + g.pose.R[5] * zc[1] + g.pose.R[8] * zc[2]).toBeCloseTo(-1, 6);
    const top = [0, 1, 2].map((k) => pose.tM[k] + zc[k] * 0.05);
    expect(Math.hypot(...[0, 1, 2].map((k) => g.pose.tM[k] - (top[k] - zc[k] * 0.02)))).toBeLessThan(0.005);
    // without a support normal, +z is still the axis facing the camera
    const r2 = estimateBoxPose(pts);
    expect(r2.ok && r2.box!.extentM[0]).toBeCloseTo(0.2, 2);
  });

  it('reports typed no-pose results for empty, all-NaN and tiny inputs', () => {
    const e = estimateBoxPose(new Float32Array(0));
    expect(e.ok === false && e.reason).toBe('empty-input');
    const nan = estimateBoxPose(new Float32Array(30).fill(NaN));
    expect(nan.ok === false && nan.reason).toBe('empty-input');
    const tiny = estimateBoxPose(new Float32Array([0, 0, 1, 0, 0, 1.1]));
    expect(tiny.ok === false && tiny.reason).toBe('too-few-points');
  });
});

describe('model-mode pose (synthetic)', () => {
  const rng = new SeededRng(31);
  const model = prepareObjectModel({ name: 'duck', pointsM: curvedObject(rng, 5000) });

  it('recovers random poses of a partially visible object with noise (ADD-S < 0.1 diameter)', () => {
    let ok = 0;
    const trials = 12;
    const errs: number[][] = [];
    for (let t = 0; t < trials; t++) {
      const gt = { ...randomPose(rng, Math.PI, 0.05) };
      gt.tM[2] += 0.6;
      const { depthM, mask } = renderPoints(curvedObject(rng, 60000), gt, CAM2);
      for (let i = 0; i < depthM.length; i++) if (mask[i]) depthM[i] += 0.001 * rng.normal();
      const inst = extractInstances({ depthM, camera: CAM2 }, [{ label: 'L', mask }], {
        erodePx: 0,
        minPoints: 20,
      });
      const r = estimateModelPose(inst[0].cloud, model, { seed: t + 1 });
      if (r.ok && addsError(r.pose, gt, model.cloud.points) < 0.1 * model.diameterM) ok++;
      if (r.ok) errs.push([rotationErrorDeg(r.pose, gt), translationErrorM(r.pose, gt) * 1000]);
    }
    console.log(
      `model mode (synthetic): ${ok}/${trials} ok; rot° / t mm: ${errs.map((e) => e.map((x) => x.toFixed(1)).join('/')).join(', ')}`,
    );
    // measured: 12/12 (rotation error 0.2-3.5°, ADD-S 0.4-1.2% of the diameter)
    expect(ok).toBeGreaterThanOrEqual(trials - 1);
  });

  it('registers at the fine voxel when the view has too few points at the global voxel', () => {
    const r2 = new SeededRng(5);
    const pts = curvedObject(r2, 5000);
    // a global voxel of three diameters leaves one or two points: global registration must fall back
    const coarse = prepareObjectModel({ name: 'duck', pointsM: pts }, { globalVoxelM: 3 * model.diameterM });
    expect(coarse.global.voxelM).toBeGreaterThan(coarse.voxelM);
    const gt = { ...randomPose(r2, Math.PI, 0.02) };
    gt.tM[2] += 0.6;
    const r = estimateModelPose({ points: transformPoints(curvedObject(r2, 5000), gt) }, coarse, { seed: 3 });
    expect(r.ok).toBe(true);
    if (r.ok) expect(addsError(r.pose, gt, coarse.cloud.points)).toBeLessThan(0.1 * coarse.diameterM);
  });

  it('returns typed no-pose results for empty and degenerate clouds', () => {
    const e = estimateModelPose({ points: new Float32Array(0) }, model);
    expect(e.ok === false && e.reason).toBe('empty-input');
    const line = new Float32Array(300);
    for (let i = 0; i < 100; i++) line.set([i * 0.0001, 0, 0.5], 3 * i);
    const l = estimateModelPose({ points: line }, model);
    expect(l.ok).toBe(false);
    const bad = estimateModelPose({ points: new Float32Array(4) }, model);
    expect(bad.ok === false && bad.reason).toBe('invalid-input');
  });
});

describe('anchor-mode pose (synthetic views, Fourier test features)', () => {
  it('recovers the relative pose between two views for >= 90% of pairs', () => {
    const rng = new SeededRng(41);
    const obj = asymmetricObject(rng, 40000);
    const dim = 24;
    let ok = 0;
    const rotErr: number[] = [];
    const trials = 10;
    for (let t = 0; t < trials; t++) {
      const A = randomPose(rng, Math.PI, 0.03);
      A.tM[2] += 0.5;
      const rel = randomPose(rng, Math.PI / 4, 0.03);
      // the object turns about its own centre (up to 45°) and moves up to 3 cm: it stays in view
      const B: Pose = {
        R: poseCompose(rel, A).R,
        tM: new Float64Array([0, 1, 2].map((k) => A.tM[k] + rel.tM[k])),
      };
      const va = renderPoints(obj, A, CAM);
      const vb = renderPoints(obj, B, CAM);
      const feat = (v: ReturnType<typeof renderPoints>, ns: number) => ({
        data: fourierFeatures(v.objCoords, v.mask, dim, 5, 0.1, ns),
        gridH: CAM.height,
        gridW: CAM.width,
        dim,
      });
      const r = estimateAnchorPose(
        { depthM: va.depthM, camera: CAM, mask: va.mask, features: feat(va, 100 + t) },
        { depthM: vb.depthM, camera: CAM, mask: vb.mask, features: feat(vb, 200 + t) },
        A,
        { seed: t + 1 },
      );
      if (!r.ok) continue;
      rotErr.push(rotationErrorDeg(r.pose, B));
      if (rotationErrorDeg(r.pose, B) < 5 && translationErrorM(r.pose, B) < 0.01) ok++;
    }
    console.log(
      `anchor mode (synthetic): ${ok}/${trials} ok; rotation errors °: ${rotErr.map((e) => e.toFixed(2)).join(', ')}`,
    );
    expect(ok).toBeGreaterThanOrEqual(9);
  });

  it.each([
    [8, 'cell'],
    [16, 'bilinear'],
  ] as const)(
    'works on a coarse patch grid (%i px cells, mean-pooled 64-D features, %s sampling)',
    (cell, mode) => {
      const rng = new SeededRng(43);
      const obj = asymmetricObject(rng, 60000);
      const dim = 64;
      const pool = (full: Float32Array, mask: Uint8Array, w: number, h: number) => {
        const gw = w / cell;
        const gh = h / cell;
        const out = new Float32Array(gw * gh * dim);
        for (let gy = 0; gy < gh; gy++) {
          for (let gx = 0; gx < gw; gx++) {
            let c = 0;
            const o = (gy * gw + gx) * dim;
            for (let v = gy * cell; v < (gy + 1) * cell; v++) {
              for (let u = gx * cell; u < (gx + 1) * cell; u++) {
                if (!mask[v * w + u]) continue;
                c++;
                for (let k = 0; k < dim; k++) out[o + k] += full[(v * w + u) * dim + k];
              }
            }
            if (c) for (let k = 0; k < dim; k++) out[o + k] /= c;
          }
        }
        return { data: out, gridH: gh, gridW: gw, dim };
      };
      let ok = 0;
      const trials = 4;
      for (let t = 0; t < trials; t++) {
        const A = randomPose(rng, Math.PI, 0.03);
        A.tM[2] += 0.45;
        const rel = randomPose(rng, Math.PI / 6, 0.02);
        const B: Pose = {
          R: poseCompose(rel, A).R,
          tM: new Float64Array([0, 1, 2].map((k) => A.tM[k] + rel.tM[k])),
        };
        const va = renderPoints(obj, A, CAM2);
        const vb = renderPoints(obj, B, CAM2);
        const fa = pool(fourierFeatures(va.objCoords, va.mask, dim, 9, 0.05, 300 + t, 25), va.mask, 320, 240);
        const fb = pool(fourierFeatures(vb.objCoords, vb.mask, dim, 9, 0.05, 400 + t, 25), vb.mask, 320, 240);
        const r = estimateAnchorPose(
          { depthM: va.depthM, camera: CAM2, mask: va.mask, features: fa },
          { depthM: vb.depthM, camera: CAM2, mask: vb.mask, features: fb },
          A,
          { seed: t + 1, coarseSampling: mode },
        );
        if (r.ok && rotationErrorDeg(r.pose, B) < 5 && translationErrorM(r.pose, B) < 0.01) ok++;
      }
      expect(ok).toBeGreaterThanOrEqual(trials - 1);
    },
  );

  it('returns too-few-correspondences / invalid-input instead of throwing', () => {
    const z = new Float32Array(CAM.width * CAM.height);
    const feats = {
      data: new Float32Array(CAM.width * CAM.height * 4),
      gridH: CAM.height,
      gridW: CAM.width,
      dim: 4,
    };
    const view = { depthM: z, camera: CAM, mask: new Uint8Array(z.length), features: feats };
    const r = estimateAnchorPose(view, view);
    expect(r.ok === false && r.reason).toBe('empty-input');
    const bad = estimateAnchorPose(view, { ...view, features: { ...feats, dim: 5 } });
    expect(bad.ok === false && bad.reason).toBe('invalid-input');
    const wrong = estimateAnchorPose(
      { ...view, features: { ...feats, gridH: 7 } },
      { ...view, features: { ...feats, gridH: 7 } },
    );
    expect(wrong.ok === false && wrong.reason).toBe('invalid-input');
  });
});

describe('metrics and symmetries', () => {
  it('ADD is 0 for the exact pose; ADD-S forgives a symmetry flip that ADD does not', () => {
    const rng = new SeededRng(51);
    const pts = boxSurface(rng, 2000, 0.1, 0.06, 0.04);
    const gt: Pose = randomPose(rng, Math.PI, 0.1);
    expect(addError(gt, gt, pts)).toBeCloseTo(0, 12);
    const flip = poseCompose(gt, { R: rotvecToMat3(0, 0, Math.PI), tM: new Float64Array(3) });
    expect(addError(flip, gt, pts)).toBeGreaterThan(0.02);
    expect(addsError(flip, gt, pts)).toBeLessThan(0.004);
    const sym = { discrete: [{ R: Array.from(rotvecToMat3(0, 0, Math.PI)) }] };
    const canon = canonicalizeSymmetricPose(flip, sym, gt);
    expect(rotationErrorDeg(canon, gt)).toBeLessThan(1e-6);
  });
});

describe('tracking', () => {
  const inst = (label: string, x: number): Instance3D => ({
    label,
    cloud: { points: new Float32Array(0) },
    pixelIndices: new Uint32Array(0),
    centroidM: new Float64Array([x, 0, 1]),
    box: {
      center: new Float64Array([x, 0, 1]),
      R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]),
      extentM: new Float64Array([0.1, 0.1, 0.1]),
    },
    extentM: new Float64Array([0.1, 0.1, 0.1]),
    pointCount: 100,
    meanMaskScore: 1,
  });

  it('keeps ids stable under motion, separates labels, smooths and expires tracks', () => {
    const tr = new InstanceTracker({ maxDistanceM: 0.05, maxMissed: 2, smoothing: 0.5 });
    const f1 = tr.update([
      { instance: inst('mug', 0) },
      { instance: inst('mug', 0.3) },
      { instance: inst('box', 0.01) },
    ]);
    const idOf = (ts: typeof f1, label: string, x: number) =>
      ts.find((t) => t.label === label && Math.abs(t.instance.centroidM[0] - x) < 1e-9)!.id;
    const a = idOf(f1, 'mug', 0);
    const b = idOf(f1, 'mug', 0.3);
    const c = idOf(f1, 'box', 0.01);
    expect(new Set([a, b, c]).size).toBe(3);
    const f2 = tr.update([
      { instance: inst('mug', 0.32) },
      { instance: inst('mug', 0.02) },
      { instance: inst('box', 0.01) },
    ]);
    expect(idOf(f2, 'mug', 0.02)).toBe(a);
    expect(idOf(f2, 'mug', 0.32)).toBe(b);
    expect(f2.find((t) => t.id === a)!.centroidM[0]).toBeCloseTo(0.01, 9); // 0.5 * 0 + 0.5 * 0.02
    // mug b disappears for 3 frames -> expired; a new mug far away gets a new id
    tr.update([{ instance: inst('mug', 0.02) }]);
    tr.update([{ instance: inst('mug', 0.02) }]);
    const f5 = tr.update([{ instance: inst('mug', 0.02) }, { instance: inst('mug', 0.6) }]);
    expect(f5.some((t) => t.id === b)).toBe(false);
    expect(f5.some((t) => t.id === c)).toBe(false);
    expect(idOf(f5, 'mug', 0.6)).toBeGreaterThan(c);
  });

  it('smooths poses by slerp', () => {
    const tr = new InstanceTracker({ smoothing: 0.5 });
    const I = { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array([0, 0, 1]) };
    tr.update([{ instance: inst('a', 0), pose: I }]);
    const p2 = { R: rotvecToMat3(0, 0, 0.4), tM: new Float64Array([0.02, 0, 1]) };
    const [t] = tr.update([{ instance: inst('a', 0.02), pose: p2 }]);
    expect(rotationErrorDeg(t.pose!, { R: rotvecToMat3(0, 0, 0.2), tM: p2.tM })).toBeLessThan(1e-6);
    expect(t.pose!.tM[0]).toBeCloseTo(0.01, 9);
  });

  it('replaces instead of averaging when the rotation jumps (a symmetric flip)', () => {
    const tr = new InstanceTracker({ smoothing: 0.5 });
    const I = { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array([0, 0, 1]) };
    tr.update([{ instance: inst('a', 0), pose: I }]);
    const flip = { R: rotvecToMat3(Math.PI, 0, 0), tM: new Float64Array([0, 0.09, 1]) };
    const [t] = tr.update([{ instance: inst('a', 0.01), pose: flip }]);
    expect(rotationErrorDeg(t.pose!, flip)).toBeLessThan(1e-9);
    expect(t.pose!.tM[1]).toBe(0.09);
  });
});

describe('anchor files', () => {
  it('round-trips an anchor record exactly and rejects corrupt files', () => {
    const rng = new SeededRng(77);
    const cam: CameraIntrinsics = {
      width: 8,
      height: 6,
      fx: 10,
      fy: 10,
      cx: 3.5,
      cy: 2.5,
      d: [0.1, 0, 0, 0, 0],
    };
    const rec = {
      label: 'red mug',
      camera: cam,
      pose: randomPose(rng),
      depthM: new Float32Array(48).map(() => rng.next()),
      mask: new Uint8Array(48).map(() => (rng.next() > 0.5 ? 1 : 0)),
      features: { data: new Float32Array(3 * 4 * 5).map(() => rng.normal()), gridH: 3, gridW: 4, dim: 5 },
    };
    const bytes = encodeAnchor(rec);
    const back = decodeAnchor(bytes);
    expect(back.label).toBe('red mug');
    expect(back.camera).toEqual(cam);
    expect(Array.from(back.pose.R)).toEqual(Array.from(rec.pose.R));
    expect(Array.from(back.depthM)).toEqual(Array.from(rec.depthM));
    expect(Array.from(back.mask)).toEqual(Array.from(rec.mask));
    expect(Array.from(back.features.data)).toEqual(Array.from(rec.features.data));
    expect(anchorViewFromRecord(back).features.dim).toBe(5);
    expect(() => decodeAnchor(bytes.subarray(0, bytes.length - 1))).toThrow(/size/);
    expect(() => decodeAnchor(new Uint8Array(20))).toThrow(/magic/);
    // a damaged header is a typed error naming the file part, never a raw SyntaxError
    const badJson = Uint8Array.from(bytes);
    badJson[12] = 0x7b + 1;
    expect(() => decodeAnchor(badJson)).toThrow(GeometryInputError);
    expect(() => decodeAnchor(badJson)).toThrow(/header is not valid JSON/);
    const longHead = Uint8Array.from(bytes);
    new DataView(longHead.buffer).setUint32(8, 1e9, true);
    expect(() => decodeAnchor(longHead)).toThrow(/runs past the end/);
  });
});

describe('pose pipeline (synthetic)', () => {
  it('anchor mode through PosePipeline: stored anchor + query features -> query pose; box mode grasp', () => {
    const rng = new SeededRng(91);
    const obj = asymmetricObject(rng, 40000);
    const dim = 24;
    const A = randomPose(rng, Math.PI, 0.02);
    A.tM[2] += 0.5;
    const rel = randomPose(rng, Math.PI / 6, 0.02);
    const B: Pose = {
      R: poseCompose(rel, A).R,
      tM: new Float64Array([0, 1, 2].map((k) => A.tM[k] + rel.tM[k])),
    };
    const va = renderPoints(obj, A, CAM);
    const vb = renderPoints(obj, B, CAM);
    const feats = (v: ReturnType<typeof renderPoints>, ns: number) => ({
      data: fourierFeatures(v.objCoords, v.mask, dim, 5, 0.1, ns),
      gridH: CAM.height,
      gridW: CAM.width,
      dim,
    });
    const anchor = decodeAnchor(
      encodeAnchor({
        label: 'thing',
        camera: CAM,
        pose: A,
        depthM: va.depthM,
        mask: va.mask,
        features: feats(va, 1),
      }),
    );
    const pipe = new PosePipeline(new ModelRegistry(), { instances: { erodePx: 1, minPoints: 20 } });
    const out = pipe.process(
      { depthM: vb.depthM, camera: CAM, features: feats(vb, 2) },
      [{ label: 'thing', mask: vb.mask }],
      {
        thing: { mode: 'anchor', anchor },
      },
    );
    expect(out).toHaveLength(1);
    const r = out[0].pose;
    expect(r.ok && r.source).toBe('anchor');
    expect(r.ok && rotationErrorDeg(r.pose, B)).toBeLessThan(5);
    expect(r.ok && translationErrorM(r.pose, B)).toBeLessThan(0.01);
    // the same instance in box mode gets a grasp; without features anchor mode is a typed failure
    const box = pipe.process({ depthM: vb.depthM, camera: CAM }, [{ label: 'thing', mask: vb.mask }], {
      thing: { mode: 'box' },
    });
    expect(box[0].trackId).toBe(out[0].trackId);
    expect(box[0].grasp).toBeDefined();
    const nf = pipe.process({ depthM: vb.depthM, camera: CAM }, [{ label: 'thing', mask: vb.mask }], {
      thing: { mode: 'anchor', anchor },
    });
    expect(nf[0].pose.ok === false && nf[0].pose.reason).toBe('invalid-input');
  });
});
