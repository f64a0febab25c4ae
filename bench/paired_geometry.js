#!/usr/bin/env node
/**
 * Paired A/B of geometry stages between two compiled builds, for noisy hosts (not a test). Each build is loaded in
 * this one process and the two run alternately, rep by rep, on the inputs of bench/geometry.bench.ts; the ratio is
 * the median of the per-rep ratios, which host-speed drift between runs does not bias.
 *
 *   git worktree add /tmp/old <commit> && (cd /tmp/old && ln -s "$PWD/node_modules" . ; npx tsc -p tsconfig.json --outDir /tmp/build-old)
 *   npx tsc -p tsconfig.json --outDir /tmp/build-new
 *   NODE_PATH=$PWD/node_modules node bench/paired_geometry.js /tmp/build-old /tmp/build-new
 *
 * With one build it pairs per-query `knn` against the batch `knnSearch` on the same tree.
 */
'use strict';
const path = require('path');

function inputs(root) {
  const r = (m) => require(path.join(path.resolve(root), 'src', m));
  const { SeededRng } = r('geometry/rng');
  const { transformPoints } = r('geometry/linalg');
  const { asymmetricObject, randomPose } = r('geometry/testutil');
  const { estimateModelPose, prepareObjectModel } = r('pose/model');
  const { extractInstances } = r('pose/instances');
  const { KdTree } = r('geometry/kdtree');
  const rng = new SeededRng(1);
  const pts = new Float32Array(3 * 50000).map(() => rng.next());
  const tree = new KdTree(pts);
  const obj = asymmetricObject(rng, 2000);
  const model = prepareObjectModel({ name: 'obj', pointsM: obj });
  const scene = transformPoints(asymmetricObject(rng, 5000), {
    ...randomPose(rng, Math.PI, 0.05),
    tM: new Float64Array([0, 0, 0.7]),
  });
  const cam = { width: 640, height: 480, fx: 600, fy: 600, cx: 320, cy: 240 };
  const depth = new Float32Array(640 * 480);
  const mask = new Uint8Array(640 * 480);
  for (let v = 140; v < 240; v++) {
    for (let u = 200; u < 300; u++) {
      depth[v * 640 + u] = 0.7 + 0.0005 * u;
      mask[v * 640 + u] = 1;
      depth[v * 640 + u + 120] = 0.75 + 0.0003 * v;
      mask[v * 640 + u + 120] = 1;
    }
  }
  const idx = new Int32Array(10);
  const d2 = new Float64Array(10);
  return {
    'model pose (2k model, 5k scene)': () => estimateModelPose({ points: scene }, model),
    'lifting, 20k-pixel mask': () => extractInstances({ depthM: depth, camera: cam }, [{ label: 'x', mask }]),
    'kNN 50k self-queries k=10, per-query knn': () => {
      for (let i = 0; i < 50000; i++) tree.knn(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], 10, idx, d2);
    },
    'kNN 50k self-queries k=10, batch knnSearch': () => tree.knnSearch(pts, 10),
  };
}

const med = (x) => x.slice().sort((p, q) => p - q)[x.length >> 1];
function pair(label, fa, fb, reps, rounds = 30) {
  for (let i = 0; i < 5; i++) {
    fa();
    fb();
  }
  const a = [];
  const b = [];
  const r = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now();
    for (let j = 0; j < reps; j++) fa();
    const ta = (performance.now() - t0) / reps;
    t0 = performance.now();
    for (let j = 0; j < reps; j++) fb();
    const tb = (performance.now() - t0) / reps;
    a.push(ta);
    b.push(tb);
    r.push(ta / tb);
  }
  console.log(
    `${label.padEnd(58)} A median ${med(a).toFixed(2)} min ${Math.min(...a).toFixed(2)} | ` +
      `B median ${med(b).toFixed(2)} min ${Math.min(...b).toFixed(2)} | A/B ${med(r).toFixed(2)} ms/ms`,
  );
}

const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir) {
  console.error(
    'usage: node bench/paired_geometry.js BUILD_A [BUILD_B]  (outDirs of npx tsc -p tsconfig.json)',
  );
  process.exit(2);
}
const A = inputs(oldDir);
if (!newDir) {
  const k = Object.keys(A);
  pair(`${k[2]} (A) vs batch (B), build ${oldDir}`, A[k[2]], A[k[3]], 1);
} else {
  const B = inputs(newDir);
  for (const k of Object.keys(A)) {
    if (k.includes('batch')) continue; // older builds have no grid path
    pair(k, A[k], B[k], k.startsWith('kNN') ? 1 : k.startsWith('model') ? 5 : 20);
  }
  pair(
    'kNN batch knnSearch (B only: per-query A vs batch B)',
    A['kNN 50k self-queries k=10, per-query knn'],
    B['kNN 50k self-queries k=10, batch knnSearch'],
    1,
  );
}
