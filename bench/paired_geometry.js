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
 * With one build it pairs per-query `knn` against the batch `knnSearch` on the same tree. The inputs come from
 * bench/geometryInputs of BUILD_B (commits before 2445dd9 do not have it; pass such a build as BUILD_A).
 */
'use strict';
const path = require('path');

// the same input arrays for both builds (bench/geometryInputs of the build that has it: BUILD_B, else BUILD_A)
let shared = null;
function inputs(root) {
  const r = (m) => require(path.join(path.resolve(root), 'src', m));
  const { estimateModelPose, prepareObjectModel } = r('pose/model');
  const { extractInstances } = r('pose/instances');
  const { KdTree } = r('geometry/kdtree');
  const { pts, cam, depth, mask, obj, scene } = shared;
  const tree = new KdTree(pts);
  const model = prepareObjectModel({ name: 'obj', pointsM: obj });
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
shared = require(path.join(path.resolve(newDir ?? oldDir), 'bench', 'geometryInputs')).geometryBenchInputs();
const A = inputs(oldDir);
if (!newDir) {
  const k = Object.keys(A);
  pair(`${k[2]} (A) vs batch (B), build ${oldDir}`, A[k[2]], A[k[3]], 1);
} else {
  const B = inputs(newDir);
  for (const k of Object.keys(A)) {
    pair(k, A[k], B[k], k.startsWith('kNN') ? 1 : k.startsWith('model') ? 5 : 20);
  }
  pair(
    'kNN batch knnSearch (B only: per-query A vs batch B)',
    A['kNN 50k self-queries k=10, per-query knn'],
    B['kNN 50k self-queries k=10, batch knnSearch'],
    1,
  );
}
