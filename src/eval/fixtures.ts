/**
 * Synthetic evaluation datasets from src/synth, in the two layouts the converters read: BOP (TOYL-like) and
 * NOCS (REAL275-like). The same physical objects (a red mug, a blue bottle, a green bowl) appear in every
 * scene, rearranged and seen from a different camera orbit, so Oryon's cross-scene pairs exist.
 *
 * exportBop gives every instance of every sequence its own obj_id; here the ids of later scenes are folded
 * back onto the first scene's (same object) and the duplicate models are dropped. exportNocs writes the GT
 * as JSON sidecars; `nocsPickles` additionally writes the real `results_*.pkl` files with CPython + NumPy
 * (the REAL275 gts structure) and removes the JSON, so the converter's pickle path is what gets exercised.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { CameraIntrinsics, Pose } from '../types';
import {
  exportBop,
  exportNocs,
  generateScene,
  orbitCameraPose,
  renderScene,
  toFrame,
  type ObjectSpec,
  type SynthScene,
  type SynthSequence,
} from '../synth';

/** REAL275 intrinsics scaled to 160x120. */
export const EVAL_SMALL_CAMERA: CameraIntrinsics = {
  width: 160,
  height: 120,
  fx: 591.0125 / 4,
  fy: 590.16775 / 4,
  cx: 322.525 / 4,
  cy: 244.11084 / 4,
};

export const FIXTURE_OBJECTS: readonly (ObjectSpec & { prompt: string })[] = [
  { category: 'mug', colour: 'red', texture: 'plain', prompt: 'red mug' },
  { category: 'bottle', colour: 'blue', texture: 'plain', prompt: 'blue bottle' },
  { category: 'bowl', colour: 'green', texture: 'plain', prompt: 'green bowl' },
];

export interface SynthEvalOptions {
  scenes?: number;
  framesPerScene?: number;
  camera?: CameraIntrinsics;
  seed?: number;
  /**
   * The model's world (what models/tiny-synth was trained on): table and room drawn, the palette's colours,
   * the default light and camera distances of the training views (0.8 m + 0.06 m per frame). Default false: no table/room, saturated colours, flat bright light (for colour
   * features without a network).
   */
  world?: boolean;
}

function rotZ(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.from([c, -s, 0, s, c, 0, 0, 0, 1]);
}

/**
 * Sequences: one object set, `scenes` arrangements x `framesPerScene` views (no table/room: dark background,
 * unless `world`). Scene s uses seed + 1000 s.
 */
export function synthEvalSequences(opts: SynthEvalOptions = {}): SynthSequence[] {
  const nScenes = opts.scenes ?? 2;
  const nFrames = opts.framesPerScene ?? 3;
  const seed = opts.seed ?? 7;
  const camera = opts.camera ?? EVAL_SMALL_CAMERA;
  const world = opts.world ?? false;
  const base = generateScene({ seed, objects: FIXTURE_OBJECTS, table: world, room: world, camera });
  // saturated primaries (brighter than the palette), so a colour-feature model separates them from the background
  const vivid: Record<string, [number, number, number]> = {
    red: [235, 30, 30],
    green: [30, 225, 45],
    blue: [35, 45, 240],
  };
  for (const o of world ? [] : base.objects) {
    const c = vivid[o.material.colour];
    if (c) o.material = { ...o.material, rgb: c };
  }
  const seqs: SynthSequence[] = [];
  for (let s = 0; s < nScenes; s++) {
    const n = base.objects.length;
    const objects = base.objects.map((o, k) => {
      const a = (2 * Math.PI * k) / n + s * 1.3;
      const pose: Pose = {
        R: rotZ(0.9 * s + k),
        tM: Float64Array.from([0.11 * Math.cos(a), 0.11 * Math.sin(a), 0]),
      };
      return { ...o, poseWorld: pose };
    });
    // bright, flat light: the colours stay saturated (so a colour-feature model can segment them)
    const scene: SynthScene = {
      ...base,
      seed: seed + 1000 * s,
      objects,
      ...(world ? {} : { ambient: 1.1 }),
    };
    // close orbit (objects fill a good part of the small image), different per scene; in the model's world
    // the training views' range instead (randomOrbit: 0.7-1.15 m)
    const poses = Array.from({ length: nFrames }, (_, i) =>
      orbitCameraPose({
        distanceM: world ? 0.8 + 0.06 * i : 0.42 + 0.03 * i,
        elevationRad: ((40 + 6 * s) * Math.PI) / 180,
        azimuthRad: 1.1 * s + 0.3 * i,
        targetM: [0, 0, 0.04],
      }),
    );
    const frames = poses.map((p, i) =>
      toFrame(
        scene,
        renderScene(scene, p, { frameIndex: i }),
        i,
        1_700_000_000_000_000_000n + BigInt(i) * 100_000_000n,
      ),
    );
    seqs.push({ scene, frames });
  }
  return seqs;
}

