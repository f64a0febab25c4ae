/**
 * Synthetic RGB-D world: seeded procedural scenes (REAL275 categories + box on a table), a TypeScript z-buffer
 * renderer with a depth sensor model, camera sequences, and BOP / NOCS / captions exporters.
 *
 * Conventions: object frames are metres, +z up, base at z = 0 (mesh.ts); world +z up with the table top at z = 0
 * (scene.ts); poses map object -> camera (p_cam = R p_obj + t); camera poses are camera (optical) -> world.
 */
export { Rng, hashSeed } from './rng';
export { SynthOptionError, SynthExportError } from './errors';
export { composePose, invertPose, identityPose, lookAt, makePose, transformPoint, type Vec3 } from './math';
export {
  CATEGORIES,
  boxMesh,
  latheMesh,
  buildCategoryMesh,
  meshBounds,
  meshDiameterM,
  type Category,
  type Mesh,
  type ShapeParams,
} from './mesh';
export {
  PALETTE,
  COLOUR_NAMES,
  TEXTURE_KINDS,
  captionsFor,
  randomMaterial,
  type ColourName,
  type Material,
  type TextureKind,
} from './materials';
export {
  generateScene,
  orbitCameraPose,
  randomCameraPose,
  randomOrbit,
  symmetryFor,
  checkIntrinsics,
  type CameraOrbit,
  type Environment,
  type ObjectSpec,
  type SceneOptions,
  type Symmetry,
  type SynthObject,
  type SynthScene,
} from './scene';
export { applySensorModel, quantiseDepthMm, resolveSensorOptions, type SensorOptions } from './sensor';
export {
  renderScene,
  renderSilhouette,
  objectPosesCam,
  type RenderOptions,
  type RenderResult,
  type RenderedObject,
} from './render';
export {
  generateSequence,
  sequenceCameraPoses,
  toFrame,
  type FrameObject,
  type SequenceOptions,
  type SynthFrame,
  type SynthSequence,
} from './sequence';
export { writeRgbPng, writeGray8Png, writeGray16Png, readGray16Png, readGray8Png } from './png';
export { exportBop, meshToPly, bopModelInfo, type BopExportOptions, type BopExportSummary } from './bop';
export {
  exportNocs,
  nocsFrame,
  nocsRt,
  objectToNocs,
  meshToNocsObj,
  NOCS_CLASS_IDS,
  OBJ_TO_NOCS_R,
  type NocsExportOptions,
  type NocsExportSummary,
} from './nocs';
export { captionRecords, exportCaptions, bopImagePath, type CaptionRecord } from './captions';
