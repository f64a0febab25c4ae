/**
 * The inputs of the geometry benches (bench/geometry.bench.ts, bench/paired_geometry.js), drawn in one fixed
 * order from SeededRng(1): 50k uniform points, the 20k-pixel two-plane mask, a 2k-point object and a 5k-point
 * posed view of the same shape.
 */
import { SeededRng } from '../src/geometry/rng';
import { transformPoints } from '../src/geometry/linalg';
import { asymmetricObject, randomPose } from '../src/geometry/testutil';

export function geometryBenchInputs() {
  const rng = new SeededRng(1);
  const pts = new Float32Array(3 * 50000).map(() => rng.next());
  // 20k-pixel mask lifting + outlier removal + clustering (two synthetic slanted planes side by side)
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
  // model-mode pose: ~2k model points, ~5k scene points
  const obj = asymmetricObject(rng, 2000);
  const scene = transformPoints(asymmetricObject(rng, 5000), {
    ...randomPose(rng, Math.PI, 0.05),
    tM: new Float64Array([0, 0, 0.7]),
  });
  return { rng, pts, cam, depth, mask, obj, scene };
}
