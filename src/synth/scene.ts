/**
 * Procedural scenes: objects on a table in a room, seeded and deterministic.
 *
 * World frame: metres, +z up, the table top is the plane z = 0 centred at the origin, the floor is at
 * z = -tableHeightM, and a closed room (four walls + floor) surrounds it. Objects stand upright on the table
 * (object frame +z = world +z, see mesh.ts), rotated about z by a random yaw.
 */
import { REAL275_INTRINSICS, type CameraIntrinsics, type Pose } from '../types';
import { SynthOptionError } from './errors';
import { captionsFor, randomMaterial, type ColourName, type Material, type TextureKind } from './materials';
import { lookAt, makePose, rotX, rotY, rotZ, type Vec3 } from './math';
import {
  boxMesh,
  buildCategoryMesh,
  CATEGORIES,
  meshBounds,
  type Category,
  type Mesh,
  type ShapeParams,
} from './mesh';
import { hashSeed, Rng } from './rng';

/** Geometric symmetry of an object in its own frame (texture is ignored, as in BOP). */
export type Symmetry =
  | { kind: 'none' }
  /** Rotations by any angle about `axis` through `offsetM`. */
  | { kind: 'continuous'; axis: Vec3; offsetM: Vec3 }
  /** A finite set of non-identity object-frame transforms mapping the shape onto itself. */
  | { kind: 'discrete'; transforms: Pose[] };

/** One object instance of a scene. */
export interface SynthObject {
  /** 1..n, the value of its pixels in instance masks. */
  instanceId: number;
  category: Category;
  /** Triangle mesh in the object frame (metres, base at z = 0, see mesh.ts). */
  mesh: Mesh;
  shape: ShapeParams;
  material: Material;
  /** Object -> world. */
  poseWorld: Pose;
  /** Bounding-box extent in the object frame (metres). */
  sizeM: Vec3;
  /** Bounding-box minimum corner in the object frame (metres). */
  minM: Vec3;
  symmetry: Symmetry;
  /** Captions, canonical first (see captionsFor). */
  captions: string[];
  /** Stable model name, e.g. "mug_red_s12_i3" (used for NOCS/BOP model files). */
  modelName: string;
}

/** The static surroundings (instance id 0 in masks). */
export interface Environment {
  /** Table top size along world x and y (metres); the table top is z = 0. 0 = no table. */
  tableSizeM: [number, number];
  tableHeightM: number;
  tableMaterial: Material;
  /** Half the side of the square room (metres); 0 = no room (empty background). */
  roomHalfM: number;
  roomHeightM: number;
  floorRgb: [number, number, number];
  wallRgb: [number, number, number];
  /** Colour of pixels that see nothing (depth 0). */
  backgroundRgb: [number, number, number];
}

/** A generated scene. */
export interface SynthScene {
  seed: number;
  camera: CameraIntrinsics;
  objects: SynthObject[];
  environment: Environment;
  /** Unit vector from the scene towards the (directional) light, world frame. */
  lightDirWorld: Vec3;
  /** Ambient light fraction 0..1. */
  ambient: number;
  /** Point the cameras look at (world, metres). */
  lookAtM: Vec3;
}

/** An explicitly requested object (tests, demos). Unset fields are random. */
export interface ObjectSpec {
  category: Category;
  colour?: ColourName;
  texture?: TextureKind;
  /** Box only: exact size (x, y, z) in metres. */
  boxSizeM?: Vec3;
  /** Object -> world pose; default: random free spot on the table, random yaw. */
  poseWorld?: Pose;
}

/** Options of generateScene. */
export interface SceneOptions {
  /** Integer seed; the same seed gives the same scene. */
  seed: number;
  /** Number of random objects (default random 4..7). Ignored when `objects` is given. */
  numObjects?: number;
  /** Categories to draw from (default all seven). */
  categories?: readonly Category[];
  /** Explicit objects instead of random ones. */
  objects?: readonly ObjectSpec[];
  /** Camera intrinsics (default REAL275_INTRINSICS). */
  camera?: CameraIntrinsics;
  /** Draw the table (default true). */
  table?: boolean;
  /** Draw the room: floor and walls (default true). */
  room?: boolean;
  /** Probability that a new random object repeats an earlier category (default 0.35). */
  repeatCategoryProb?: number;
}

/** Validates intrinsics, throwing SynthOptionError naming the bad field. */
export function checkIntrinsics(c: CameraIntrinsics, field = 'camera'): void {
  if (!Number.isInteger(c.width) || c.width < 1 || !Number.isInteger(c.height) || c.height < 1) {
    throw new SynthOptionError(
      `${field}.width/height`,
      `must be positive integers, got ${c.width}x${c.height}`,
    );
  }
  for (const k of ['fx', 'fy'] as const) {
    if (!(c[k] > 0) || !Number.isFinite(c[k]))
      throw new SynthOptionError(`${field}.${k}`, `must be a positive focal length in pixels, got ${c[k]}`);
  }
  for (const k of ['cx', 'cy'] as const) {
    if (!Number.isFinite(c[k]))
      throw new SynthOptionError(`${field}.${k}`, `must be a finite principal point in pixels, got ${c[k]}`);
  }
}

