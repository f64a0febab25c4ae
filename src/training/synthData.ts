/**
 * Synthetic training / evaluation data for the embedded default model (models/tiny-synth): seeded scenes from
 * src/synth rendered from random table-top views, written as one flat dataset directory that the Python
 * bootstrap (declip_torch.bootstrap) and the DeCLIP distillation read, and that the TS evaluation re-reads.
 *
 * Layout of `out/`:
 *   dataset.json            seed, splits, image sizes, held-out colour x category pairs, label ids, vocabulary
 *   {split}.jsonl           one line per frame: index, width, height, objects (instance id, category, colours,
 *                           texture, bbox, pixel count, captions)
 *   {split}_rgb.u8          frames concatenated, rgb8 row-major (H*W*3 bytes per frame)
 *   {split}_labels.u8       label maps concatenated (H*W bytes per frame): 0 = nothing seen, 1..n = instance id,
 *                           LABEL_TABLE / LABEL_FLOOR / LABEL_WALL for the surroundings (from the exact depth)
 *   vocab.txt               every word of every caption, background prompt and prompt template
 *
 * Held-out pairs (HELD_OUT_PAIRS) never appear in 'train' (neither as the main nor as the secondary colour of an
 * object of that category); every 'eval' frame shows at least one of them, so the report can measure
 * compositional generalisation (colour and category each seen in training, never together).
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  CATEGORIES,
  COLOUR_NAMES,
  generateScene,
  randomCameraPose,
  renderScene,
  Rng,
  hashSeed,
  TEXTURE_KINDS,
  writeGray8Png,
  writeRgbPng,
  type Category,
  type ColourName,
  type ObjectSpec,
  type SynthScene,
  type TextureKind,
} from '../synth';
import { REAL275_INTRINSICS, type CameraIntrinsics, type Pose } from '../types';

/** Label value of the table top and legs in the label maps. */
export const LABEL_TABLE = 200;
/** Label value of the floor. */
export const LABEL_FLOOR = 201;
/** Label value of walls and ceiling. */
export const LABEL_WALL = 202;

/** Colour x category pairs that never occur in the training split. */
export const HELD_OUT_PAIRS: ReadonlyArray<readonly [ColourName, Category]> = [
  ['red', 'bowl'],
  ['blue', 'mug'],
  ['green', 'can'],
  ['yellow', 'bottle'],
  ['orange', 'box'],
  ['purple', 'camera'],
  ['white', 'laptop'],
];

/** Background prompts of the runtime (src/perception DEFAULT_BACKGROUND_PROMPTS) and their label ids. */
export const BACKGROUND_WORDS = ['background', 'table', 'wall', 'floor'] as const;

/** Extra words of prompt templates and scene captions. */
const EXTRA_WORDS = [
  'a',
  'an',
  'the',
  'of',
  'photo',
  'on',
  'and',
  'with',
  'scene',
  'objects',
  'some',
  'there',
  'is',
];

