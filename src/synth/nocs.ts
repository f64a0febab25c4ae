/**
 * NOCS / REAL275 layout export (ground truth as JSON instead of pickle):
 *
 *   out/{subset}/scene_{k}/{i:04d}_color.png   rgb8
 *   out/{subset}/scene_{k}/{i:04d}_depth.png   uint16 depth in mm (0 = invalid)
 *   out/{subset}/scene_{k}/{i:04d}_mask.png    uint8 instance id (= meta inst_id), 255 = background
 *   out/{subset}/scene_{k}/{i:04d}_coord.png   NOCS coordinates as rgb8: R = x, G = y, B = 1 - z (NOCS's loader
 *                                              reads BGR, swaps to RGB, divides by 255 and flips z); 0 off-object
 *   out/{subset}/scene_{k}/{i:04d}_meta.txt    lines `inst_id class_id model_name` (box = class 0, a distractor)
 *   out/gts/{subset}/results_{subset}_scene_{k}_{i:04d}.json
 *       { image_path, gt_class_ids, gt_instance_ids, gt_model_names, gt_bboxes [y1, x1, y2, x2],
 *         gt_RTs (4x4, row-major nested, scale folded into the rotation, translation in metres),
 *         gt_scales (normalised bbox extents, |scales| = 1), gt_handle_visibility }
 *   out/obj_models/{subset}/{model_name}.obj   mesh in the NOCS canonical frame, metres
 *   out/obj_models/{subset}/{model_name}.txt   bbox extents (x y z, metres) in that frame
 *
 * Canonical frame (what we do, exactly): from our object frame (z up, base at z = 0), subtract the bbox centre c,
 * then rotate (x, y, z) -> (x, z, -y): NOCS +y is up, our front (-y: camera lens, laptop keyboard side) becomes
 * NOCS +z, the mug handle stays at +x. The .obj holds these metric vertices; the normalising scale is
 * s = |extents| (bbox diagonal), NOCS = canonical / s + 0.5 (so the bbox diagonal is 1, as object-deformnet does
 * with `model_points /= np.linalg.norm(bbox_dims)`). gt_RTs = [[s R_oc Rc^T, R_oc c + t_oc], [0 0 0 1]] maps
 * (NOCS - 0.5) to camera metres; gt_scales = extents / s.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Pose } from '../types';
import { SynthExportError } from './errors';
import { matMul3, transpose3, type Vec3 } from './math';
import type { Category, Mesh } from './mesh';
import { writeGray8Png, writeGray16Png, writeRgbPng } from './png';
import type { SynthObject } from './scene';
import type { SynthFrame, SynthSequence } from './sequence';

/** NOCS class ids (0 = not a NOCS category: box, written as a distractor). */
export const NOCS_CLASS_IDS: Record<Category, number> = {
  bottle: 1,
  bowl: 2,
  camera: 3,
  can: 4,
  laptop: 5,
  mug: 6,
  box: 0,
};

/** Rotation from our object frame to the NOCS canonical frame: (x, y, z) -> (x, z, -y). Row-major. */
export const OBJ_TO_NOCS_R = Float64Array.from([1, 0, 0, 0, 0, 1, 0, -1, 0]);

/** Canonical NOCS frame parameters of an object: bbox centre (object frame), extents (NOCS frame), scale. */
export function nocsFrame(o: { minM: Vec3; sizeM: Vec3 }): { centreM: Vec3; extentsM: Vec3; scaleM: number } {
  const centreM: Vec3 = [o.minM[0] + o.sizeM[0] / 2, o.minM[1] + o.sizeM[1] / 2, o.minM[2] + o.sizeM[2] / 2];
  const extentsM: Vec3 = [o.sizeM[0], o.sizeM[2], o.sizeM[1]];
  return { centreM, extentsM, scaleM: Math.hypot(...extentsM) };
}

