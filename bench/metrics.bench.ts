/**
 * Metric benchmark (not a test): Oryon protocol on 2000 synthetic pairs — pair sampling, ADD, ADD-S, MSSD
 * and MSPD (half the objects with a continuous symmetry = 314 symmetry transforms), VSD at 640x480 rendered
 * with the src/synth rasterizer (synthRenderDepth), BOP19 scores and aggregation. Target (issue 7): < 60 s on 2 cores.
 * Result 2026-12-02, shared 2-core AMD EPYC VM (load average ~7.8 from other jobs), single thread:
 *   evaluateOryonPair (all metrics incl. VSD renders) for 2000 pairs: 43.2 s; aggregateOryon: 22 ms.
 * Run from the repo root:
 *   npx tsc -p tsconfig.json --outDir /tmp/mb && NODE_PATH=$PWD/node_modules node /tmp/mb/bench/metrics.bench.js [pairs]
 */
import type { CameraIntrinsics, Pose } from '../src/types';
import { REAL275_INTRINSICS } from '../src/types';
import {
  add,
  adi,
  axisAngleToR,
  composePoses,
  getSymmetryTransformations,
  makePose,
  mspd,
  mssd,
  synthRenderDepth,
  vsd,
} from '../src/eval/metrics';
import { boxMesh, latheMesh, type Mesh } from '../src/synth/mesh';
import {
  aggregateOryon,
  createRng,
  evaluateOryonPair,
  sampleOryonPairs,
  type EvalObjectModel,
  type ObjectObservation,
  type PairRecord,
} from '../src/eval/protocol';

function surfacePoints(kind: 'cylinder' | 'box', n: number, rng: () => number): Float64Array {
  const out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    if (kind === 'cylinder') {
      const a = rng() * 2 * Math.PI;
      out.set([0.04 * Math.cos(a), 0.04 * Math.sin(a), (rng() - 0.5) * 0.12], 3 * i);
    } else {
      const f = Math.floor(rng() * 6);
      const half = [0.05, 0.035, 0.02];
      const q = [(rng() * 2 - 1) * half[0], (rng() * 2 - 1) * half[1], (rng() * 2 - 1) * half[2]];
      q[f >> 1] = f & 1 ? half[f >> 1] : -half[f >> 1];
      out.set(q, 3 * i);
    }
  }
  return out;
}

function time<T>(label: string, fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  console.log(`${label.padEnd(34)} ${(performance.now() - t0).toFixed(0).padStart(7)} ms`);
  return r;
}

function main(): void {
  const nPairs = Number(process.argv[2] ?? 2000);
  const nPoints = 2000;
  const cam: CameraIntrinsics = REAL275_INTRINSICS;
  const rng = createRng(42);
  const objects = ['can', 'bottle', 'box', 'camera'].map((id, k) => {
    const sym = k < 2;
    const pointsM = surfacePoints(sym ? 'cylinder' : 'box', nPoints, rng);
    const mesh: Mesh = sym
      ? latheMesh(
          [
            [0, -0.06],
            [0.04, -0.06],
            [0.04, 0.06],
            [0, 0.06],
          ],
          48,
        )
      : boxMesh(-0.05, 0.05, -0.035, 0.035, -0.02, 0.02);
    const model: EvalObjectModel<Mesh> = {
      pointsM,
      diameterM: sym ? Math.hypot(0.08, 0.12) : Math.hypot(0.1, 0.07, 0.04),
      symmetries: getSymmetryTransformations(
        sym ? { continuous: [{ axis: [0, 0, 1], offsetM: [0, 0, 0] }] } : undefined,
      ),
      symmetric: sym,
      renderModel: mesh,
    };
    return { id, model };
  });
  const obs: ObjectObservation[] = [];
  for (const o of objects) {
    for (let s = 0; s < 6; s++) {
      for (let f = 0; f < 40; f++) {
        const R = axisAngleToR([rng() - 0.5, rng() - 0.5, rng() - 0.5], rng() * Math.PI);
        obs.push({
          sceneId: `scene_${s}`,
          frameId: String(f),
          objectId: o.id,
          prompt: `a ${o.id}`,
          poseGt: makePose(R, [(rng() - 0.5) * 0.2, (rng() - 0.5) * 0.15, 0.5 + rng() * 0.4]),
          visibFract: 0.2 + 0.8 * rng(),
        });
      }
    }
  }
  console.log(`pairs=${nPairs} model points=${nPoints} image=${cam.width}x${cam.height} (single thread)`);
  const pairs = time('sampleOryonPairs', () => sampleOryonPairs(obs, { count: nPairs, seed: 1 }));
  const byId = new Map(objects.map((o) => [o.id, o.model]));
  const estimates: (Pose | null)[] = pairs.map((p) => {
    if (rng() < 0.05) return null;
    const noise = makePose(
      axisAngleToR([rng() - 0.5, rng() - 0.5, rng() - 0.5], (rng() * 8 * Math.PI) / 180),
      [(rng() - 0.5) * 0.02, (rng() - 0.5) * 0.02, (rng() - 0.5) * 0.02],
    );
    return composePoses(noise, p.relativePoseGt);
  });
  const depths = time('render query depths (test input)', () =>
    pairs.map((p) => synthRenderDepth(byId.get(p.objectId)!.renderModel!, p.query.poseGt, cam)),
  );
  // Per-metric timings on the query-frame poses.
  const est = pairs.map((p, i) =>
    estimates[i] ? composePoses(estimates[i] as Pose, p.anchor.poseGt) : p.query.poseGt,
  );
  time('ADD x pairs', () =>
    pairs.forEach((p, i) => add(est[i], p.query.poseGt, byId.get(p.objectId)!.pointsM)),
  );
  time('ADD-S x pairs', () =>
    pairs.forEach((p, i) => adi(est[i], p.query.poseGt, byId.get(p.objectId)!.pointsM)),
  );
  time('MSSD x pairs', () =>
    pairs.forEach((p, i) => {
      const m = byId.get(p.objectId)!;
      mssd(est[i], p.query.poseGt, m.pointsM, m.symmetries);
    }),
  );
  time('MSPD x pairs', () =>
    pairs.forEach((p, i) => {
      const m = byId.get(p.objectId)!;
      mspd(est[i], p.query.poseGt, cam, m.pointsM, m.symmetries);
    }),
  );
  time('VSD (incl. 2 renders) x pairs', () =>
    pairs.forEach((p, i) => {
      const m = byId.get(p.objectId)!;
      vsd(est[i], p.query.poseGt, depths[i], cam, m.renderModel!, synthRenderDepth, {
        diameterM: m.diameterM,
      });
    }),
  );
  const records: PairRecord[] = time('evaluateOryonPair (all metrics)', () =>
    pairs.map((p, i) =>
      evaluateOryonPair({
        pair: p,
        estimateRel: estimates[i],
        model: byId.get(p.objectId)!,
        camera: cam,
        depthQueryM: depths[i],
        renderDepth: synthRenderDepth,
        iouAnchor: 0.8,
        iouQuery: 0.7,
      }),
    ),
  );
  const agg = time('aggregateOryon', () => aggregateOryon(records));
  console.log(
    `AR=${agg.ar?.toFixed(3)} VSD=${agg.vsd?.toFixed(3)} MSSD=${agg.mssd.toFixed(3)} MSPD=${agg.mspd.toFixed(3)} ` +
      `ADD(S)-0.1d=${agg.addS01d.toFixed(3)} missing=${agg.missing}`,
  );
}

if (require.main === module) main();
