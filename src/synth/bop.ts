/**
 * BOP-format export (https://github.com/thodan/bop_toolkit/blob/master/docs/bop_datasets_format.md):
 *
 *   out/models/obj_{id:06d}.ply         ASCII PLY, vertices in mm (object frame: base at z = 0), rgb, faces
 *   out/models/models_info.json         diameter, min_x/y/z, size_x/y/z (mm), symmetries_continuous/discrete
 *   out/camera.json                     cx, cy, fx, fy, width, height, depth_scale
 *   out/{split}/{scene:06d}/scene_camera.json   cam_K (row-major), depth_scale 1.0, cam_R_w2c, cam_t_w2c (mm)
 *   out/{split}/{scene:06d}/scene_gt.json       cam_R_m2c (row-major), cam_t_m2c (mm), obj_id
 *   out/{split}/{scene:06d}/scene_gt_info.json  bbox_obj, bbox_visib, px_count_all/valid/visib, visib_fract
 *   out/{split}/{scene:06d}/rgb/{im:06d}.png, depth/{im:06d}.png (uint16 mm),
 *                          mask/{im:06d}_{gt:06d}.png (amodal), mask_visib/{im:06d}_{gt:06d}.png (0/255)
 *
 * Every object instance of every exported sequence is its own model: obj_id 1.. in sequence then instance order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SynthExportError } from './errors';
import { invertPose } from './math';
import { meshDiameterM, type Mesh } from './mesh';
import { writeGray8Png, writeGray16Png, writeRgbPng } from './png';
import { renderSilhouette } from './render';
import type { Symmetry, SynthObject } from './scene';
import type { SynthSequence } from './sequence';

/** Options of exportBop. */
export interface BopExportOptions {
  /** Split folder name (default 'test'). */
  split?: string;
  /** Scene id of the first sequence (default 1). */
  firstSceneId?: number;
  /** Also write amodal masks in mask/ (default true). */
  amodalMasks?: boolean;
}

/** What exportBop wrote. */
export interface BopExportSummary {
  modelsDir: string;
  sceneDirs: string[];
  /** obj_id of every instance: objIds[sequenceIndex][instanceId - 1]. */
  objIds: number[][];
  imageCount: number;
}

const pad6 = (n: number): string => String(n).padStart(6, '0');
const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

async function writeJson(file: string, value: unknown): Promise<void> {
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(file, JSON.stringify(value, null, 1));
  } catch (e) {
    throw new SynthExportError(file, `cannot write JSON (${(e as Error).message})`, e);
  }
}

/** ASCII PLY of a mesh scaled to millimetres with a uniform vertex colour. */
export function meshToPly(mesh: Mesh, rgb: [number, number, number] = [200, 200, 200]): string {
  const p = mesh.positionsM;
  const nv = p.length / 3;
  const nf = mesh.indices.length / 3;
  const lines: string[] = [
    'ply',
    'format ascii 1.0',
    'comment declip-ros synth, units: mm',
    `element vertex ${nv}`,
    'property float x',
    'property float y',
    'property float z',
    'property uchar red',
    'property uchar green',
    'property uchar blue',
    `element face ${nf}`,
    'property list uchar int vertex_indices',
    'end_header',
  ];
  const col = `${rgb[0]} ${rgb[1]} ${rgb[2]}`;
  for (let i = 0; i < nv; i++) {
    lines.push(`${r6(p[3 * i] * 1000)} ${r6(p[3 * i + 1] * 1000)} ${r6(p[3 * i + 2] * 1000)} ${col}`);
  }
  const f = mesh.indices;
  for (let i = 0; i < nf; i++) lines.push(`3 ${f[3 * i]} ${f[3 * i + 1]} ${f[3 * i + 2]}`);
  return lines.join('\n') + '\n';
}

/** models_info.json entry of one object (mm). */
export function bopModelInfo(o: SynthObject): Record<string, unknown> {
  const info: Record<string, unknown> = {
    diameter: r6(meshDiameterM(o.mesh) * 1000),
    min_x: r6(o.minM[0] * 1000),
    min_y: r6(o.minM[1] * 1000),
    min_z: r6(o.minM[2] * 1000),
    size_x: r6(o.sizeM[0] * 1000),
    size_y: r6(o.sizeM[1] * 1000),
    size_z: r6(o.sizeM[2] * 1000),
  };
  const s: Symmetry = o.symmetry;
  if (s.kind === 'continuous') {
    info.symmetries_continuous = [{ axis: s.axis, offset: s.offsetM.map((v) => v * 1000) }];
  } else if (s.kind === 'discrete') {
    info.symmetries_discrete = s.transforms.map((t) => {
      const R = t.R;
      return [
        R[0],
        R[1],
        R[2],
        t.tM[0] * 1000,
        R[3],
        R[4],
        R[5],
        t.tM[1] * 1000,
        R[6],
        R[7],
        R[8],
        t.tM[2] * 1000,
        0,
        0,
        0,
        1,
      ].map(r6);
    });
  }
  return info;
}

