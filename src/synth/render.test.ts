import { composePose, invertPose, lookAt, makePose, rotZ, type Vec3 } from './math';
import { generateScene } from './scene';
import { renderScene, renderSilhouette } from './render';
import {
  convexHull,
  convexPolygonMask,
  maskIou,
  polygonArea,
  projectVertices,
  SMALL_CAMERA,
} from './testutil';
import type { Pose } from '../types';

const K = SMALL_CAMERA;

/** Camera-z depth of the ray through pixel (u, v) hitting an axis-aligned box (object frame), or NaN. */
function rayBoxDepth(camFromObj: Pose, lo: Vec3, hi: Vec3, u: number, v: number): number {
  const objFromCam = invertPose(camFromObj);
  const d = [(u - K.cx) / K.fx, (v - K.cy) / K.fy, 1];
  const R = objFromCam.R;
  const o = objFromCam.tM;
  const dir = [0, 1, 2].map((i) => R[3 * i] * d[0] + R[3 * i + 1] * d[1] + R[3 * i + 2] * d[2]);
  let t0 = -Infinity;
  let t1 = Infinity;
  for (let k = 0; k < 3; k++) {
    if (Math.abs(dir[k]) < 1e-15) {
      if (o[k] < lo[k] || o[k] > hi[k]) return NaN;
      continue;
    }
    const a = (lo[k] - o[k]) / dir[k];
    const b = (hi[k] - o[k]) / dir[k];
    t0 = Math.max(t0, Math.min(a, b));
    t1 = Math.min(t1, Math.max(a, b));
  }
  return t0 <= t1 && t0 > 0 ? t0 : NaN; // ray camera-z component is 1, so t is camera z
}

function boxScene(sizeM: Vec3, yaw: number, table = false) {
  return generateScene({
    seed: 3,
    camera: K,
    table,
    room: false,
    objects: [
      {
        category: 'box',
        boxSizeM: sizeM,
        colour: 'white',
        texture: 'plain',
        poseWorld: makePose(rotZ(yaw), [0.02, -0.01, 0]),
      },
    ],
  });
}

