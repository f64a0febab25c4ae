/** Renders a SynthScene from a camera pose: RGB, depth (mm, sensor model), instance mask, object coordinates. */
import type { CameraIntrinsics, Pose, RgbImage } from '../types';
import { SynthOptionError } from './errors';
import type { Material } from './materials';
import { composePose, identityPose, invertPose, type Vec3 } from './math';
import { boxMesh, mergeMeshes, type Mesh } from './mesh';
import { createTarget, drawMesh, type RasterTarget, type Shade } from './raster';
import { hashSeed, Rng } from './rng';
import { checkIntrinsics, type SynthObject, type SynthScene } from './scene';
import { applySensorModel, quantiseDepthMm, type SensorOptions } from './sensor';

/** Options of renderScene. */
export interface RenderOptions {
  /** Sensor model parameters, or false for exact depth (rounded to mm). Default: sensor on with defaults. */
  sensor?: SensorOptions | false;
  /** Seed of the sensor noise (default derived from the scene seed and `frameIndex`). */
  sensorSeed?: number;
  /** Frame index (only feeds the default sensor seed). */
  frameIndex?: number;
  /** Intrinsics override (default scene.camera). */
  camera?: CameraIntrinsics;
}

/** Per-object result of a render. */
export interface RenderedObject {
  instanceId: number;
  /** Object -> camera. */
  poseCam: Pose;
  /** Visible pixels (instance mask count). */
  pxCountVisib: number;
  /** Visible pixels with valid depth. */
  pxCountValid: number;
  /** Bounding box of the visible pixels [x, y, w, h] (all 0 when invisible). */
  bboxVisib: [number, number, number, number];
}

/** Output of renderScene. */
export interface RenderResult {
  camera: CameraIntrinsics;
  /** Camera -> world. */
  camPoseWorld: Pose;
  rgb: RgbImage;
  /** Depth in millimetres after the sensor model, 0 = invalid. */
  depthMm: Uint16Array;
  /** Exact camera z in metres (0 = nothing seen). */
  depthTrueM: Float32Array;
  /** 0 = background/table/room, 1..n = SynthObject.instanceId. */
  instanceMask: Uint16Array;
  /** Object-frame coordinates (metres) of the visible object surface, 3 per pixel (0 where the mask is 0). */
  objectCoordsM: Float32Array;
  objects: RenderedObject[];
}

const IDENT = identityPose();

interface EnvGeometry {
  table: Mesh | null;
  floor: Mesh | null;
  walls: Mesh | null;
}

const envCache = new WeakMap<SynthScene, EnvGeometry>();

function quad(p: Vec3[]): Mesh {
  return { positionsM: Float32Array.from(p.flat()), indices: Uint32Array.from([0, 1, 2, 0, 2, 3]) };
}

function envGeometry(scene: SynthScene): EnvGeometry {
  const cached = envCache.get(scene);
  if (cached) return cached;
  const e = scene.environment;
  let table: Mesh | null = null;
  if (e.tableSizeM[0] > 0 && e.tableSizeM[1] > 0) {
    const hx = e.tableSizeM[0] / 2;
    const hy = e.tableSizeM[1] / 2;
    const legs: Mesh[] = [];
    for (const sx of [-1, 1]) {
      for (const sy of [-1, 1]) {
        const x = sx * (hx - 0.06);
        const y = sy * (hy - 0.06);
        legs.push(boxMesh(x - 0.025, x + 0.025, y - 0.025, y + 0.025, -e.tableHeightM, -0.03));
      }
    }
    table = mergeMeshes(boxMesh(-hx, hx, -hy, hy, -0.03, 0), ...legs);
  }
  let floor: Mesh | null = null;
  let walls: Mesh | null = null;
  if (e.roomHalfM > 0) {
    const r = e.roomHalfM;
    const zf = -e.tableHeightM;
    const zt = zf + e.roomHeightM;
    floor = quad([
      [-r, -r, zf],
      [r, -r, zf],
      [r, r, zf],
      [-r, r, zf],
    ]);
    walls = mergeMeshes(
      quad([
        [-r, -r, zf],
        [r, -r, zf],
        [r, -r, zt],
        [-r, -r, zt],
      ]),
      quad([
        [r, -r, zf],
        [r, r, zf],
        [r, r, zt],
        [r, -r, zt],
      ]),
      quad([
        [r, r, zf],
        [-r, r, zf],
        [-r, r, zt],
        [r, r, zt],
      ]),
      quad([
        [-r, r, zf],
        [-r, -r, zf],
        [-r, -r, zt],
        [-r, r, zt],
      ]),
      quad([
        [-r, -r, zt],
        [r, -r, zt],
        [r, r, zt],
        [-r, r, zt],
      ]),
    );
  }
  const g = { table, floor, walls };
  envCache.set(scene, g);
  return g;
}

