/**
 * BOP-format datasets (TOYL and any BOP dataset, https://github.com/thodan/bop_toolkit/blob/master/docs/bop_datasets_format.md)
 * -> one MCAP bag per scene + the model set (see format.ts for the output layout):
 *   <src>/<split>/<scene>/rgb/<im>.png|jpg, depth/<im>.png (x depth_scale = mm), mask_visib/<im>_<gt>.png,
 *   scene_camera.json (cam_K row-major, depth_scale), scene_gt.json (cam_R_m2c, cam_t_m2c in mm, obj_id),
 *   scene_gt_info.json (visib_fract, px_count_visib), <src>/models/obj_<id>.ply (mm) + models_info.json
 *   (diameter in mm, symmetries_discrete with mm translations, symmetries_continuous with mm offsets).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { CameraIntrinsics } from '../../types';
import {
  EvalDatasetError,
  frameStamp,
  readGrayImage,
  readJsonFile,
  readRgbImage,
  requireFiles,
  writeConvertedScenes,
  previousPrompts,
  type ConvertedFrame,
  type ConvertOptions,
  type ConvertSummary,
  type GtObject,
  type StoredModel,
} from './format';

const pad6 = (n: number | string) => String(n).padStart(6, '0');

interface BopModelInfo {
  diameter: number;
  min_x?: number;
  min_y?: number;
  min_z?: number;
  size_x?: number;
  size_y?: number;
  size_z?: number;
  symmetries_discrete?: number[][];
  symmetries_continuous?: { axis: number[]; offset: number[] }[];
}

/** models_info.json entry (mm) -> StoredModel (m). */
export function bopModelToStored(objId: string, info: BopModelInfo, prompt: string): StoredModel {
  if (!(info.diameter > 0)) {
    throw new EvalDatasetError(`models_info.json: object ${objId} has no positive "diameter" (mm)`);
  }
  const m: StoredModel = {
    file: `obj_${pad6(objId)}.ply`,
    scaleToM: 0.001,
    diameterM: info.diameter / 1000,
    prompt,
  };
  if (info.min_x !== undefined && info.size_x !== undefined) {
    m.minM = [info.min_x, info.min_y ?? 0, info.min_z ?? 0].map((v) => v / 1000);
    m.sizeM = [info.size_x, info.size_y ?? 0, info.size_z ?? 0].map((v) => v / 1000);
  }
  const disc = info.symmetries_discrete?.map((t) =>
    t.map((v, i) => (i === 3 || i === 7 || i === 11 ? v / 1000 : v)),
  );
  const cont = info.symmetries_continuous?.map((c) => ({
    axis: c.axis,
    offsetM: c.offset.map((v) => v / 1000),
  }));
  if (disc?.length || cont?.length) {
    m.symmetries = {
      ...(disc?.length ? { discrete: disc } : {}),
      ...(cont?.length ? { continuous: cont } : {}),
    };
  }
  return m;
}

function firstExisting(cands: string[]): string {
  return cands.find((c) => fs.existsSync(c)) ?? cands[0];
}

interface BopScene {
  sceneId: string;
  dir: string;
  imageIds: string[];
  camera: Record<string, { cam_K: number[]; depth_scale?: number }>;
  gt: Record<string, { cam_R_m2c: number[]; cam_t_m2c: number[]; obj_id: number }[]>;
  gtInfo: Record<string, { visib_fract?: number; px_count_visib?: number }[]>;
}

function loadScene(dir: string, sceneId: string, maxFrames?: number): BopScene {
  const files = ['scene_camera.json', 'scene_gt.json', 'scene_gt_info.json'].map((f) => path.join(dir, f));
  requireFiles(
    `BOP scene ${sceneId}`,
    files,
    'this is not a complete BOP scene (download the full test split)',
  );
  const camera = readJsonFile<BopScene['camera']>(files[0], 'scene_camera.json');
  const gt = readJsonFile<BopScene['gt']>(files[1], 'scene_gt.json');
  const gtInfo = readJsonFile<BopScene['gtInfo']>(files[2], 'scene_gt_info.json');
  let imageIds = Object.keys(gt).sort((a, b) => Number(a) - Number(b));
  if (maxFrames !== undefined) imageIds = imageIds.slice(0, maxFrames);
  const need: string[] = [];
  for (const im of imageIds) {
    if (!camera[im]) throw new EvalDatasetError(`scene_camera.json has no entry for image ${im}`, [files[0]]);
    need.push(
      firstExisting([path.join(dir, 'rgb', `${pad6(im)}.png`), path.join(dir, 'rgb', `${pad6(im)}.jpg`)]),
    );
    need.push(path.join(dir, 'depth', `${pad6(im)}.png`));
    gt[im].forEach((_, k) => need.push(path.join(dir, 'mask_visib', `${pad6(im)}_${pad6(k)}.png`)));
  }
  requireFiles(`BOP scene ${sceneId}`, need, 'images or masks are missing; re-extract the dataset archive');
  return { sceneId, dir, imageIds, camera, gt, gtInfo };
}

