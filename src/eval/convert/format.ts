/**
 * The converted-dataset layout shared by the converters (`declip eval convert`) and the evaluation runner
 * (`declip eval run`):
 *
 *   <out>/dataset.json           { format, dataset, source, scenes: [{sceneId, bag, frames}], createdBy }
 *   <out>/scenes/<scene>.mcap    one MCAP bag per scene, RealSense-style topics (below)
 *   <out>/models/models.json     the model set: per object id the model file, units, diameter (m), symmetries
 *                                (m), prompt, NOCS class id and extents
 *   <out>/models/<files>         copies of the model files (.ply in mm for BOP, .obj in m for REAL275)
 *
 * Bag topics (one message of each per frame, all with the same header stamp and log time):
 *   /camera/color/camera_info                 sensor_msgs/msg/CameraInfo
 *   /camera/color/image_raw                   sensor_msgs/msg/Image rgb8
 *   /camera/aligned_depth_to_color/image_raw  sensor_msgs/msg/Image 16UC1 (mm, 0 = invalid)
 *   /eval/gt/instance_mask                    sensor_msgs/msg/Image mono16: 0 = background, k + 1 = GT object k
 *   /eval/ground_truth                        std_msgs/msg/String holding one {@link GtFrame} as JSON
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import {
  cameraInfoFromIntrinsics,
  createBagWriter,
  depthMmToImageMsg,
  headerFromNs,
  rgbToImageMsg,
  type BagWriter,
  type ImageMsg,
} from '../../bag';
import type { CameraIntrinsics, RgbImage } from '../../types';

export const EVAL_FORMAT = 'declip-eval/1';
export const TOPICS = {
  cameraInfo: '/camera/color/camera_info',
  color: '/camera/color/image_raw',
  depth: '/camera/aligned_depth_to_color/image_raw',
  gtMask: '/eval/gt/instance_mask',
  gt: '/eval/ground_truth',
} as const;
export const CAMERA_FRAME_ID = 'camera_color_optical_frame';
/** First frame's stamp (s) and the frame period (ns) written by the converters. */
export const STAMP_BASE_NS = 1_600_000_000_000_000_000n;
export const FRAME_PERIOD_NS = 100_000_000n;

/** Raised for a dataset that cannot be converted or read; lists the offending paths. */
export class EvalDatasetError extends Error {
  constructor(
    message: string,
    readonly paths: string[] = [],
  ) {
    const shown = paths.slice(0, 20).map((p) => `\n  missing or invalid: ${p}`);
    const more = paths.length > 20 ? `\n  ... and ${paths.length - 20} more` : '';
    super(message + shown.join('') + more);
    this.name = 'EvalDatasetError';
  }
}

/** One ground-truth object of a frame. */
export interface GtObject {
  /** Value of this object in /eval/gt/instance_mask minus one (= its index in GtFrame.objects). */
  index: number;
  /** Object instance id: BOP obj_id as a string, REAL275 model name. Same physical object across scenes. */
  objectId: string;
  /** Text prompt (object name / description). */
  prompt: string;
  /** NOCS class id (REAL275), undefined for BOP. */
  classId?: number;
  /** Object -> camera rotation, row-major, and translation in metres (metric model frame). */
  R: number[];
  tM: number[];
  /** Visible fraction (BOP scene_gt_info visib_fract; REAL275: 1 when visible in the mask). */
  visibFract?: number;
  /** Visible pixels in the GT mask. */
  pxCountVisib?: number;
  /** REAL275 mugs: whether the handle is visible (NOCS gt_handle_visibility). */
  handleVisible?: boolean;
  /** Full extents of the model's bbox in its frame, metres (NOCS gt_scales x scale). */
  extentsM?: number[];
}

/** Ground truth of one frame (the JSON in /eval/ground_truth). */
export interface GtFrame {
  dataset: string;
  sceneId: string;
  frameId: string;
  /** Header stamp of the frame's images, ns as a decimal string. */
  stampNs: string;
  width: number;
  height: number;
  objects: GtObject[];
}

