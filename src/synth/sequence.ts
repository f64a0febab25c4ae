/** Sequences: one scene seen by a camera moving smoothly (for bags, demos and dataset exports). */
import type { CameraIntrinsics, Pose, RgbImage } from '../types';
import { SynthOptionError } from './errors';
import type { ColourName, TextureKind } from './materials';
import type { Vec3 } from './math';
import type { Category, Mesh } from './mesh';
import { hashSeed, Rng } from './rng';
import { renderScene, type RenderOptions, type RenderResult } from './render';
import {
  generateScene,
  orbitCameraPose,
  randomOrbit,
  type SceneOptions,
  type Symmetry,
  type SynthScene,
} from './scene';
import type { SensorOptions } from './sensor';

/** One object as seen in one frame. */
export interface FrameObject {
  instanceId: number;
  category: Category;
  colour: ColourName;
  texture: TextureKind;
  captions: string[];
  /** Bounding-box extent in the object frame (metres). */
  sizeM: Vec3;
  symmetry: Symmetry;
  /** Object-frame mesh (metres, base at z = 0). Shared between frames. */
  mesh: Mesh;
  modelName: string;
  /** Object -> camera. */
  poseCam: Pose;
  pxCountVisib: number;
  pxCountValid: number;
  bboxVisib: [number, number, number, number];
}

/** One rendered frame of a sequence. */
export interface SynthFrame {
  index: number;
  stampNs: bigint;
  camera: CameraIntrinsics;
  /** Camera (optical frame) -> world. */
  camPoseWorld: Pose;
  rgb: RgbImage;
  /** Millimetres, 0 = invalid. */
  depthMm: Uint16Array;
  /** Exact depth in metres (0 = nothing), before the sensor model. */
  depthTrueM: Float32Array;
  /** 0 = background, 1..n = instanceId. */
  instanceMask: Uint16Array;
  /** Object-frame coordinates of the visible object surface (3 per pixel, metres). */
  objectCoordsM: Float32Array;
  objects: FrameObject[];
}

/** A rendered sequence. */
export interface SynthSequence {
  scene: SynthScene;
  frames: SynthFrame[];
}

/** Options of generateSequence. */
export interface SequenceOptions extends SceneOptions {
  /** Number of frames (default 20). */
  numFrames?: number;
  /** Frame rate in Hz (default 15). */
  frameRateHz?: number;
  /** Stamp of the first frame in ns (default 1_700_000_000 s). */
  startNs?: bigint;
  /** Total azimuth sweep of the camera over the sequence, radians (default random 0.4..0.9, random sign). */
  sweepRad?: number;
  /** Sensor model or false (default on). */
  sensor?: SensorOptions | false;
}

/** Camera -> world poses of a smooth orbit arc over the table, deterministic in the scene seed. */
export function sequenceCameraPoses(scene: SynthScene, numFrames: number, sweepRad?: number): Pose[] {
  const rng = new Rng(hashSeed(scene.seed, 0x5e9));
  const o = randomOrbit(scene, rng);
  const sweep = sweepRad ?? rng.uniform(0.4, 0.9) * (rng.chance(0.5) ? 1 : -1);
  const elevAmp = rng.uniform(0.03, 0.1);
  const distAmp = rng.uniform(0.02, 0.08);
  const tgt: Vec3 = [rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04), 0];
  const poses: Pose[] = [];
  for (let i = 0; i < numFrames; i++) {
    const s = numFrames > 1 ? i / (numFrames - 1) : 0;
    poses.push(
      orbitCameraPose({
        distanceM: o.distanceM + distAmp * Math.sin(Math.PI * s),
        elevationRad: o.elevationRad + elevAmp * Math.sin(2 * Math.PI * s),
        azimuthRad: o.azimuthRad + sweep * (s - 0.5),
        targetM: [o.targetM[0] + tgt[0] * (s - 0.5), o.targetM[1] + tgt[1] * (s - 0.5), o.targetM[2]],
      }),
    );
  }
  return poses;
}

/** Packs a render as a SynthFrame. */
export function toFrame(scene: SynthScene, r: RenderResult, index: number, stampNs: bigint): SynthFrame {
  return {
    index,
    stampNs,
    camera: r.camera,
    camPoseWorld: r.camPoseWorld,
    rgb: r.rgb,
    depthMm: r.depthMm,
    depthTrueM: r.depthTrueM,
    instanceMask: r.instanceMask,
    objectCoordsM: r.objectCoordsM,
    objects: scene.objects.map((o, k) => ({
      instanceId: o.instanceId,
      category: o.category,
      colour: o.material.colour,
      texture: o.material.texture,
      captions: o.captions,
      sizeM: o.sizeM,
      symmetry: o.symmetry,
      mesh: o.mesh,
      modelName: o.modelName,
      poseCam: r.objects[k].poseCam,
      pxCountVisib: r.objects[k].pxCountVisib,
      pxCountValid: r.objects[k].pxCountValid,
      bboxVisib: r.objects[k].bboxVisib,
    })),
  };
}

/**
 * Generates a scene (from `opts`, see generateScene) and renders it from `numFrames` camera poses along a smooth
 * orbit arc. Frame i has stamp startNs + i * 1e9 / frameRateHz.
 */
export function generateSequence(opts: SequenceOptions): SynthSequence {
  const numFrames = opts.numFrames ?? 20;
  if (!Number.isInteger(numFrames) || numFrames < 1 || numFrames > 10000) {
    throw new SynthOptionError('numFrames', `must be an integer in 1..10000, got ${numFrames}`);
  }
  const hz = opts.frameRateHz ?? 15;
  if (!(hz > 0) || !Number.isFinite(hz)) throw new SynthOptionError('frameRateHz', `must be > 0, got ${hz}`);
  const scene = generateScene(opts);
  const poses = sequenceCameraPoses(scene, numFrames, opts.sweepRad);
  const start = opts.startNs ?? 1_700_000_000_000_000_000n;
  const periodNs = 1e9 / hz;
  const frames = poses.map((p, i) => {
    const ro: RenderOptions = { sensor: opts.sensor, frameIndex: i };
    const r = renderScene(scene, p, ro);
    return toFrame(scene, r, i, start + BigInt(Math.round(i * periodNs)));
  });
  return { scene, frames };
}
