/**
 * REAL275 (NOCS layout, Wang et al. CVPR 2019) -> one MCAP bag per scene + the model set (format.ts):
 *   <src>/real_test/scene_N/XXXX_color.png, XXXX_depth.png (uint16 mm), XXXX_mask.png (instance id,
 *   255 = background), XXXX_meta.txt (`inst_id class_id model_name` per line), XXXX_coord.png (unused)
 *   <src>/gts/real_test/results_real_test_scene_N_XXXX.pkl  (object-deformnet / NOCS ground truth: a pickled
 *   dict of numpy arrays gt_class_ids, gt_RTs, gt_scales, gt_handle_visibility; read with ./pickle.ts, no
 *   Python needed; a `.json` file with the same keys, as written by src/synth exportNocs, is read as well)
 *   <src>/obj_models/real_test/<model_name>.obj (metres, NOCS canonical frame: y up, bbox-centred)
 * gt_RTs fold the NOCS scale s into the rotation: RT[:3,:3] = s R. We take s = mean column norm, R = RT/s
 * (re-orthonormalised) and t = RT[:3,3], so p_cam = R p_model + t for the metric .obj model; extents are
 * gt_scales x s. A GT entry is matched to its meta instance by gt_model_names / gt_instance_ids when present,
 * else by class id and the projection of t nearest to the instance's mask centroid.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseObj } from '../../pose/models';
import { REAL275_INTRINSICS, type CameraIntrinsics } from '../../types';
import { isNdArray, ndToNested, readPickleFile, type NdArray } from './pickle';
import {
  EvalDatasetError,
  frameStamp,
  readGrayImage,
  readJsonFile,
  readRgbImage,
  requireFiles,
  verticesDiameterM,
  writeConvertedScenes,
  previousPrompts,
  type ConvertedFrame,
  type ConvertOptions,
  type ConvertSummary,
  type GtObject,
  type StoredModel,
} from './format';

/** NOCS class ids. */
export const NOCS_CLASSES: Record<number, string> = {
  1: 'bottle',
  2: 'bowl',
  3: 'camera',
  4: 'can',
  5: 'laptop',
  6: 'mug',
};
/** Classes treated as rotationally symmetric about the model's y axis (NOCS: bottle, bowl, can). */
export const NOCS_SYMMETRIC_CLASSES = new Set([1, 2, 4]);

/** Default prompt of a REAL275 model name: `mug_brown_starbucks_norm` -> `mug brown starbucks`. */
export function promptFromModelName(name: string): string {
  return name
    .replace(/_norm$/, '')
    .replace(/[_-]+/g, ' ')
    .trim();
}

/** The GT of one NOCS frame as arrays, from the pickle (or JSON) file. */
export interface NocsGt {
  classIds: number[];
  rts: number[][][];
  scales: number[][];
  handleVisibility: number[];
  instanceIds?: number[];
  modelNames?: string[];
}

function toArr(v: unknown): unknown {
  return isNdArray(v) ? ndToNested(v as NdArray) : v;
}

/** Reads results_*.pkl / .json ground truth. */
export function readNocsGt(file: string): NocsGt {
  const raw = (
    file.endsWith('.json') ? readJsonFile<Record<string, unknown>>(file, 'NOCS GT') : readPickleFile(file)
  ) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object') throw new EvalDatasetError('GT file does not hold a dict', [file]);
  for (const k of ['gt_class_ids', 'gt_RTs', 'gt_scales']) {
    if (raw[k] === undefined) throw new EvalDatasetError(`GT file has no "${k}"`, [file]);
  }
  const classIds = (toArr(raw.gt_class_ids) as number[]).map(Number);
  const n = classIds.length;
  const rts = (n ? toArr(raw.gt_RTs) : []) as number[][][];
  const scales = (n ? toArr(raw.gt_scales) : []) as number[][];
  const hv = raw.gt_handle_visibility !== undefined ? (toArr(raw.gt_handle_visibility) as number[]) : [];
  if (rts.length !== n || scales.length !== n) {
    throw new EvalDatasetError(
      `GT arrays disagree: ${n} class ids, ${rts.length} RTs, ${scales.length} scales`,
      [file],
    );
  }
  return {
    classIds,
    rts,
    scales,
    handleVisibility: hv.length === n ? hv.map(Number) : classIds.map(() => 1),
    ...(raw.gt_instance_ids !== undefined
      ? { instanceIds: (toArr(raw.gt_instance_ids) as number[]).map(Number) }
      : {}),
    ...(Array.isArray(raw.gt_model_names)
      ? { modelNames: (raw.gt_model_names as unknown[]).map(String) }
      : {}),
  };
}

