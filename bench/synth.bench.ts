/**
 * Synthetic world benchmarks (not tests). Run from the repo root:
 *   npx tsc -p tsconfig.json --outDir /tmp/sb && NODE_PATH=$PWD/node_modules node /tmp/sb/bench/synth.bench.js
 * Prints median wall times in ms (single thread). Target: 640x480 with 6 objects < 100 ms per frame.
 */
import { generateScene, randomCameraPose, renderScene, generateSequence } from '../src/synth';

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(label: string, reps: number, fn: () => void): number {
  fn(); // warm-up / JIT
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  const m = median(ts);
  console.log(
    `${label.padEnd(60)} median ${m.toFixed(2)} ms  (min ${Math.min(...ts).toFixed(2)}, n=${reps})`,
  );
  return m;
}

function main(): void {
  const seeds = [1, 2, 3, 4, 5];
  const scenes = seeds.map((seed) => generateScene({ seed, numObjects: 6 }));
  const poses = scenes.map((s, i) => randomCameraPose(s, i));
  console.log(`objects per scene: ${scenes.map((s) => s.objects.length).join(', ')}`);
  time('generateScene (6 objects)', 20, () => generateScene({ seed: 7, numObjects: 6 }));
  let k = 0;
  time('renderScene 640x480, 6 objects, sensor off', 20, () => {
    renderScene(scenes[k % 5], poses[k % 5], { sensor: false });
    k++;
  });
  k = 0;
  time('renderScene 640x480, 6 objects, sensor on', 20, () => {
    renderScene(scenes[k % 5], poses[k % 5]);
    k++;
  });
  time('generateSequence 640x480, 10 frames (per sequence)', 3, () => {
    generateSequence({ seed: 9, numFrames: 10, numObjects: 6 });
  });
}

main();