/** Geometric symmetry of a category instance (object frame). */
export function symmetryFor(category: Category, sizeM: Vec3): Symmetry {
  if (category === 'bottle' || category === 'bowl' || category === 'can') {
    return { kind: 'continuous', axis: [0, 0, 1], offsetM: [0, 0, 0] };
  }
  if (category === 'box') {
    // 180 degree turns about the box's centre axes; the box spans z in [0, sz], so x/y flips shift by sz.
    const h = sizeM[2];
    const transforms: Pose[] = [
      makePose(rotZ(Math.PI), [0, 0, 0]),
      makePose(rotX(Math.PI), [0, 0, h]),
      makePose(rotY(Math.PI), [0, 0, h]),
    ];
    for (const t of transforms) for (let i = 0; i < 9; i++) t.R[i] = Math.round(t.R[i]);
    return { kind: 'discrete', transforms };
  }
  return { kind: 'none' };
}

function makeObject(spec: ObjectSpec, instanceId: number, seed: number, rng: Rng): SynthObject {
  let mesh: Mesh;
  let shape: ShapeParams;
  if (spec.category === 'box' && spec.boxSizeM) {
    const [sx, sy, sz] = spec.boxSizeM;
    if (!(sx > 0 && sy > 0 && sz > 0))
      throw new SynthOptionError(
        'objects[].boxSizeM',
        `must be three positive sizes in metres, got ${spec.boxSizeM.join(',')}`,
      );
    mesh = boxMesh(-sx / 2, sx / 2, -sy / 2, sy / 2, 0, sz);
    shape = { radiusM: 0, heightM: sz, extra: { sx, sy, sz } };
  } else {
    ({ mesh, shape } = buildCategoryMesh(spec.category, rng));
  }
  const b = meshBounds(mesh);
  const material = randomMaterial(spec.category, b.sizeM[2], Math.max(...b.sizeM), rng, {
    colour: spec.colour,
    texture: spec.texture,
  });
  const obj: SynthObject = {
    instanceId,
    category: spec.category,
    mesh,
    shape,
    material,
    poseWorld: spec.poseWorld ?? makePose([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]),
    sizeM: b.sizeM,
    minM: b.minM,
    symmetry: symmetryFor(spec.category, b.sizeM),
    captions: [],
    modelName: `${spec.category}_${material.colour}_s${seed}_i${instanceId}`,
  };
  obj.captions = captionsFor(obj);
  return obj;
}

/** Footprint radius of an object about its origin (metres). */
function footprintRadiusM(o: SynthObject): number {
  const p = o.mesh.positionsM;
  let r = 0;
  for (let i = 0; i < p.length; i += 3) r = Math.max(r, Math.hypot(p[i], p[i + 1]));
  return r;
}

/**
 * Generates a deterministic scene from `opts.seed`: random objects (category, size, colour, texture) standing on
 * a table without overlapping, a room around it, a directional light.
 */