/** Object-frame point -> NOCS coordinates in [0, 1]^3. */
export function objectToNocs(o: { minM: Vec3; sizeM: Vec3 }, x: number, y: number, z: number): Vec3 {
  const f = nocsFrame(o);
  const dx = x - f.centreM[0];
  const dy = y - f.centreM[1];
  const dz = z - f.centreM[2];
  return [dx / f.scaleM + 0.5, dz / f.scaleM + 0.5, -dy / f.scaleM + 0.5];
}

/** NOCS 4x4 RT (row-major nested) of an object with pose object -> camera. */
export function nocsRt(o: { minM: Vec3; sizeM: Vec3 }, poseCam: Pose): number[][] {
  const f = nocsFrame(o);
  const A = matMul3(poseCam.R, transpose3(OBJ_TO_NOCS_R));
  const R = poseCam.R;
  const c = f.centreM;
  const t = [0, 1, 2].map((i) => R[3 * i] * c[0] + R[3 * i + 1] * c[1] + R[3 * i + 2] * c[2] + poseCam.tM[i]);
  return [
    [f.scaleM * A[0], f.scaleM * A[1], f.scaleM * A[2], t[0]],
    [f.scaleM * A[3], f.scaleM * A[4], f.scaleM * A[5], t[1]],
    [f.scaleM * A[6], f.scaleM * A[7], f.scaleM * A[8], t[2]],
    [0, 0, 0, 1],
  ];
}

/** Wavefront OBJ of the mesh in the NOCS canonical frame (metres, centred). */
export function meshToNocsObj(mesh: Mesh, o: { minM: Vec3; sizeM: Vec3 }): string {
  const f = nocsFrame(o);
  const p = mesh.positionsM;
  const lines: string[] = ['# declip-ros synth: NOCS canonical frame (y up), metres, bbox-centred'];
  for (let i = 0; i < p.length; i += 3) {
    const dx = p[i] - f.centreM[0];
    const dy = p[i + 1] - f.centreM[1];
    const dz = p[i + 2] - f.centreM[2];
    lines.push(`v ${dx.toFixed(6)} ${dz.toFixed(6)} ${(-dy).toFixed(6)}`);
  }
  const idx = mesh.indices;
  for (let i = 0; i < idx.length; i += 3) lines.push(`f ${idx[i] + 1} ${idx[i + 1] + 1} ${idx[i + 2] + 1}`);
  return lines.join('\n') + '\n';
}

/** Options of exportNocs. */
export interface NocsExportOptions {
  /** Subset name (default 'real_test'). */
  subset?: string;
  /** Number of the first scene folder (default 1). */
  firstScene?: number;
}

/** What exportNocs wrote. */
export interface NocsExportSummary {
  sceneDirs: string[];
  modelDir: string;
  gtDir: string;
  imageCount: number;
}

async function writeText(file: string, text: string): Promise<void> {
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(file, text);
  } catch (e) {
    throw new SynthExportError(file, `cannot write file (${(e as Error).message})`, e);
  }
}

function mugHandleVisible(o: SynthObject, frame: SynthFrame): boolean {
  const r = o.shape.radiusM * 1.02;
  const m = frame.instanceMask;
  const c = frame.objectCoordsM;
  for (let i = 0; i < m.length; i++) if (m[i] === o.instanceId && c[3 * i] > r) return true;
  return false;
}

