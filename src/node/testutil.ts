/** Test helpers shared by the node tests that run the real pipeline (not shipped API). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { SynthFrame } from '../synth';

/** A copy of test/models/tiny-analytic with a 240 px input, so the feature grid is 30x40 at 640x480. */
export function analyticPackage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-analytic-'));
  const src = path.join(__dirname, '..', '..', 'test', 'models', 'tiny-analytic');
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  m.image.input_size = [240, 240];
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(m));
  return dir;
}

/**
 * The analytic model scores saturated colours only, so tests paint each object's ground-truth pixels in its pure
 * colour and everything else mid-grey (the analytic background): this tests the wiring, not the model.
 */
export function paintPure(f: SynthFrame): Uint8Array {
  const pure: Record<string, number[]> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };
  const rgb = new Uint8Array(f.rgb.data.length).fill(128);
  for (let p = 0; p < f.instanceMask.length; p++) {
    const o = f.instanceMask[p] ? f.objects.find((x) => x.instanceId === f.instanceMask[p]) : undefined;
    if (o && pure[o.colour]) rgb.set(pure[o.colour], 3 * p);
  }
  return rgb;
}