/** Writes sequences in the BOP format under `outDir` (see the file comment for the layout). */
export async function exportBop(
  outDir: string,
  sequences: readonly SynthSequence[],
  opts: BopExportOptions = {},
): Promise<BopExportSummary> {
  const split = opts.split ?? 'test';
  const firstSceneId = opts.firstSceneId ?? 1;
  const amodal = opts.amodalMasks ?? true;
  const modelsDir = path.join(outDir, 'models');
  const objIds: number[][] = [];
  const modelsInfo: Record<string, unknown> = {};
  let nextId = 1;
  for (const seq of sequences) {
    const ids: number[] = [];
    for (const o of seq.scene.objects) {
      const id = nextId++;
      ids.push(id);
      const file = path.join(modelsDir, `obj_${pad6(id)}.ply`);
      try {
        await fs.promises.mkdir(modelsDir, { recursive: true });
        await fs.promises.writeFile(file, meshToPly(o.mesh, o.material.rgb));
      } catch (e) {
        throw new SynthExportError(file, `cannot write PLY (${(e as Error).message})`, e);
      }
      modelsInfo[String(id)] = bopModelInfo(o);
    }
    objIds.push(ids);
  }
  await writeJson(path.join(modelsDir, 'models_info.json'), modelsInfo);
  const cam0 = sequences[0]?.frames[0]?.camera;
  if (cam0) {
    await writeJson(path.join(outDir, 'camera.json'), {
      cx: cam0.cx,
      cy: cam0.cy,
      depth_scale: 1.0,
      fx: cam0.fx,
      fy: cam0.fy,
      height: cam0.height,
      width: cam0.width,
    });
  }
  const sceneDirs: string[] = [];
  let imageCount = 0;
  for (let s = 0; s < sequences.length; s++) {
    const seq = sequences[s];
    const dir = path.join(outDir, split, pad6(firstSceneId + s));
    sceneDirs.push(dir);
    const sceneCamera: Record<string, unknown> = {};
    const sceneGt: Record<string, unknown> = {};
    const sceneGtInfo: Record<string, unknown> = {};
    for (const f of seq.frames) {
      const im = f.index;
      const K = f.camera;
      const w2c = invertPose(f.camPoseWorld);
      sceneCamera[String(im)] = {
        cam_K: [K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1],
        depth_scale: 1.0,
        cam_R_w2c: Array.from(w2c.R, r6),
        cam_t_w2c: Array.from(w2c.tM, (v) => r6(v * 1000)),
      };
      const W = K.width;
      const H = K.height;
      await writeRgbPng(path.join(dir, 'rgb', `${pad6(im)}.png`), f.rgb);
      await writeGray16Png(path.join(dir, 'depth', `${pad6(im)}.png`), f.depthMm, W, H);
      const gts: unknown[] = [];
      const infos: unknown[] = [];
      for (let g = 0; g < f.objects.length; g++) {
        const o = f.objects[g];
        gts.push({
          cam_R_m2c: Array.from(o.poseCam.R, r6),
          cam_t_m2c: Array.from(o.poseCam.tM, (v) => r6(v * 1000)),
          obj_id: objIds[s][o.instanceId - 1],
        });
        const sil = renderSilhouette(o.mesh, o.poseCam, K);
        const visib = new Uint8Array(W * H);
        for (let i = 0; i < W * H; i++) if (f.instanceMask[i] === o.instanceId) visib[i] = 255;
        await writeGray8Png(path.join(dir, 'mask_visib', `${pad6(im)}_${pad6(g)}.png`), visib, W, H);
        if (amodal) {
          const m = sil.mask;
          const full = new Uint8Array(W * H);
          for (let i = 0; i < W * H; i++) full[i] = m[i] ? 255 : 0;
          await writeGray8Png(path.join(dir, 'mask', `${pad6(im)}_${pad6(g)}.png`), full, W, H);
        }
        infos.push({
          bbox_obj: sil.pxCount > 0 ? sil.bbox : [-1, -1, -1, -1],
          bbox_visib: o.pxCountVisib > 0 ? o.bboxVisib : [-1, -1, -1, -1],
          px_count_all: sil.pxCount,
          px_count_valid: o.pxCountValid,
          px_count_visib: o.pxCountVisib,
          visib_fract: sil.pxCount > 0 ? r6(Math.min(1, o.pxCountVisib / sil.pxCount)) : 0,
        });
      }
      sceneGt[String(im)] = gts;
      sceneGtInfo[String(im)] = infos;
      imageCount++;
    }
    await writeJson(path.join(dir, 'scene_camera.json'), sceneCamera);
    await writeJson(path.join(dir, 'scene_gt.json'), sceneGt);
    await writeJson(path.join(dir, 'scene_gt_info.json'), sceneGtInfo);
  }
  return { modelsDir, sceneDirs, objIds, imageCount };
}