/** Writes sequences in the NOCS/REAL275 layout under `outDir` (see the file comment). */
export async function exportNocs(
  outDir: string,
  sequences: readonly SynthSequence[],
  opts: NocsExportOptions = {},
): Promise<NocsExportSummary> {
  const subset = opts.subset ?? 'real_test';
  const first = opts.firstScene ?? 1;
  const modelDir = path.join(outDir, 'obj_models', subset);
  const gtDir = path.join(outDir, 'gts', subset);
  const sceneDirs: string[] = [];
  let imageCount = 0;
  for (let s = 0; s < sequences.length; s++) {
    const seq = sequences[s];
    const k = first + s;
    const dir = path.join(outDir, subset, `scene_${k}`);
    sceneDirs.push(dir);
    const objects = seq.scene.objects;
    if (objects.some((o) => o.instanceId > 254))
      throw new SynthExportError(dir, 'NOCS masks are uint8 with 255 = background: at most 254 instances');
    for (const o of objects) {
      await writeText(path.join(modelDir, `${o.modelName}.obj`), meshToNocsObj(o.mesh, o));
      const e = nocsFrame(o).extentsM;
      await writeText(
        path.join(modelDir, `${o.modelName}.txt`),
        `${e[0].toFixed(6)} ${e[1].toFixed(6)} ${e[2].toFixed(6)}\n`,
      );
    }
    const byId = new Map(objects.map((o) => [o.instanceId, o]));
    for (const f of seq.frames) {
      const W = f.camera.width;
      const H = f.camera.height;
      const n = W * H;
      const stem = String(f.index).padStart(4, '0');
      await writeRgbPng(path.join(dir, `${stem}_color.png`), f.rgb);
      await writeGray16Png(path.join(dir, `${stem}_depth.png`), f.depthMm, W, H);
      const mask = new Uint8Array(n).fill(255);
      const coord = new Uint8Array(3 * n);
      for (let i = 0; i < n; i++) {
        const id = f.instanceMask[i];
        if (id === 0) continue;
        mask[i] = id;
        const o = byId.get(id);
        if (!o || NOCS_CLASS_IDS[o.category] === 0) continue;
        const q = objectToNocs(
          o,
          f.objectCoordsM[3 * i],
          f.objectCoordsM[3 * i + 1],
          f.objectCoordsM[3 * i + 2],
        );
        coord[3 * i] = Math.max(0, Math.min(255, Math.round(q[0] * 255)));
        coord[3 * i + 1] = Math.max(0, Math.min(255, Math.round(q[1] * 255)));
        coord[3 * i + 2] = Math.max(0, Math.min(255, Math.round((1 - q[2]) * 255)));
      }
      await writeGray8Png(path.join(dir, `${stem}_mask.png`), mask, W, H);
      await writeRgbPng(path.join(dir, `${stem}_coord.png`), { width: W, height: H, data: coord });
      const visible = f.objects.filter((fo) => fo.pxCountVisib > 0);
      await writeText(
        path.join(dir, `${stem}_meta.txt`),
        visible.map((fo) => `${fo.instanceId} ${NOCS_CLASS_IDS[fo.category]} ${fo.modelName}`).join('\n') +
          '\n',
      );
      const gt = visible.filter((fo) => NOCS_CLASS_IDS[fo.category] > 0);
      const objs = gt.map((fo) => byId.get(fo.instanceId) as SynthObject);
      await writeText(
        path.join(gtDir, `results_${subset}_scene_${k}_${stem}.json`),
        JSON.stringify({
          image_path: `${subset}/scene_${k}/${stem}`,
          gt_class_ids: gt.map((fo) => NOCS_CLASS_IDS[fo.category]),
          gt_instance_ids: gt.map((fo) => fo.instanceId),
          gt_model_names: gt.map((fo) => fo.modelName),
          gt_bboxes: gt.map((fo) => [
            fo.bboxVisib[1],
            fo.bboxVisib[0],
            fo.bboxVisib[1] + fo.bboxVisib[3],
            fo.bboxVisib[0] + fo.bboxVisib[2],
          ]),
          gt_RTs: gt.map((fo, j) => nocsRt(objs[j], fo.poseCam)),
          gt_scales: objs.map((o) => {
            const fr = nocsFrame(o);
            return fr.extentsM.map((v) => v / fr.scaleM);
          }),
          gt_handle_visibility: objs.map((o) => (o.category !== 'mug' || mugHandleVisible(o, f) ? 1 : 0)),
          units: { RT_translation: 'm', depth: 'mm' },
        }),
      );
      imageCount++;
    }
  }
  return { sceneDirs, modelDir, gtDir, imageCount };
}