/** Symmetries as stored in models.json: BOP models_info format in metres. */
export interface StoredSymmetries {
  continuous?: { axis: number[]; offsetM: number[] }[];
  /** 4x4 row-major, translation in metres. */
  discrete?: number[][];
}

/** One object of models.json. */
export interface StoredModel {
  /** Model file name inside models/. */
  file: string;
  /** Multiply the file's coordinates by this for metres (0.001 for BOP .ply). */
  scaleToM: number;
  diameterM: number;
  symmetries?: StoredSymmetries;
  prompt: string;
  classId?: number;
  /** Bbox of the model in its frame, metres (min corner and size). */
  minM?: number[];
  sizeM?: number[];
}

export interface ModelsJson {
  format: string;
  dataset: string;
  objects: Record<string, StoredModel>;
}

export interface DatasetJson {
  format: string;
  dataset: string;
  /** Absolute path of the dataset converted. */
  source: string;
  camera?: CameraIntrinsics;
  scenes: { sceneId: string; bag: string; frames: number }[];
  createdBy: string;
}

/** Everything one frame of a scene bag holds. */
export interface ConvertedFrame {
  rgb: RgbImage;
  depthMm: Uint16Array;
  camera: CameraIntrinsics;
  /** 0 = background, k + 1 = gt.objects[k]. */
  instanceMask: Uint16Array;
  gt: GtFrame;
}

/** Ensures every path exists; throws EvalDatasetError listing the missing ones. */
export function requireFiles(what: string, files: string[], fix: string): void {
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new EvalDatasetError(`${what}: ${missing.length} required file(s) missing; ${fix}`, missing);
  }
}

export function readJsonFile<T>(file: string, what: string): T {
  if (!fs.existsSync(file)) throw new EvalDatasetError(`${what} not found`, [file]);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new EvalDatasetError(`${what} is not valid JSON (${(e as Error).message})`, [file]);
  }
}

/** Reads an 8-bit colour PNG/JPEG as packed rgb8. */
export async function readRgbImage(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(data) };
    const out = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) out.fill(data[i * info.channels], 3 * i, 3 * i + 3);
    return { width: info.width, height: info.height, data: out };
  } catch (e) {
    throw new EvalDatasetError(`cannot read colour image (${(e as Error).message})`, [file]);
  }
}

/** Reads a single-channel 8- or 16-bit PNG as numbers (16-bit kept, 8-bit widened). */
export async function readGrayImage(
  file: string,
): Promise<{ data: Uint16Array; width: number; height: number }> {
  try {
    const meta = await sharp(file).metadata();
    const is16 = meta.depth === 'ushort';
    if (is16) {
      const { data, info } = await sharp(file)
        .extractChannel(0)
        .toColourspace('grey16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const copy = new Uint8Array(data.byteLength);
      copy.set(data);
      return { data: new Uint16Array(copy.buffer), width: info.width, height: info.height };
    }
    const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { data: Uint16Array.from(data), width: info.width, height: info.height };
  } catch (e) {
    throw new EvalDatasetError(`cannot read single-channel image (${(e as Error).message})`, [file]);
  }
}

/** mono16 Image message of an instance mask. */
export function mono16ToImageMsg(
  values: Uint16Array,
  width: number,
  height: number,
  header: ImageMsg['header'],
): ImageMsg {
  const data = new Uint8Array(values.length * 2);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < values.length; i++) dv.setUint16(2 * i, values[i], true);
  return { header, height, width, encoding: 'mono16', is_bigendian: 0, step: width * 2, data };
}

/**
 * Writes one scene bag atomically: frames go to `<bag>.partial.mcap`, renamed to `<bag>` when complete, so an
 * interrupted conversion never leaves a bag that looks finished.
 */