async function* bopFrames(
  dataset: string,
  s: BopScene,
  models: Record<string, StoredModel>,
): AsyncGenerator<ConvertedFrame> {
  for (let fi = 0; fi < s.imageIds.length; fi++) {
    const im = s.imageIds[fi];
    const rgb = await readRgbImage(
      firstExisting([path.join(s.dir, 'rgb', `${pad6(im)}.png`), path.join(s.dir, 'rgb', `${pad6(im)}.jpg`)]),
    );
    const depthFile = path.join(s.dir, 'depth', `${pad6(im)}.png`);
    const depth = await readGrayImage(depthFile);
    const W = rgb.width;
    const H = rgb.height;
    if (depth.width !== W || depth.height !== H) {
      throw new EvalDatasetError(`depth is ${depth.width}x${depth.height}, colour is ${W}x${H}`, [depthFile]);
    }
    const cam = s.camera[im];
    const K = cam.cam_K;
    const camera: CameraIntrinsics = { width: W, height: H, fx: K[0], fy: K[4], cx: K[2], cy: K[5] };
    const scale = cam.depth_scale ?? 1;
    const depthMm = new Uint16Array(W * H);
    for (let i = 0; i < depthMm.length; i++) depthMm[i] = Math.min(65535, Math.round(depth.data[i] * scale));
    const mask = new Uint16Array(W * H);
    const objects: GtObject[] = [];
    const gts = s.gt[im];
    for (let k = 0; k < gts.length; k++) {
      const g = gts[k];
      const mf = path.join(s.dir, 'mask_visib', `${pad6(im)}_${pad6(k)}.png`);
      const m = await readGrayImage(mf);
      if (m.width !== W || m.height !== H) {
        throw new EvalDatasetError(`mask is ${m.width}x${m.height}, colour is ${W}x${H}`, [mf]);
      }
      let px = 0;
      for (let i = 0; i < m.data.length; i++) {
        if (m.data[i] > 0) {
          mask[i] = k + 1;
          px++;
        }
      }
      const objectId = String(g.obj_id);
      const model = models[objectId];
      if (!model)
        throw new EvalDatasetError(`scene_gt.json names obj_id ${objectId}, absent from models_info.json`);
      const info = s.gtInfo[im]?.[k];
      objects.push({
        index: k,
        objectId,
        prompt: model.prompt,
        R: g.cam_R_m2c.map(Number),
        tM: g.cam_t_m2c.map((v) => Number(v) / 1000),
        visibFract: info?.visib_fract,
        pxCountVisib: info?.px_count_visib ?? px,
        ...(model.sizeM ? { extentsM: model.sizeM } : {}),
      });
    }
    yield {
      rgb,
      depthMm,
      camera,
      instanceMask: mask,
      gt: {
        dataset,
        sceneId: s.sceneId,
        frameId: im,
        stampNs: frameStamp(fi).toString(),
        width: W,
        height: H,
        objects,
      },
    };
  }
}

/** Options of convertBop. */
export interface BopConvertOptions extends ConvertOptions {
  /** Name recorded in the output ('toyl', 'bop', 'ycbv', ...). Default 'bop'. */
  dataset?: string;
  /** Split folder (default 'test'). */
  split?: string;
}

/** Converts a BOP dataset (TOYL, YCB-V, ...) to scene bags + model set. */
export async function convertBop(opts: BopConvertOptions): Promise<ConvertSummary> {
  const dataset = opts.dataset ?? 'bop';
  const split = opts.split ?? 'test';
  const splitDir = path.join(opts.srcDir, split);
  const modelsDir = path.join(opts.srcDir, 'models');
  const infoFile = path.join(modelsDir, 'models_info.json');
  requireFiles(
    `BOP dataset ${opts.srcDir}`,
    [splitDir, infoFile],
    `expected <root>/${split}/ and <root>/models/models_info.json`,
  );
  const infos = readJsonFile<Record<string, BopModelInfo>>(infoFile, 'models_info.json');
  const objects: Record<string, StoredModel> = {};
  const prev = opts.overwrite ? {} : previousPrompts(opts.outDir);
  for (const [id, info] of Object.entries(infos)) {
    objects[id] = bopModelToStored(id, info, opts.prompts?.[id] ?? prev[id] ?? `object ${id}`);
  }
  requireFiles(
    'BOP models',
    Object.values(objects).map((m) => path.join(modelsDir, m.file)),
    'models/obj_XXXXXX.ply files are missing',
  );
  let sceneIds = fs
    .readdirSync(splitDir)
    .filter((d) => fs.statSync(path.join(splitDir, d)).isDirectory())
    .sort();
  if (opts.scenes?.length) {
    const want = new Set(opts.scenes.map((s) => (/^\d+$/.test(s) ? pad6(s) : s)));
    const unknown = [...want].filter((s) => !sceneIds.includes(s));
    if (unknown.length) {
      throw new EvalDatasetError(
        'requested scenes not found',
        unknown.map((u) => path.join(splitDir, u)),
      );
    }
    sceneIds = sceneIds.filter((s) => want.has(s));
  }
  // Validate every scene before writing anything.
  const scenes = sceneIds.map((id) => loadScene(path.join(splitDir, id), id, opts.maxFrames));
  const outModels = path.join(opts.outDir, 'models');
  fs.mkdirSync(outModels, { recursive: true });
  for (const m of Object.values(objects)) {
    const dst = path.join(outModels, m.file);
    if (!fs.existsSync(dst)) fs.copyFileSync(path.join(modelsDir, m.file), dst);
  }
  return writeConvertedScenes(
    dataset,
    opts,
    objects,
    scenes,
    (s) => s.imageIds.length,
    (s) => bopFrames(dataset, s, objects),
  );
}