export function generateScene(opts: SceneOptions): SynthScene {
  if (!Number.isInteger(opts.seed))
    throw new SynthOptionError('seed', `must be an integer, got ${opts.seed}`);
  const camera = opts.camera ?? REAL275_INTRINSICS;
  checkIntrinsics(camera);
  const rng = new Rng(hashSeed(opts.seed, 0x5eed));
  const cats = opts.categories ?? CATEGORIES;
  if (cats.length === 0 || cats.some((c) => !CATEGORIES.includes(c))) {
    throw new SynthOptionError('categories', `must be a non-empty subset of ${CATEGORIES.join(', ')}`);
  }
  const useTable = opts.table ?? true;
  const tableSizeM: [number, number] = useTable ? [rng.uniform(1.0, 1.6), rng.uniform(0.75, 1.0)] : [0, 0];
  const tableMaterial = randomMaterial('box', 0.03, 0.3, rng, {
    colour: rng.pick(['brown', 'white', 'grey', 'black', 'green', 'blue'] as ColourName[]),
    texture: rng.pick(['plain', 'plain', 'checker'] as TextureKind[]),
  });
  tableMaterial.periodM = rng.uniform(0.06, 0.12);
  tableMaterial.secondaryRgb = tableMaterial.rgb.map((v) => Math.round(v * 0.75)) as [number, number, number];
  tableMaterial.specular = 0.05;
  const environment: Environment = {
    tableSizeM,
    tableHeightM: 0.74,
    tableMaterial,
    roomHalfM: (opts.room ?? true) ? rng.uniform(2.0, 3.0) : 0,
    roomHeightM: 2.6,
    floorRgb: [
      Math.round(rng.uniform(90, 150)),
      Math.round(rng.uniform(80, 130)),
      Math.round(rng.uniform(60, 110)),
    ],
    wallRgb: [
      Math.round(rng.uniform(180, 230)),
      Math.round(rng.uniform(180, 230)),
      Math.round(rng.uniform(170, 225)),
    ],
    backgroundRgb: [40, 44, 52],
  };
  const elev = rng.uniform(0.7, 1.2);
  const az = rng.uniform(0, 2 * Math.PI);
  const lightDirWorld: Vec3 = [Math.cos(elev) * Math.cos(az), Math.cos(elev) * Math.sin(az), Math.sin(elev)];
  const ambient = rng.uniform(0.3, 0.45);

  const objects: SynthObject[] = [];
  if (opts.objects) {
    opts.objects.forEach((spec, i) => {
      if (!CATEGORIES.includes(spec.category))
        throw new SynthOptionError(
          `objects[${i}].category`,
          `must be one of ${CATEGORIES.join(', ')}, got '${spec.category}'`,
        );
      objects.push(makeObject(spec, i + 1, opts.seed, rng));
    });
    // Explicit objects without a pose are placed like random ones below.
  } else {
    const n = opts.numObjects ?? rng.int(4, 7);
    if (!Number.isInteger(n) || n < 1 || n > 30)
      throw new SynthOptionError('numObjects', `must be an integer in 1..30, got ${n}`);
    const repeat = opts.repeatCategoryProb ?? 0.35;
    for (let i = 0; i < n; i++) {
      const category = objects.length > 0 && rng.chance(repeat) ? rng.pick(objects).category : rng.pick(cats);
      objects.push(makeObject({ category }, i + 1, opts.seed, rng));
    }
  }
  // Placement on the table (only objects without an explicit pose).
  const halfX = useTable ? Math.min(0.36, tableSizeM[0] / 2 - 0.08) : 0.36;
  const halfY = useTable ? Math.min(0.26, tableSizeM[1] / 2 - 0.08) : 0.26;
  const placed: { x: number; y: number; r: number }[] = [];
  const kept: SynthObject[] = [];
  objects.forEach((o, i) => {
    const explicit = opts.objects?.[i]?.poseWorld !== undefined;
    const r = footprintRadiusM(o);
    if (explicit) {
      placed.push({ x: o.poseWorld.tM[0], y: o.poseWorld.tM[1], r });
      kept.push(o);
      return;
    }
    for (let tries = 0; tries < 300; tries++) {
      const x = rng.uniform(-halfX, halfX);
      const y = rng.uniform(-halfY, halfY);
      if (placed.every((p) => Math.hypot(p.x - x, p.y - y) > p.r + r + 0.015)) {
        placed.push({ x, y, r });
        o.poseWorld = makePose(rotZ(rng.uniform(-Math.PI, Math.PI)), [x, y, 0]);
        kept.push(o);
        return;
      }
    }
    // No room left on the table: the object is dropped (ids are renumbered below).
  });
  kept.forEach((o, i) => {
    o.instanceId = i + 1;
    o.modelName = `${o.category}_${o.material.colour}_s${opts.seed}_i${i + 1}`;
  });
  return {
    seed: opts.seed,
    camera,
    objects: kept,
    environment,
    lightDirWorld,
    ambient,
    lookAtM: [0, 0, 0.05],
  };
}

/** Camera placement on a sphere around a target: distance, elevation above the table plane, azimuth. */
export interface CameraOrbit {
  distanceM: number;
  elevationRad: number;
  azimuthRad: number;
  targetM: Vec3;
}

/** Camera -> world pose of an orbit camera (optical frame: x right, y down, z forward). */
export function orbitCameraPose(o: CameraOrbit): Pose {
  const ce = Math.cos(o.elevationRad);
  const eye: Vec3 = [
    o.targetM[0] + o.distanceM * ce * Math.cos(o.azimuthRad),
    o.targetM[1] + o.distanceM * ce * Math.sin(o.azimuthRad),
    o.targetM[2] + o.distanceM * Math.sin(o.elevationRad),
  ];
  return lookAt(eye, o.targetM);
}

/** A random orbit looking at the table: 0.7-1.15 m away, 30-65 degrees above the table, any azimuth. */
export function randomOrbit(scene: SynthScene, rng: Rng): CameraOrbit {
  return {
    distanceM: rng.uniform(0.7, 1.15),
    elevationRad: (rng.uniform(30, 65) * Math.PI) / 180,
    azimuthRad: rng.uniform(-Math.PI, Math.PI),
    targetM: [
      scene.lookAtM[0] + rng.uniform(-0.08, 0.08),
      scene.lookAtM[1] + rng.uniform(-0.06, 0.06),
      scene.lookAtM[2],
    ],
  };
}

/** A random camera -> world pose looking at the table (deterministic in `seed`). */
export function randomCameraPose(scene: SynthScene, seed: number): Pose {
  return orbitCameraPose(randomOrbit(scene, new Rng(hashSeed(scene.seed, seed, 0xca3))));
}