export async function writeSceneBag(
  bagPath: string,
  frames: AsyncIterable<ConvertedFrame> | Iterable<ConvertedFrame>,
  onFrame?: () => void,
): Promise<number> {
  const partial = bagPath.replace(/\.mcap$/, '') + '.partial.mcap';
  if (fs.existsSync(partial)) fs.rmSync(partial, { force: true });
  fs.mkdirSync(path.dirname(bagPath), { recursive: true });
  const w: BagWriter = await createBagWriter(partial, { overwrite: true });
  let n = 0;
  try {
    await w.addTopic(TOPICS.cameraInfo, 'sensor_msgs/msg/CameraInfo');
    await w.addTopic(TOPICS.color, 'sensor_msgs/msg/Image');
    await w.addTopic(TOPICS.depth, 'sensor_msgs/msg/Image');
    await w.addTopic(TOPICS.gtMask, 'sensor_msgs/msg/Image');
    await w.addTopic(TOPICS.gt, 'std_msgs/msg/String');
    for await (const f of frames) {
      const t = BigInt(f.gt.stampNs);
      const header = headerFromNs(t, CAMERA_FRAME_ID);
      const { width, height } = f.camera;
      await w.write(TOPICS.cameraInfo, t, cameraInfoFromIntrinsics(f.camera, header));
      await w.write(TOPICS.color, t, rgbToImageMsg(f.rgb, header));
      await w.write(TOPICS.depth, t, depthMmToImageMsg(f.depthMm, width, height, header));
      await w.write(TOPICS.gtMask, t, mono16ToImageMsg(f.instanceMask, width, height, header));
      await w.write(TOPICS.gt, t, { data: JSON.stringify(f.gt) });
      n++;
      onFrame?.();
    }
  } finally {
    await w.close();
  }
  fs.renameSync(partial, bagPath);
  return n;
}

/** Largest distance between two vertices (exact for <= 4000 vertices, else over a strided subset + extremes). */
export function verticesDiameterM(vertices: ArrayLike<number>, scaleToM = 1): number {
  const n = vertices.length / 3;
  const step = Math.max(1, Math.ceil(n / 4000));
  const idx: number[] = [];
  for (let i = 0; i < n; i += step) idx.push(i);
  for (let k = 0; k < 3; k++) {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      if (vertices[3 * i + k] < vertices[3 * lo + k]) lo = i;
      if (vertices[3 * i + k] > vertices[3 * hi + k]) hi = i;
    }
    idx.push(lo, hi);
  }
  let best = 0;
  for (let a = 0; a < idx.length; a++) {
    const i = idx[a];
    for (let b = a + 1; b < idx.length; b++) {
      const j = idx[b];
      const dx = vertices[3 * i] - vertices[3 * j];
      const dy = vertices[3 * i + 1] - vertices[3 * j + 1];
      const dz = vertices[3 * i + 2] - vertices[3 * j + 2];
      const d = dx * dx + dy * dy + dz * dz;
      if (d > best) best = d;
    }
  }
  return Math.sqrt(best) * scaleToM;
}

/** Bag file of a scene inside a converted dataset. */
export function sceneBagPath(outDir: string, sceneId: string): string {
  return path.join(outDir, 'scenes', `${sceneId}.mcap`);
}

/** Reads prompts from a JSON file `{objectId: "text"}` (optional override for both converters). */
export function readPromptsFile(file: string | undefined): Record<string, string> {
  if (!file) return {};
  const p = readJsonFile<Record<string, unknown>>(file, 'prompts file');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    if (typeof v !== 'string' || !v.trim()) {
      throw new EvalDatasetError(`prompts file: entry "${k}" must be a non-empty string`, [file]);
    }
    out[k] = v.trim();
  }
  return out;
}

/**
 * Prompts of an earlier conversion into `outDir` (models/models.json), so that resuming without --prompts keeps
 * the prompts already written into the scene bags.
 */
export function previousPrompts(outDir: string): Record<string, string> {
  const f = path.join(outDir, 'models', 'models.json');
  if (!fs.existsSync(f)) return {};
  const m = readJsonFile<ModelsJson>(f, 'models/models.json');
  return Object.fromEntries(Object.entries(m.objects ?? {}).map(([k, v]) => [k, v.prompt]));
}

/** Progress callback of the converters. */
export type ConvertProgress = (event: {
  scene: string;
  done: number;
  total: number;
  skipped?: boolean;
}) => void;

