/**
 * CLI: writes the synthetic dataset of the embedded default model (see synthData.ts).
 *
 *   node dist/training/synthDataCli.js --out runs/tiny-synth/data --seed 0 --train-scenes 300 --views 2 \
 *       --eval-scenes 32 [--trainer-frames yes|no|DIR] [--trainer-max-frames N]
 *
 * --trainer-frames also writes the training split as a `declip collect` frame dataset (PNG + masks) for the DeCLIP
 * trainer (default DIR: OUT/frames).
 */
import * as path from 'path';
import { writeSynthDataset, writeTrainerFrames } from './synthData';

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--'))
      throw new Error(`synth-data: unexpected argument '${a}' (options are --name value)`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`synth-data: option ${a} needs a value`);
    out[a.slice(2)] = v;
    i++;
  }
  return out;
}

function int(args: Record<string, string>, name: string, dflt: number): number {
  if (args[name] === undefined) return dflt;
  const v = Number(args[name]);
  if (!Number.isInteger(v)) throw new Error(`synth-data: --${name} must be an integer, got '${args[name]}'`);
  return v;
}

async function main(): Promise<number> {
  let args: Record<string, string>;
  try {
    args = parseArgs(process.argv.slice(2));
    if (!args.out) throw new Error('synth-data: --out DIR is required');
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const t0 = Date.now();
  let last = 0;
  try {
    const s = writeSynthDataset({
      out: args.out,
      seed: int(args, 'seed', 0),
      trainScenes: int(args, 'train-scenes', 300),
      viewsPerScene: int(args, 'views', 2),
      evalScenes: int(args, 'eval-scenes', 32),
      trainWidth: int(args, 'train-width', 320),
      trainHeight: int(args, 'train-height', 240),
      supersample: int(args, 'supersample', 2),
      onProgress: (done, total) => {
        const now = Date.now();
        if (now - last > 2000 || done === total) {
          last = now;
          process.stderr.write(`synth-data: ${done}/${total} frames (${((now - t0) / 1000).toFixed(1)} s)\n`);
        }
      },
    });
    let trainerFrames = 0;
    if (args['trainer-frames'] !== undefined && args['trainer-frames'] !== 'no') {
      const dir = args['trainer-frames'] === 'yes' ? path.join(args.out, 'frames') : args['trainer-frames'];
      trainerFrames = await writeTrainerFrames(args.out, dir, 'train', int(args, 'trainer-max-frames', 1e9));
      process.stderr.write(`synth-data: ${trainerFrames} trainer frames (PNG + masks) in ${dir}\n`);
    }
    process.stdout.write(JSON.stringify({ ...s.splits, trainerFrames }) + '\n');
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return (e as Error) instanceof RangeError ? 2 : 1;
  }
  return 0;
}

void main().then((code) => {
  process.exitCode = code;
});