/** Options of {@link writeSynthDataset}. */
export interface SynthDatasetOptions {
  /** Output directory (created). */
  out: string;
  /** Data seed: the same seed gives byte-identical files. */
  seed: number;
  /** Training scenes (each rendered from `viewsPerScene` views). */
  trainScenes: number;
  viewsPerScene: number;
  /** Evaluation scenes (one view each), disjoint seeds. */
  evalScenes: number;
  /** Training frame size (intrinsics = REAL275 scaled). Default 320x240. */
  trainWidth?: number;
  trainHeight?: number;
  /** Evaluation frame size (default 640x480, what the sensor gives the node). */
  evalWidth?: number;
  evalHeight?: number;
  /** Training frames are rendered this many times larger and box-averaged (anti-aliasing). Default 2. */
  supersample?: number;
  /** Progress callback (frames done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** Summary returned by {@link writeSynthDataset} (also written as dataset.json). */
export interface SynthDatasetSummary {
  format: 'declip-synth-dataset';
  version: 1;
  seed: number;
  splits: Record<string, { frames: number; width: number; height: number; objects: number; scenes: number }>;
  held_out_pairs: [string, string][];
  labels: { table: number; floor: number; wall: number; nothing: 0 };
  categories: string[];
  colours: string[];
  vocab_file: string;
  generator: string;
}

/** One object line of {split}.jsonl. */
export interface DatasetObject {
  instance_id: number;
  category: Category;
  colour: ColourName;
  secondary_colour: ColourName;
  texture: TextureKind;
  bbox: [number, number, number, number];
  px_count: number;
  captions: string[];
  held_out: boolean;
}

/** One frame line of {split}.jsonl. */
export interface DatasetFrame {
  index: number;
  scene_seed: number;
  width: number;
  height: number;
  objects: DatasetObject[];
}

/** Whether (colour, category) is a held-out pair. */
export function isHeldOut(colour: string, category: string): boolean {
  return HELD_OUT_PAIRS.some(([c, k]) => c === colour && k === category);
}

/** REAL275 intrinsics scaled to width x height. */
export function scaledIntrinsics(width: number, height: number): CameraIntrinsics {
  const k = REAL275_INTRINSICS;
  const sx = width / k.width;
  const sy = height / k.height;
  return { width, height, fx: k.fx * sx, fy: k.fy * sy, cx: k.cx * sx, cy: k.cy * sy };
}

function sceneUsesHeldOut(scene: SynthScene): boolean {
  return scene.objects.some(
    (o) => isHeldOut(o.material.colour, o.category) || isHeldOut(o.material.secondaryColour, o.category),
  );
}

/**
 * A training scene: 3..7 random objects whose colour x category is never a held-out pair (textures whose
 * secondary colour would form one are replaced by 'plain', deterministically; scene 1000315 needed the
 * (category, colour) match because its generateScene drops an object).
 */
export function trainingScene(seed: number, camera: CameraIntrinsics): SynthScene {
  const rng = new Rng(hashSeed(seed, 0x7a1));
  const n = rng.int(3, 7);
  const specs: ObjectSpec[] = [];
  for (let i = 0; i < n; i++) {
    let category: Category;
    let colour: ColourName;
    do {
      category = rng.pick(CATEGORIES);
      colour = rng.pick(COLOUR_NAMES);
    } while (isHeldOut(colour, category));
    specs.push({ category, colour, texture: rng.pick(TEXTURE_KINDS) });
  }
  let scene = generateScene({ seed, objects: specs, camera });
  for (let attempt = 0; attempt < 8 && sceneUsesHeldOut(scene); attempt++) {
    // matched by (category, colour), not by index: generateScene may have dropped an earlier object
    for (const o of scene.objects) {
      if (!isHeldOut(o.material.secondaryColour, o.category)) continue;
      specs.forEach((sp, i) => {
        if (sp.category === o.category && sp.colour === o.material.colour)
          specs[i] = { ...sp, texture: 'plain' };
      });
    }
    scene = generateScene({ seed, objects: specs, camera });
  }
  // generateScene may drop objects that do not fit; the remaining ones keep their specs' colours.
  if (sceneUsesHeldOut(scene)) {
    throw new Error(`synthData: training scene ${seed} still shows a held-out pair (bug)`);
  }
  return scene;
}

/**
 * An evaluation scene: 4..6 objects with distinct (colour, category), one or two of them a held-out pair, the
 * others ordinary pairs (so each frame has both kinds of query).
 */
export function evalScene(seed: number, camera: CameraIntrinsics): SynthScene {
  const rng = new Rng(hashSeed(seed, 0xe7a1));
  const n = rng.int(4, 6);
  const nHeld = rng.int(1, 2);
  const used = new Set<string>();
  const specs: ObjectSpec[] = [];
  const held = [...HELD_OUT_PAIRS];
  for (let i = 0; i < nHeld; i++) {
    const k = rng.int(0, held.length - 1);
    const [colour, category] = held.splice(k, 1)[0];
    used.add(`${colour} ${category}`);
    used.add(`${category}`);
    specs.push({ category, colour, texture: 'plain' });
  }
  while (specs.length < n) {
    const category = rng.pick(CATEGORIES);
    const colour = rng.pick(COLOUR_NAMES);
    // one object per category keeps every "colour category" query and its category unambiguous
    if (isHeldOut(colour, category) || used.has(category)) continue;
    used.add(category);
    specs.push({ category, colour, texture: rng.pick(TEXTURE_KINDS) });
  }
  return generateScene({ seed, objects: specs, camera });
}

/** Label map: instance ids for objects, LABEL_TABLE / LABEL_FLOOR / LABEL_WALL for the surroundings. */
export function labelMap(
  scene: SynthScene,
  camera: CameraIntrinsics,
  camPoseWorld: Pose,
  instanceMask: Uint16Array,
  depthTrueM: Float32Array,
): Uint8Array {
  const { width, height, fx, fy, cx, cy } = camera;
  const out = new Uint8Array(width * height);
  const R = camPoseWorld.R;
  const t = camPoseWorld.tM;
  const env = scene.environment;
  const hx = env.tableSizeM[0] / 2 + 0.01;
  const hy = env.tableSizeM[1] / 2 + 0.01;
  const floorZ = -env.tableHeightM + 0.01;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const i = v * width + u;
      const id = instanceMask[i];
      if (id > 0) {
        out[i] = Math.min(id, 199);
        continue;
      }
      const z = depthTrueM[i];
      if (!(z > 0)) continue;
      const xc = ((u + 0.5 - cx) / fx) * z;
      const yc = ((v + 0.5 - cy) / fy) * z;
      const wx = R[0] * xc + R[1] * yc + R[2] * z + t[0];
      const wy = R[3] * xc + R[4] * yc + R[5] * z + t[1];
      const wz = R[6] * xc + R[7] * yc + R[8] * z + t[2];
      if (wz < floorZ) out[i] = LABEL_FLOOR;
      else if (wz <= 0.002 && Math.abs(wx) <= hx && Math.abs(wy) <= hy) out[i] = LABEL_TABLE;
      else out[i] = LABEL_WALL;
    }
  }
  return out;
}

