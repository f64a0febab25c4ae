/**
 * The checked-in test bags (test/bags/), regenerated bit-exactly by `npm run gen:test-bags`:
 *  - demo/         MCAP directory bag, 640x480 at 15 Hz: the demo scene (red mug, blue can, green bowl, yellow box)
 *  - demo_models/  the demo objects' meshes as PLY (mm), named after their queries, for model mode
 *  - small_humble/ sqlite3 (schema v3, Humble) directory bag, 160x120, 3 frames
 *  - small_jazzy.db3  single sqlite3 file (schema v4, Jazzy), 160x120, 2 frames
 */
import * as fs from 'fs';
import * as path from 'path';
import { meshToPly } from './bop';
import { writeSequenceBag } from './bag';
import { PALETTE } from './materials';
import type { ObjectSpec } from './scene';
import { generateSequence, type SynthSequence } from './sequence';
import { REAL275_INTRINSICS, type CameraIntrinsics } from '../types';

/** The demo scene: the objects the demo queries, plus distractors. */
export const DEMO_OBJECTS: readonly ObjectSpec[] = [
  { category: 'mug', colour: 'red', texture: 'plain' },
  { category: 'can', colour: 'blue', texture: 'plain' },
  { category: 'bowl', colour: 'green', texture: 'plain' },
  { category: 'box', colour: 'yellow', texture: 'plain' },
];
export const DEMO_SEED = 15;
export const DEMO_FRAMES = 12;
export const DEMO_QUERIES = ['red mug', 'blue can'];

const SMALL_CAMERA: CameraIntrinsics = {
  ...REAL275_INTRINSICS,
  width: 160,
  height: 120,
  fx: REAL275_INTRINSICS.fx / 4,
  fy: REAL275_INTRINSICS.fy / 4,
  cx: REAL275_INTRINSICS.cx / 4,
  cy: REAL275_INTRINSICS.cy / 4,
};

/** The demo sequence (deterministic). */
export function demoSequence(): SynthSequence {
  return generateSequence({ seed: DEMO_SEED, numFrames: DEMO_FRAMES, objects: DEMO_OBJECTS });
}

/** Writes every fixture into `outDir` (replacing them); returns the paths written. */
export async function generateTestBags(outDir: string, onStep?: (name: string) => void): Promise<string[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const demo = demoSequence();
  const demoBag = path.join(outDir, 'demo');
  await writeSequenceBag(demo, demoBag, { overwrite: true });
  written.push(demoBag);
  onStep?.('demo');
  const modelsDir = path.join(outDir, 'demo_models');
  fs.rmSync(modelsDir, { recursive: true, force: true });
  fs.mkdirSync(modelsDir, { recursive: true });
  for (const o of demo.scene.objects) {
    const stem = `${o.material.colour}_${o.category}`;
    fs.writeFileSync(
      path.join(modelsDir, `${stem}.ply`),
      meshToPly(o.mesh, [...PALETTE[o.material.colour]] as [number, number, number]),
    );
  }
  written.push(modelsDir);
  onStep?.('demo_models');
  const small = generateSequence({ seed: 5, numFrames: 3, numObjects: 3, camera: SMALL_CAMERA });
  const humble = path.join(outDir, 'small_humble');
  await writeSequenceBag(small, humble, { storage: 'sqlite3', sqliteSchema: 3, overwrite: true });
  written.push(humble);
  onStep?.('small_humble');
  const small2 = generateSequence({ seed: 6, numFrames: 2, numObjects: 2, camera: SMALL_CAMERA });
  const jazzy = path.join(outDir, 'small_jazzy.db3');
  await writeSequenceBag(small2, jazzy, { sqliteSchema: 4, overwrite: true, instanceMask: false });
  written.push(jazzy);
  onStep?.('small_jazzy.db3');
  return written;
}
