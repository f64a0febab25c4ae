/**
 * CLI: background calibration of a model package on training frames (see synthCalibrate.ts).
 *
 *   node dist/training/synthCalibrateCli.js --data runs/tiny-synth/data --model models/tiny-synth \
 *       [--max-frames 40] [--out runs/tiny-synth/calibration.json] [--write yes]
 *
 * With --write yes the best setting goes into the package's model.json (background_prompts,
 * background_logit_offset, provenance.background_calibration); the ONNX files and their hashes are untouched.
 */
import * as fs from 'fs';
import * as path from 'path';
import { calibrateBackground, writeCalibration } from './synthCalibrate';
import { runCliMain } from './cliMain';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let data = '';
  let model = '';
  let out = '';
  let write = false;
  let maxFrames = 40;
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) {
      process.stderr.write(`error: synth-calibrate: option ${a} needs a value\n`);
      return 2;
    }
    if (a === '--data') data = v;
    else if (a === '--model') model = v;
    else if (a === '--out') out = v;
    else if (a === '--write') write = v === 'yes';
    else if (a === '--max-frames') maxFrames = Number(v);
    else {
      process.stderr.write(
        `error: synth-calibrate: unknown option ${a} (use --data, --model, --out, --max-frames, --write yes)\n`,
      );
      return 2;
    }
  }
  if (!data || !model) {
    process.stderr.write('error: synth-calibrate: --data DIR and --model DIR are required\n');
    return 2;
  }
  if (!(maxFrames >= 1)) {
    process.stderr.write(`error: synth-calibrate: --max-frames must be >= 1, got ${maxFrames}\n`);
    return 2;
  }
  const t0 = Date.now();
  const r = await calibrateBackground(model, data, {
    maxFrames,
    perceiver: { device: 'cpu' },
    onProgress: (d, n) => {
      if (d === n || d % 10 === 0) process.stderr.write(`synth-calibrate: ${d}/${n} frames\n`);
    },
  });
  const fmt = (s: typeof r.best) =>
    `[${s.backgroundPrompts.join(', ')}] offset ${s.backgroundLogitOffset} -> mIoU ${s.miou.toFixed(3)}`;
  process.stderr.write(
    `synth-calibrate: ${r.frames} ${r.split} frames, ${r.queries} queries, ${r.grid.length} settings ` +
      `(${((Date.now() - t0) / 1000).toFixed(1)} s)\n  current ${fmt(r.current)}\n  best    ${fmt(r.best)}\n`,
  );
  if (out) {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(r, null, 2) + '\n');
  }
  if (write) {
    const file = writeCalibration(model, r);
    process.stderr.write(`synth-calibrate: wrote ${file}\n`);
  }
  return 0;
}

runCliMain(main);