/** Every word that can occur in a caption, a background prompt or a prompt template, sorted. */
export function vocabularyWords(): string[] {
  const words = new Set<string>([...EXTRA_WORDS, ...BACKGROUND_WORDS, ...CATEGORIES, ...COLOUR_NAMES]);
  for (const w of ['plain', 'striped', 'stripes', 'labelled', 'label', 'checkered', 'checker', 'pattern']) {
    words.add(w);
  }
  return [...words].sort();
}

interface SplitWriter {
  rgb: number;
  labels: number;
  lines: string[];
  frames: number;
  objects: number;
}

function openSplit(out: string, split: string): SplitWriter {
  return {
    rgb: fs.openSync(path.join(out, `${split}_rgb.u8`), 'w'),
    labels: fs.openSync(path.join(out, `${split}_labels.u8`), 'w'),
    lines: [],
    frames: 0,
    objects: 0,
  };
}

/** Box-averages an rgb8 image by an integer factor. */
function downsampleRgb(src: Uint8Array, w: number, h: number, f: number): Uint8Array {
  const ow = Math.floor(w / f);
  const oh = Math.floor(h / f);
  const out = new Uint8Array(ow * oh * 3);
  const inv = 1 / (f * f);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < f; dy++) {
          const row = ((y * f + dy) * w + x * f) * 3 + c;
          for (let dx = 0; dx < f; dx++) s += src[row + dx * 3];
        }
        out[(y * ow + x) * 3 + c] = Math.round(s * inv);
      }
    }
  }
  return out;
}

/** Nearest (centre-ish) sample of a label map by an integer factor. */
function downsampleLabels(src: Uint8Array, w: number, h: number, f: number): Uint8Array {
  const ow = Math.floor(w / f);
  const oh = Math.floor(h / f);
  const out = new Uint8Array(ow * oh);
  const o = f >> 1;
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) out[y * ow + x] = src[(y * f + o) * w + x * f + o];
  return out;
}

/** Visible bbox [x, y, w, h] and pixel count of label `id`. */
function labelStats(
  labels: Uint8Array,
  w: number,
  id: number,
): { bbox: [number, number, number, number]; n: number } {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== id) continue;
    const x = i % w;
    const y = (i - x) / w;
    n++;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return n === 0 ? { bbox: [0, 0, 0, 0], n } : { bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1], n };
}