describe('synth renderer geometry (noise off)', () => {
  const size: Vec3 = [0.12, 0.08, 0.1];
  const scene = boxScene(size, 0.5);
  const cam = lookAt([0.35, -0.3, 0.32], [0, 0, 0.04]);
  const r = renderScene(scene, cam, { sensor: false });
  const poseCam = composePose(invertPose(cam), scene.objects[0].poseWorld);

  test('rendered box depth equals the analytic ray-plane depth to < 1 mm', () => {
    let n = 0;
    let worst = 0;
    for (let v = 0; v < K.height; v++) {
      for (let u = 0; u < K.width; u++) {
        const i = v * K.width + u;
        if (r.instanceMask[i] !== 1) continue;
        const z = rayBoxDepth(
          poseCam,
          [-size[0] / 2, -size[1] / 2, 0],
          [size[0] / 2, size[1] / 2, size[2]],
          u,
          v,
        );
        if (Number.isNaN(z)) continue; // grazing ray exactly on the silhouette
        n++;
        worst = Math.max(worst, Math.abs(r.depthMm[i] - z * 1000), Math.abs(r.depthTrueM[i] - z) * 1000);
      }
    }
    expect(n).toBeGreaterThan(1000);
    expect(worst).toBeLessThan(1);
  });

  test('table plane depth matches the analytic plane z = 0 to < 1 mm', () => {
    const s = generateScene({ seed: 4, camera: K, room: false, objects: [] });
    const c = lookAt([0.1, -0.5, 0.6], [0, 0, 0]);
    const rr = renderScene(s, c, { sensor: false });
    const worldFromCam = c;
    let n = 0;
    let worst = 0;
    for (let v = 0; v < K.height; v++) {
      for (let u = 0; u < K.width; u++) {
        const i = v * K.width + u;
        // Ray in world: origin eye, direction R * [x, y, 1]; hits z = 0 at t = -eye_z / dir_z (camera z = t).
        const d = [(u - K.cx) / K.fx, (v - K.cy) / K.fy, 1];
        const R = worldFromCam.R;
        const dz = R[6] * d[0] + R[7] * d[1] + R[8] * d[2];
        const t = -worldFromCam.tM[2] / dz;
        const px = worldFromCam.tM[0] + t * (R[0] * d[0] + R[1] * d[1] + R[2] * d[2]);
        const py = worldFromCam.tM[1] + t * (R[3] * d[0] + R[4] * d[1] + R[5] * d[2]);
        const [hx, hy] = [s.environment.tableSizeM[0] / 2 - 0.01, s.environment.tableSizeM[1] / 2 - 0.01];
        if (!(t > 0) || Math.abs(px) > hx || Math.abs(py) > hy) continue;
        n++;
        worst = Math.max(worst, Math.abs(rr.depthMm[i] - t * 1000));
      }
    }
    expect(n).toBeGreaterThan(5000);
    expect(worst).toBeLessThan(1);
  });

  test('mask area equals the analytic projection (convex hull of projected corners) within 2%', () => {
    const hull = convexHull(projectVertices(scene.objects[0].mesh, poseCam, K));
    const area = polygonArea(hull);
    const count = r.objects[0].pxCountVisib;
    expect(area).toBeGreaterThan(1000);
    expect(Math.abs(count - area) / area).toBeLessThan(0.02);
  });

  test('projected GT pose + mesh aligns with the instance mask (IoU > 0.95) for a box and a can', () => {
    const s = generateScene({
      seed: 9,
      camera: K,
      room: false,
      objects: [
        { category: 'box', boxSizeM: [0.09, 0.06, 0.07], poseWorld: makePose(rotZ(1.1), [-0.08, 0.02, 0]) },
        { category: 'can', poseWorld: makePose(rotZ(0.3), [0.1, 0.0, 0]) },
      ],
    });
    const c = lookAt([0.0, -0.45, 0.35], [0, 0, 0.03]);
    const rr = renderScene(s, c, { sensor: false });
    for (const o of s.objects) {
      const pc = composePose(invertPose(c), o.poseWorld);
      const hull = convexHull(projectVertices(o.mesh, pc, K));
      const analytic = convexPolygonMask(hull, K.width, K.height);
      const mask = Uint8Array.from(rr.instanceMask, (id) => (id === o.instanceId ? 1 : 0));
      expect(rr.objects[o.instanceId - 1].pxCountVisib).toBeGreaterThan(300);
      expect(maskIou(analytic, mask)).toBeGreaterThan(0.95);
      // The pose reported by the renderer is the GT pose used here.
      expect(Array.from(rr.objects[o.instanceId - 1].poseCam.tM)).toEqual(Array.from(pc.tM));
      // Amodal silhouette of the unoccluded object equals the visible mask.
      expect(maskIou(renderSilhouette(o.mesh, pc, K).mask, mask)).toBeGreaterThan(0.99);
    }
  });

  test('object coordinates of visible pixels lie on the box surface', () => {
    let off = 0;
    let n = 0;
    for (let i = 0; i < r.instanceMask.length; i++) {
      if (r.instanceMask[i] !== 1) continue;
      n++;
      const x = r.objectCoordsM[3 * i];
      const y = r.objectCoordsM[3 * i + 1];
      const z = r.objectCoordsM[3 * i + 2];
      const dFace = Math.min(
        Math.abs(Math.abs(x) - size[0] / 2),
        Math.abs(Math.abs(y) - size[1] / 2),
        Math.abs(z - size[2]),
        Math.abs(z),
      );
      if (dFace > 1e-4) off++;
    }
    expect(n).toBeGreaterThan(1000);
    expect(off).toBe(0);
  });
});