/** Splits a NOCS RT (4x4, scale folded into the rotation) into a unit rotation, translation and scale. */
export function decomposeNocsRt(rt: number[][]): { R: number[]; tM: number[]; scale: number } {
  const col = (j: number) => Math.hypot(rt[0][j], rt[1][j], rt[2][j]);
  const s = (col(0) + col(1) + col(2)) / 3;
  if (!(s > 0)) throw new EvalDatasetError('gt_RTs entry has a zero rotation block');
  let R = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => rt[i][j] / s));
  // two polar iterations R <- (R + R^-T) / 2 remove residual non-orthogonality
  for (let it = 0; it < 3; it++) {
    const [a, b, c, d, e, f, g, h, i] = R;
    const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    const invT = [
      (e * i - f * h) / det,
      -(d * i - f * g) / det,
      (d * h - e * g) / det,
      -(b * i - c * h) / det,
      (a * i - c * g) / det,
      -(a * h - b * g) / det,
      (b * f - c * e) / det,
      -(a * f - c * d) / det,
      (a * e - b * d) / det,
    ];
    R = R.map((v, k) => (v + invT[k]) / 2);
  }
  return { R, tM: [rt[0][3], rt[1][3], rt[2][3]], scale: s };
}

interface MetaLine {
  instId: number;
  classId: number;
  modelName: string;
}

function readMeta(file: string): MetaLine[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [a, b, c] = l.split(/\s+/);
      if (c === undefined || !Number.isFinite(Number(a)) || !Number.isFinite(Number(b))) {
        throw new EvalDatasetError(`bad meta line "${l}" (expected "inst_id class_id model_name")`, [file]);
      }
      return { instId: Number(a), classId: Number(b), modelName: c };
    });
}

interface NocsScene {
  sceneId: string;
  dir: string;
  stems: string[];
  gtFiles: string[];
}

function gtFileFor(gtDir: string, subset: string, sceneId: string, stem: string): string {
  const base = path.join(gtDir, `results_${subset}_${sceneId}_${stem}`);
  return fs.existsSync(base + '.pkl')
    ? base + '.pkl'
    : fs.existsSync(base + '.json')
      ? base + '.json'
      : base + '.pkl';
}

/** Options of convertReal275. */
export interface Real275ConvertOptions extends ConvertOptions {
  /** Subset folder (default 'real_test'). */
  subset?: string;
  /**
   * Camera intrinsics. Default: `<src>/camera.json` ({fx, fy, cx, cy}) when present, else the REAL275 intrinsics
   * (fx 591.0125 fy 590.16775 cx 322.525 cy 244.11084 at 640x480), scaled when the images have another size.
   */
  camera?: Omit<CameraIntrinsics, 'width' | 'height'>;
}