function writeFrame(
  w: SplitWriter,
  scene: SynthScene,
  camera: CameraIntrinsics,
  camPoseWorld: Pose,
  minPixels: number,
  supersample: number,
): void {
  const f = supersample;
  const big = f > 1 ? scaledIntrinsics(camera.width * f, camera.height * f) : camera;
  const r = renderScene(scene, camPoseWorld, { sensor: false, camera: big });
  let labels = labelMap(scene, big, camPoseWorld, r.instanceMask, r.depthTrueM);
  let rgb = r.rgb.data;
  if (f > 1) {
    rgb = downsampleRgb(rgb, big.width, big.height, f);
    labels = downsampleLabels(labels, big.width, big.height, f);
  }
  fs.writeSync(w.rgb, rgb);
  fs.writeSync(w.labels, labels);
  const objects: DatasetObject[] = [];
  scene.objects.forEach((o) => {
    const st = labelStats(labels, camera.width, o.instanceId);
    if (st.n < minPixels) return;
    objects.push({
      instance_id: o.instanceId,
      category: o.category,
      colour: o.material.colour,
      secondary_colour: o.material.secondaryColour,
      texture: o.material.texture,
      bbox: st.bbox,
      px_count: st.n,
      captions: o.captions,
      held_out: isHeldOut(o.material.colour, o.category),
    });
  });
  const frame: DatasetFrame = {
    index: w.frames,
    scene_seed: scene.seed,
    width: camera.width,
    height: camera.height,
    objects,
  };
  w.lines.push(JSON.stringify(frame));
  w.frames++;
  w.objects += objects.length;
}

function closeSplit(out: string, split: string, w: SplitWriter): void {
  fs.closeSync(w.rgb);
  fs.closeSync(w.labels);
  fs.writeFileSync(path.join(out, `${split}.jsonl`), w.lines.join('\n') + (w.lines.length ? '\n' : ''));
}

function checkCount(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`synthData: ${name} must be an integer in ${lo}..${hi}, got ${v}`);
  }
}

/** Training scene seeds start here; evaluation seeds at EVAL_SEED_BASE (never overlapping). */
const TRAIN_SEED_BASE = 1_000_000;
const EVAL_SEED_BASE = 9_000_000;