function plainMaterial(
  rgb: [number, number, number],
  texture: Material['texture'] = 'plain',
  periodM = 0.5,
): Material {
  return {
    colour: 'grey',
    rgb,
    secondaryColour: 'grey',
    secondaryRgb: [Math.round(rgb[0] * 0.8), Math.round(rgb[1] * 0.8), Math.round(rgb[2] * 0.8)],
    texture,
    periodM,
    labelZM: [0, 0],
    specular: 0,
    shininess: 1,
  };
}

function rotateToCam(camFromWorld: Pose, v: Vec3): [number, number, number] {
  const R = camFromWorld.R;
  return [
    R[0] * v[0] + R[1] * v[1] + R[2] * v[2],
    R[3] * v[0] + R[4] * v[1] + R[5] * v[2],
    R[6] * v[0] + R[7] * v[1] + R[8] * v[2],
  ];
}

/** Object -> camera pose of every object for a camera -> world pose. */
export function objectPosesCam(scene: SynthScene, camPoseWorld: Pose): Pose[] {
  const camFromWorld = invertPose(camPoseWorld);
  return scene.objects.map((o) => composePose(camFromWorld, o.poseWorld));
}

/**
 * Renders `scene` seen by a camera at `camPoseWorld` (camera -> world, optical frame). Deterministic: the same
 * scene, pose and options give identical bytes.
 */
export function renderScene(scene: SynthScene, camPoseWorld: Pose, opts: RenderOptions = {}): RenderResult {
  const camera = opts.camera ?? scene.camera;
  checkIntrinsics(camera, 'camera');
  if (camPoseWorld.R.length !== 9 || camPoseWorld.tM.length !== 3) {
    throw new SynthOptionError(
      'camPoseWorld',
      'must be a Pose with R of length 9 (row-major) and tM of length 3',
    );
  }
  const t: RasterTarget = createTarget(camera, { rgb: true, ids: true, coords: true, flags: true });
  const rgb = t.rgb as Uint8Array;
  const bg = scene.environment.backgroundRgb;
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = bg[0];
    rgb[i + 1] = bg[1];
    rgb[i + 2] = bg[2];
  }
  const camFromWorld = invertPose(camPoseWorld);
  const lightCam = rotateToCam(camFromWorld, scene.lightDirWorld);
  const ambient = scene.ambient;
  const posesCam = scene.objects.map((o) => composePose(camFromWorld, o.poseWorld));
  // Near to far, so the z-test rejects hidden pixels before shading.
  const order = scene.objects.map((_, i) => i).sort((a, b) => posesCam[a].tM[2] - posesCam[b].tM[2]);
  for (const i of order) {
    const o: SynthObject = scene.objects[i];
    const shade: Shade = { material: o.material, lightCam, ambient };
    drawMesh(t, o.mesh.positionsM, o.mesh.indices, posesCam[i], o.instanceId, shade, true);
  }
  // Environment (id 0). Coordinates are only kept for objects, so env draws leave coords as they are.
  const env = envGeometry(scene);
  const e = scene.environment;
  const worldCam = composePose(camFromWorld, IDENT);
  const coords = t.coords;
  t.coords = null;
  if (env.table)
    drawMesh(
      t,
      env.table.positionsM,
      env.table.indices,
      worldCam,
      0,
      { material: e.tableMaterial, lightCam, ambient },
      true,
    );
  if (env.floor)
    drawMesh(t, env.floor.positionsM, env.floor.indices, worldCam, 0, {
      material: plainMaterial(e.floorRgb, 'checker', 0.5),
      lightCam,
      ambient,
    });
  if (env.walls)
    drawMesh(t, env.walls.positionsM, env.walls.indices, worldCam, 0, {
      material: plainMaterial(e.wallRgb),
      lightCam,
      ambient: Math.max(ambient, 0.6),
    });
  t.coords = coords;

  const n = camera.width * camera.height;
  const depthTrueM = new Float32Array(n);
  const ids = t.ids as Uint16Array;
  const objectCoordsM = t.coords as Float32Array;
  for (let i = 0; i < n; i++) {
    const z = t.zbuf[i];
    depthTrueM[i] = Number.isFinite(z) ? z : 0;
    if (ids[i] === 0) {
      objectCoordsM[3 * i] = 0;
      objectCoordsM[3 * i + 1] = 0;
      objectCoordsM[3 * i + 2] = 0;
    }
  }
  let depthMm: Uint16Array;
  if (opts.sensor === false) {
    depthMm = quantiseDepthMm(depthTrueM);
  } else {
    const seed = opts.sensorSeed ?? hashSeed(scene.seed, opts.frameIndex ?? 0, 0x5e75);
    depthMm = applySensorModel(depthTrueM, rgb, t.flags, camera, opts.sensor ?? {}, new Rng(seed));
  }
  const objects = visibleStats(
    scene.objects.map((o) => o.instanceId),
    posesCam,
    ids,
    depthMm,
    camera.width,
    camera.height,
  );
  return {
    camera,
    camPoseWorld,
    rgb: { width: camera.width, height: camera.height, data: rgb },
    depthMm,
    depthTrueM,
    instanceMask: ids,
    objectCoordsM,
    objects,
  };
}