/** Converts REAL275 (or any NOCS-layout subset) to scene bags + model set. */
export async function convertReal275(opts: Real275ConvertOptions): Promise<ConvertSummary> {
  const dataset = 'real275';
  const subset = opts.subset ?? 'real_test';
  const imgDir = path.join(opts.srcDir, subset);
  const gtDir = path.join(opts.srcDir, 'gts', subset);
  const modelDir = path.join(opts.srcDir, 'obj_models', subset);
  requireFiles(
    `REAL275 dataset ${opts.srcDir}`,
    [imgDir, gtDir, modelDir],
    `expected <root>/${subset}/, <root>/gts/${subset}/ and <root>/obj_models/${subset}/ (see the README: download REAL275 + the NOCS/SPD ground truth)`,
  );
  let sceneIds = fs
    .readdirSync(imgDir)
    .filter((d) => /^scene_\d+$/.test(d))
    .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
  if (opts.scenes?.length) {
    const want = new Set(opts.scenes.map((s) => (/^\d+$/.test(s) ? `scene_${s}` : s)));
    const unknown = [...want].filter((s) => !sceneIds.includes(s));
    if (unknown.length)
      throw new EvalDatasetError(
        'requested scenes not found',
        unknown.map((u) => path.join(imgDir, u)),
      );
    sceneIds = sceneIds.filter((s) => want.has(s));
  }
  const scenes: NocsScene[] = [];
  const modelNames = new Map<string, number>();
  for (const sceneId of sceneIds) {
    const dir = path.join(imgDir, sceneId);
    let stems = fs
      .readdirSync(dir)
      .filter((f) => /^\d+_color\.png$/.test(f))
      .map((f) => f.slice(0, f.indexOf('_')))
      .sort();
    if (opts.maxFrames !== undefined) stems = stems.slice(0, opts.maxFrames);
    const need: string[] = [];
    const gtFiles = stems.map((st) => gtFileFor(gtDir, subset, sceneId, st));
    stems.forEach((st, i) => {
      for (const suf of ['depth.png', 'mask.png', 'meta.txt']) need.push(path.join(dir, `${st}_${suf}`));
      need.push(gtFiles[i]);
    });
    requireFiles(
      `REAL275 ${sceneId}`,
      need,
      'frames are incomplete (depth, mask, meta or gts pickle missing)',
    );
    for (const st of stems) {
      for (const m of readMeta(path.join(dir, `${st}_meta.txt`)))
        if (m.classId > 0) modelNames.set(m.modelName, m.classId);
    }
    scenes.push({ sceneId, dir, stems, gtFiles });
  }
  requireFiles(
    'REAL275 object models',
    [...modelNames.keys()].map((n) => path.join(modelDir, `${n}.obj`)),
    'obj_models/real_test/<model_name>.obj files are missing',
  );
  // Model set
  const outModels = path.join(opts.outDir, 'models');
  fs.mkdirSync(outModels, { recursive: true });
  const objects: Record<string, StoredModel> = {};
  const prev = opts.overwrite ? {} : previousPrompts(opts.outDir);
  for (const [name, classId] of [...modelNames.entries()].sort()) {
    const src = path.join(modelDir, `${name}.obj`);
    const mesh = parseObj(fs.readFileSync(src, 'utf8'));
    const v = mesh.vertices;
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < v.length; i += 3) {
      for (let k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k], v[i + k]);
        hi[k] = Math.max(hi[k], v[i + k]);
      }
    }
    objects[name] = {
      file: `${name}.obj`,
      scaleToM: 1,
      diameterM: verticesDiameterM(v),
      prompt: opts.prompts?.[name] ?? prev[name] ?? promptFromModelName(name),
      classId,
      minM: lo,
      sizeM: hi.map((h, k) => h - lo[k]),
      ...(NOCS_SYMMETRIC_CLASSES.has(classId)
        ? { symmetries: { continuous: [{ axis: [0, 1, 0], offsetM: [0, 0, 0] }] } }
        : {}),
    };
    const dst = path.join(outModels, `${name}.obj`);
    if (!fs.existsSync(dst)) fs.copyFileSync(src, dst);
  }
  const camFile = path.join(opts.srcDir, 'camera.json');
  const camBase = opts.camera ?? (fs.existsSync(camFile) ? readCameraJson(camFile) : undefined);
  return writeConvertedScenes(
    dataset,
    opts,
    objects,
    scenes,
    (s) => s.stems.length,
    (s) => nocsFrames(dataset, s, objects, camBase),
  );
}

function readCameraJson(file: string): Omit<CameraIntrinsics, 'width' | 'height'> {
  const c = readJsonFile<Record<string, number>>(file, 'camera.json');
  for (const k of ['fx', 'fy', 'cx', 'cy']) {
    if (!Number.isFinite(c[k])) throw new EvalDatasetError(`camera.json: "${k}" must be a number`, [file]);
  }
  return { fx: c.fx, fy: c.fy, cx: c.cx, cy: c.cy };
}

/** REAL275 intrinsics for an image size (scaled from 640x480; pixel centres kept aligned). */
export function real275Intrinsics(width: number, height: number): CameraIntrinsics {
  const K = REAL275_INTRINSICS;
  const sx = width / K.width;
  const sy = height / K.height;
  return {
    width,
    height,
    fx: K.fx * sx,
    fy: K.fy * sy,
    cx: (K.cx + 0.5) * sx - 0.5,
    cy: (K.cy + 0.5) * sy - 0.5,
  };
}