/** Renders and writes the whole dataset (see the file comment). Deterministic in `opts.seed`. */
export function writeSynthDataset(opts: SynthDatasetOptions): SynthDatasetSummary {
  checkCount('seed', opts.seed, 0, 100_000);
  checkCount('trainScenes', opts.trainScenes, 0, 100_000);
  checkCount('viewsPerScene', opts.viewsPerScene, 1, 100);
  checkCount('evalScenes', opts.evalScenes, 0, 100_000);
  const trainCam = scaledIntrinsics(opts.trainWidth ?? 320, opts.trainHeight ?? 240);
  const evalCam = scaledIntrinsics(opts.evalWidth ?? 640, opts.evalHeight ?? 480);
  fs.mkdirSync(opts.out, { recursive: true });
  const total = opts.trainScenes * opts.viewsPerScene + opts.evalScenes;
  let done = 0;
  const train = openSplit(opts.out, 'train');
  for (let s = 0; s < opts.trainScenes; s++) {
    const seed = TRAIN_SEED_BASE + opts.seed * 100_000 + s;
    const scene = trainingScene(seed, trainCam);
    for (let v = 0; v < opts.viewsPerScene; v++) {
      writeFrame(train, scene, trainCam, randomCameraPose(scene, v), 40, opts.supersample ?? 2);
      opts.onProgress?.(++done, total);
    }
  }
  closeSplit(opts.out, 'train', train);
  const ev = openSplit(opts.out, 'eval');
  for (let s = 0; s < opts.evalScenes; s++) {
    const seed = EVAL_SEED_BASE + opts.seed * 100_000 + s;
    const scene = evalScene(seed, evalCam);
    writeFrame(ev, scene, evalCam, randomCameraPose(scene, 1000), 150, 1);
    opts.onProgress?.(++done, total);
  }
  closeSplit(opts.out, 'eval', ev);
  fs.writeFileSync(path.join(opts.out, 'vocab.txt'), vocabularyWords().join('\n') + '\n');
  const summary: SynthDatasetSummary = {
    format: 'declip-synth-dataset',
    version: 1,
    seed: opts.seed,
    splits: {
      train: {
        frames: train.frames,
        width: trainCam.width,
        height: trainCam.height,
        objects: train.objects,
        scenes: opts.trainScenes,
      },
      eval: {
        frames: ev.frames,
        width: evalCam.width,
        height: evalCam.height,
        objects: ev.objects,
        scenes: opts.evalScenes,
      },
    },
    held_out_pairs: HELD_OUT_PAIRS.map(([c, k]) => [c, k]),
    labels: { table: LABEL_TABLE, floor: LABEL_FLOOR, wall: LABEL_WALL, nothing: 0 },
    categories: [...CATEGORIES],
    colours: [...COLOUR_NAMES],
    vocab_file: 'vocab.txt',
    generator: 'src/training/synthData.ts',
  };
  fs.writeFileSync(path.join(opts.out, 'dataset.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

/** Reads {split}.jsonl of a dataset directory. */
export function readDatasetFrames(dir: string, split: string): DatasetFrame[] {
  const text = fs.readFileSync(path.join(dir, `${split}.jsonl`), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as DatasetFrame);
}

/** Reads frame `index` (rgb8 and label map) of a split. */
export function readDatasetImage(
  dir: string,
  split: string,
  frame: DatasetFrame,
): { rgb: Uint8Array; labels: Uint8Array } {
  const n = frame.width * frame.height;
  const rgb = Buffer.alloc(n * 3);
  const labels = Buffer.alloc(n);
  const fr = fs.openSync(path.join(dir, `${split}_rgb.u8`), 'r');
  const fl = fs.openSync(path.join(dir, `${split}_labels.u8`), 'r');
  try {
    fs.readSync(fr, rgb, 0, rgb.length, frame.index * n * 3);
    fs.readSync(fl, labels, 0, labels.length, frame.index * n);
  } finally {
    fs.closeSync(fr);
    fs.closeSync(fl);
  }
  return { rgb: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length), labels: new Uint8Array(labels) };
}

/**
 * Writes split `split` of a dataset as a `declip collect` frame dataset (the DeCLIP trainer's input,
 * src/training/python/declip_torch/train_data.py): out/dataset.json, out/manifest.jsonl, out/images/*.png and
 * out/masks/*.png (8-bit label maps: instance ids, LABEL_TABLE / LABEL_FLOOR / LABEL_WALL, 0 = nothing).
 * Returns the number of frames.
 */
export async function writeTrainerFrames(
  datasetDir: string,
  out: string,
  split = 'train',
  maxFrames = Infinity,
): Promise<number> {
  const frames = readDatasetFrames(datasetDir, split).slice(0, maxFrames);
  const lines: string[] = [];
  for (const fr of frames) {
    const { rgb, labels } = readDatasetImage(datasetDir, split, fr);
    const id = String(fr.index).padStart(6, '0');
    await writeRgbPng(path.join(out, 'images', `${id}.png`), {
      width: fr.width,
      height: fr.height,
      data: rgb,
    });
    await writeGray8Png(path.join(out, 'masks', `${id}.png`), labels, fr.width, fr.height);
    lines.push(
      JSON.stringify({
        id,
        image: `images/${id}.png`,
        width: fr.width,
        height: fr.height,
        mask: `masks/${id}.png`,
        split: 'train',
        source: {
          synthetic: true,
          dataset: path.basename(datasetDir),
          split,
          index: fr.index,
          scene_seed: fr.scene_seed,
        },
      }),
    );
  }
  fs.writeFileSync(path.join(out, 'manifest.jsonl'), lines.join('\n') + (lines.length ? '\n' : ''));
  fs.writeFileSync(
    path.join(out, 'dataset.json'),
    JSON.stringify(
      {
        format: 'declip-frames',
        version: 1,
        synthetic: true,
        frames: lines.length,
        generator: 'src/training/synthData.ts writeTrainerFrames',
        labels: { table: LABEL_TABLE, floor: LABEL_FLOOR, wall: LABEL_WALL, nothing: 0 },
      },
      null,
      2,
    ) + '\n',
  );
  return lines.length;
}
