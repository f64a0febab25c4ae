/**
 * Whole-chain check of a model package on held-out synthetic scenes: query -> DeclipPipeline (Perceiver masks ->
 * 3D instance -> pose) -> pose error against the ground truth.
 *
 *  - model mode: the object's own synthetic mesh is registered under the query name; success = ADD-S < 0.1 d
 *    (d = mesh diameter), the BOP / REAL275 convention;
 *  - box mode: no model; the box pose has no object frame, so success = the box centre within 0.1 d of the
 *    ground-truth bounding-box centre (a translation-only criterion, labelled as such in reports).
 *
 * Frames: the evaluation scene seeds of synthData.ts (evalScene), one view each, 640x480, with the sensor model
 * (noisy depth). Anchor mode is not covered here.
 *
 *   node dist/training/synthDataChain.js --model models/tiny-synth --scenes 12 --out runs/tiny-synth/chain.json
 */
import * as fs from 'fs';
import { meshDiameterM, randomCameraPose, renderScene, type SynthScene } from '../synth';
import { addsError } from '../pose/metrics';
import { ModelRegistry, meshToObjectModel } from '../pose/models';
import type { Frame, Pose } from '../types';
import { DeclipPipeline, defaultPipelineSettings } from '../node/declipPipeline';
import { evalScene, isHeldOut, scaledIntrinsics } from './synthData';
import { runCliMain } from './cliMain';

/** One queried object. */
export interface ChainRow {
  scene: number;
  query: string;
  heldOut: boolean;
  mode: 'model' | 'box';
  found: boolean;
  poseSource: string;
  /** model: ADD-S (m); box: centre error (m). */
  errorM: number;
  diameterM: number;
  success: boolean;
}

/** Summary of {@link evaluateChain}. */
export interface ChainEval {
  model: string;
  scenes: number;
  model_mode: { success: number; queries: number; found: number };
  box_mode: { success: number; queries: number; found: number; criterion: string };
  rows: ChainRow[];
}

function transform(p: Pose, v: number[]): number[] {
  const R = p.R;
  return [0, 1, 2].map((k) => R[3 * k] * v[0] + R[3 * k + 1] * v[1] + R[3 * k + 2] * v[2] + p.tM[k]);
}

function frameOf(scene: SynthScene, seed: number): { frame: Frame; poses: Pose[]; visible: number[] } {
  const camera = scaledIntrinsics(640, 480);
  const r = renderScene(scene, randomCameraPose(scene, 1000), { camera, frameIndex: seed });
  return {
    frame: {
      stampNs: BigInt(1_700_000_000) * 1_000_000_000n,
      frameId: 'camera_color_optical_frame',
      rgb: r.rgb,
      depthM: Float32Array.from(r.depthMm, (d) => d / 1000),
      camera,
    },
    poses: r.objects.map((o) => o.poseCam),
    visible: r.objects.map((o) => o.pxCountVisib),
  };
}

/** Runs the chain on `scenes` evaluation scenes (see the file comment). */
export async function evaluateChain(
  modelDir: string,
  scenes: number,
  onProgress?: (done: number, total: number) => void,
): Promise<ChainEval> {
  const rows: ChainRow[] = [];
  const quiet = { info: () => undefined, warn: () => undefined };
  let name = '';
  for (let s = 0; s < scenes; s++) {
    const seed = 9_000_000 + s;
    const scene = evalScene(seed, scaledIntrinsics(640, 480));
    const { frame, poses, visible } = frameOf(scene, seed);
    const objs = scene.objects.filter((o, k) => visible[k] >= 300);
    for (const mode of ['model', 'box'] as const) {
      const models = new ModelRegistry();
      if (mode === 'model') {
        for (const o of objs) {
          models.register(
            meshToObjectModel(
              `${o.material.colour} ${o.category}`,
              { vertices: o.mesh.positionsM, triangles: o.mesh.indices },
              { samples: 2000 },
            ),
          );
        }
      }
      const p = new DeclipPipeline({ device: 'cpu', models, logger: quiet });
      await p.configure(
        defaultPipelineSettings({
          modelPath: modelDir,
          device: 'cpu',
          poseMethod: mode === 'box' ? 'box' : 'auto',
        }),
      );
      name = p.describe().model;
      for (const o of objs) {
        const q = `${o.material.colour} ${o.category}`;
        const k = scene.objects.indexOf(o);
        const gt = poses[k];
        const d = meshDiameterM(o.mesh);
        const res = await p.process(frame, [q]);
        const inst = res.results[0]?.instances[0];
        let err = Infinity;
        if (inst) {
          if (mode === 'model') err = addsError(inst.pose, gt, models.get(q)!.cloud.points);
          else {
            const c = [0, 1, 2].map((i) => o.minM[i] + o.sizeM[i] / 2);
            const gc = transform(gt, c);
            err = Math.hypot(...[0, 1, 2].map((i) => inst.pose.tM[i] - gc[i]));
          }
        }
        rows.push({
          scene: seed,
          query: q,
          heldOut: isHeldOut(o.material.colour, o.category),
          mode,
          found: !!inst,
          poseSource: inst ? String(inst.poseSource) : 'none',
          errorM: err,
          diameterM: d,
          success: err < 0.1 * d,
        });
      }
      await p.dispose();
    }
    onProgress?.(s + 1, scenes);
  }
  const sum = (mode: 'model' | 'box') => {
    const r = rows.filter((x) => x.mode === mode);
    return {
      success: r.length ? r.filter((x) => x.success).length / r.length : 0,
      queries: r.length,
      found: r.filter((x) => x.found).length,
    };
  };
  return {
    model: name,
    scenes,
    model_mode: sum('model'),
    box_mode: {
      ...sum('box'),
      criterion: 'box centre within 0.1 d of the GT bounding-box centre (translation only)',
    },
    rows,
  };
}

async function main(): Promise<number> {
  const a = process.argv.slice(2);
  const get = (n: string, d: string) => {
    const i = a.indexOf(n);
    return i >= 0 && a[i + 1] ? a[i + 1] : d;
  };
  const model = get('--model', 'models/tiny-synth');
  const out = get('--out', '');
  const r = await evaluateChain(model, Number(get('--scenes', '12')), (d, n) =>
    process.stderr.write(`synth-chain: ${d}/${n} scenes\n`),
  );
  process.stderr.write(
    `synth-chain: model mode ADD-S<0.1d ${r.model_mode.success.toFixed(3)} (${r.model_mode.queries} queries), box ` +
      `mode centre<0.1d ${r.box_mode.success.toFixed(3)}\n`,
  );
  const json = JSON.stringify(r, (_, v: unknown) => (v === Infinity ? null : v), 2) + '\n';
  if (out) fs.writeFileSync(out, json);
  else process.stdout.write(json);
  return 0;
}

if (require.main === module) runCliMain(main);