async function* nocsFrames(
  dataset: string,
  s: NocsScene,
  models: Record<string, StoredModel>,
  camBase: Omit<CameraIntrinsics, 'width' | 'height'> | undefined,
): AsyncGenerator<ConvertedFrame> {
  for (let fi = 0; fi < s.stems.length; fi++) {
    const st = s.stems[fi];
    const rgb = await readRgbImage(path.join(s.dir, `${st}_color.png`));
    const W = rgb.width;
    const H = rgb.height;
    const camera: CameraIntrinsics = camBase ? { ...camBase, width: W, height: H } : real275Intrinsics(W, H);
    const depthFile = path.join(s.dir, `${st}_depth.png`);
    const depth = await readGrayImage(depthFile);
    const maskFile = path.join(s.dir, `${st}_mask.png`);
    const maskIm = await readGrayImage(maskFile);
    for (const [f, im] of [
      [depthFile, depth],
      [maskFile, maskIm],
    ] as const) {
      if (im.width !== W || im.height !== H) {
        throw new EvalDatasetError(`image is ${im.width}x${im.height}, colour is ${W}x${H}`, [f]);
      }
    }
    const meta = readMeta(path.join(s.dir, `${st}_meta.txt`)).filter((m) => m.classId > 0);
    const gt = readNocsGt(s.gtFiles[fi]);
    // mask statistics per instance id
    const cnt = new Map<number, { n: number; su: number; sv: number }>();
    for (let i = 0; i < maskIm.data.length; i++) {
      const id = maskIm.data[i];
      if (id === 255 || id === 0) continue;
      const c = cnt.get(id) ?? { n: 0, su: 0, sv: 0 };
      c.n++;
      c.su += i % W;
      c.sv += Math.floor(i / W);
      cnt.set(id, c);
    }
    const used = new Set<number>();
    const objects: GtObject[] = [];
    const instOf: number[] = [];
    for (let k = 0; k < gt.classIds.length; k++) {
      const pose = decomposeNocsRt(gt.rts[k]);
      let m: MetaLine | undefined;
      if (gt.modelNames) m = meta.find((x) => x.modelName === gt.modelNames![k]);
      else if (gt.instanceIds) m = meta.find((x) => x.instId === gt.instanceIds![k]);
      else {
        const [x, y, z] = pose.tM;
        const u = (camera.fx * x) / z + camera.cx;
        const v = (camera.fy * y) / z + camera.cy;
        let best = Infinity;
        for (const c of meta) {
          if (c.classId !== gt.classIds[k] || used.has(c.instId)) continue;
          const st2 = cnt.get(c.instId);
          const d = st2 ? Math.hypot(st2.su / st2.n - u, st2.sv / st2.n - v) : 1e9;
          if (d < best) {
            best = d;
            m = c;
          }
        }
      }
      if (!m) {
        throw new EvalDatasetError(
          `GT entry ${k} (class ${gt.classIds[k]}) matches no instance of the meta file`,
          [s.gtFiles[fi], path.join(s.dir, `${st}_meta.txt`)],
        );
      }
      used.add(m.instId);
      const model = models[m.modelName];
      const px = cnt.get(m.instId)?.n ?? 0;
      objects.push({
        index: k,
        objectId: m.modelName,
        prompt: model.prompt,
        classId: gt.classIds[k],
        R: pose.R,
        tM: pose.tM,
        visibFract: px > 0 ? 1 : 0,
        pxCountVisib: px,
        handleVisible: gt.handleVisibility[k] !== 0,
        extentsM: gt.scales[k].map((v) => v * pose.scale),
      });
      instOf.push(m.instId);
    }
    const lut = new Map(instOf.map((id, k) => [id, k + 1]));
    const mask = new Uint16Array(W * H);
    for (let i = 0; i < mask.length; i++) mask[i] = lut.get(maskIm.data[i]) ?? 0;
    const depthMm = Uint16Array.from(depth.data);
    yield {
      rgb,
      depthMm,
      camera,
      instanceMask: mask,
      gt: {
        dataset,
        sceneId: s.sceneId,
        frameId: st,
        stampNs: frameStamp(fi).toString(),
        width: W,
        height: H,
        objects,
      },
    };
  }
}