function visibleStats(
  instanceIds: number[],
  posesCam: Pose[],
  ids: Uint16Array,
  depthMm: Uint16Array,
  W: number,
  H: number,
): RenderedObject[] {
  const maxId = Math.max(0, ...instanceIds);
  const count = new Int32Array(maxId + 1);
  const valid = new Int32Array(maxId + 1);
  const x0 = new Int32Array(maxId + 1).fill(W);
  const y0 = new Int32Array(maxId + 1).fill(H);
  const x1 = new Int32Array(maxId + 1).fill(-1);
  const y1 = new Int32Array(maxId + 1).fill(-1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const id = ids[i];
      if (id === 0 || id > maxId) continue;
      count[id]++;
      if (depthMm[i] > 0) valid[id]++;
      if (x < x0[id]) x0[id] = x;
      if (x > x1[id]) x1[id] = x;
      if (y < y0[id]) y0[id] = y;
      if (y > y1[id]) y1[id] = y;
    }
  }
  return instanceIds.map((id, k) => ({
    instanceId: id,
    poseCam: posesCam[k],
    pxCountVisib: count[id],
    pxCountValid: valid[id],
    bboxVisib: count[id] > 0 ? [x0[id], y0[id], x1[id] - x0[id] + 1, y1[id] - y0[id] + 1] : [0, 0, 0, 0],
  }));
}

/** Full (unoccluded) silhouette of one object alone: mask (1 = object), pixel count, bbox [x, y, w, h]. */
export function renderSilhouette(
  mesh: Mesh,
  poseCam: Pose,
  camera: CameraIntrinsics,
): { mask: Uint8Array; pxCount: number; bbox: [number, number, number, number] } {
  checkIntrinsics(camera, 'camera');
  const t = createTarget(camera, {});
  drawMesh(t, mesh.positionsM, mesh.indices, poseCam, 1, null, true);
  const W = camera.width;
  const H = camera.height;
  const mask = new Uint8Array(W * H);
  let count = 0;
  let x0 = W;
  let y0 = H;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!Number.isFinite(t.zbuf[i])) continue;
      mask[i] = 1;
      count++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return { mask, pxCount: count, bbox: count > 0 ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0] };
}