/** Writes the BOP layout; returns the dataset root and the prompts file (obj_id -> prompt). */
export async function writeSynthBop(
  dir: string,
  seqs: SynthSequence[],
): Promise<{ root: string; prompts: string }> {
  const sum = await exportBop(dir, seqs);
  const first = sum.objIds[0];
  const remap = new Map<number, number>();
  sum.objIds.forEach((ids) => ids.forEach((id, k) => remap.set(id, first[k])));
  for (const sd of sum.sceneDirs) {
    const f = path.join(sd, 'scene_gt.json');
    const gt = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, { obj_id: number }[]>;
    for (const l of Object.values(gt)) for (const g of l) g.obj_id = remap.get(g.obj_id) ?? g.obj_id;
    fs.writeFileSync(f, JSON.stringify(gt, null, 1));
  }
  const infoFile = path.join(sum.modelsDir, 'models_info.json');
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as Record<string, unknown>;
  for (const id of Object.keys(info)) {
    if (!first.includes(Number(id))) {
      delete info[id];
      fs.rmSync(path.join(sum.modelsDir, `obj_${id.padStart(6, '0')}.ply`), { force: true });
    }
  }
  fs.writeFileSync(infoFile, JSON.stringify(info, null, 1));
  const prompts: Record<string, string> = {};
  first.forEach((id, k) => (prompts[String(id)] = FIXTURE_OBJECTS[k].prompt));
  const pf = path.join(dir, 'prompts.json');
  fs.writeFileSync(pf, JSON.stringify(prompts, null, 1));
  return { root: dir, prompts: pf };
}

const PKL_SCRIPT = `
import json, pickle, sys, os, numpy as np
for f in sys.argv[1:]:
    d = json.load(open(f))
    out = {'image_path': d['image_path'],
           'gt_class_ids': np.array(d['gt_class_ids'], dtype=np.int32),
           'gt_bboxes': np.array(d['gt_bboxes'], dtype=np.int32).reshape(-1, 4),
           'gt_RTs': np.array(d['gt_RTs'], dtype=np.float64).reshape(-1, 4, 4),
           'gt_scales': np.array(d['gt_scales'], dtype=np.float32).reshape(-1, 3),
           'gt_handle_visibility': np.array(d['gt_handle_visibility'], dtype=np.int64)}
    with open(f[:-5] + '.pkl', 'wb') as fo:
        pickle.dump(out, fo, protocol=2)
    os.remove(f)
`;

/**
 * Writes the NOCS layout; with `pickles`, the GT is converted to REAL275-style pickles by CPython + NumPy
 * (without gt_model_names / gt_instance_ids, as in the real files). Returns the root and prompts file
 * (model name -> prompt).
 */
export async function writeSynthNocs(
  dir: string,
  seqs: SynthSequence[],
  opts: { pickles?: boolean; python?: string } = {},
): Promise<{ root: string; prompts: string }> {
  const sum = await exportNocs(dir, seqs);
  // the intrinsics of these images (REAL275 itself is always 640x480 with fixed intrinsics)
  const K = seqs[0].frames[0].camera;
  fs.writeFileSync(path.join(dir, 'camera.json'), JSON.stringify({ fx: K.fx, fy: K.fy, cx: K.cx, cy: K.cy }));
  if (opts.pickles) {
    const files = fs
      .readdirSync(sum.gtDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => path.join(sum.gtDir, f));
    const py = opts.python ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    execFileSync(py, ['-c', PKL_SCRIPT, ...files]);
  }
  const prompts: Record<string, string> = {};
  seqs[0].scene.objects.forEach((o, k) => (prompts[o.modelName] = FIXTURE_OBJECTS[k].prompt));
  const pf = path.join(dir, 'prompts.json');
  fs.writeFileSync(pf, JSON.stringify(prompts, null, 1));
  return { root: dir, prompts: pf };
}