/** Options shared by the converters. */
export interface ConvertOptions {
  /** Dataset root (BOP: the folder with models/ and test/; REAL275: the folder with real_test/, gts/, obj_models/). */
  srcDir: string;
  outDir: string;
  /** Only these scenes (ids as in the dataset, e.g. '000001' or 'scene_1'). */
  scenes?: string[];
  /** At most this many frames per scene (in order), e.g. for a quick look. */
  maxFrames?: number;
  /** Re-convert scenes whose bag already exists (default false: skip them). */
  overwrite?: boolean;
  /** objectId -> prompt override. */
  prompts?: Record<string, string>;
  onProgress?: ConvertProgress;
}

export interface ConvertSummary {
  dataset: string;
  outDir: string;
  scenes: { sceneId: string; bag: string; frames: number; skipped: boolean }[];
  objects: number;
}

/** Writes dataset.json after all scenes (merging with scenes converted by an earlier run). */
export function writeDatasetJson(outDir: string, d: Omit<DatasetJson, 'format' | 'createdBy'>): void {
  const file = path.join(outDir, 'dataset.json');
  const prev: DatasetJson | undefined = fs.existsSync(file)
    ? readJsonFile<DatasetJson>(file, 'dataset.json')
    : undefined;
  const scenes = new Map((prev?.scenes ?? []).map((s) => [s.sceneId, s]));
  for (const s of d.scenes) scenes.set(s.sceneId, s);
  const out: DatasetJson = {
    format: EVAL_FORMAT,
    ...d,
    scenes: [...scenes.values()].sort((a, b) => (a.sceneId < b.sceneId ? -1 : a.sceneId > b.sceneId ? 1 : 0)),
    createdBy: 'declip eval convert',
  };
  fs.writeFileSync(file, JSON.stringify(out, null, 1));
}

/** Header stamp / log time of frame `frameIndex` (in scene order) in a converted bag. */
export function frameStamp(frameIndex: number): bigint {
  return STAMP_BASE_NS + BigInt(frameIndex) * FRAME_PERIOD_NS;
}

/**
 * The second half of every converter: writes models/models.json, then one bag per scene (skipping scenes whose bag
 * exists unless `opts.overwrite`), reporting progress per frame, then dataset.json. Scenes are validated before.
 */
export async function writeConvertedScenes<S extends { sceneId: string }>(
  dataset: string,
  opts: ConvertOptions,
  objects: Record<string, StoredModel>,
  scenes: readonly S[],
  frameCount: (s: S) => number,
  frames: (s: S) => AsyncIterable<ConvertedFrame> | Iterable<ConvertedFrame>,
): Promise<ConvertSummary> {
  const mj: ModelsJson = { format: EVAL_FORMAT, dataset, objects };
  fs.writeFileSync(path.join(opts.outDir, 'models', 'models.json'), JSON.stringify(mj, null, 1));
  const total = scenes.reduce((n, s) => n + frameCount(s), 0);
  let done = 0;
  const summary: ConvertSummary = {
    dataset,
    outDir: opts.outDir,
    scenes: [],
    objects: Object.keys(objects).length,
  };
  for (const s of scenes) {
    const bag = sceneBagPath(opts.outDir, s.sceneId);
    if (fs.existsSync(bag) && !opts.overwrite) {
      done += frameCount(s);
      opts.onProgress?.({ scene: s.sceneId, done, total, skipped: true });
      summary.scenes.push({ sceneId: s.sceneId, bag, frames: frameCount(s), skipped: true });
      continue;
    }
    const n = await writeSceneBag(bag, frames(s), () =>
      opts.onProgress?.({ scene: s.sceneId, done: ++done, total }),
    );
    summary.scenes.push({ sceneId: s.sceneId, bag, frames: n, skipped: false });
  }
  writeDatasetJson(opts.outDir, {
    dataset,
    source: path.resolve(opts.srcDir),
    scenes: summary.scenes.map((s) => ({
      sceneId: s.sceneId,
      bag: path.relative(opts.outDir, s.bag),
      frames: s.frames,
    })),
  });
  return summary;
}
