/**
 * CLI: open-vocabulary mask mIoU of model packages on the held-out synthetic frames (see synthDataEval.ts).
 *
 *   node dist/training/synthDataEvalCli.js --data runs/tiny-synth/data --model models/tiny-synth \
 *       --model runs/tiny-synth/baseline-clip-vanilla --out runs/tiny-synth/eval.json [--max-frames N]
 */
import * as fs from 'fs';
import * as path from 'path';
import { evaluateSynthMasks, type SynthMaskEval } from './synthDataEval';
import { runCliMain } from './cliMain';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const models: string[] = [];
  let data = '';
  let out = '';
  let maxFrames = Infinity;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) {
      process.stderr.write(`error: synth-eval: option ${a} needs a value\n`);
      return 2;
    }
    if (a === '--model') models.push(v);
    else if (a === '--data') data = v;
    else if (a === '--out') out = v;
    else if (a === '--max-frames') maxFrames = Number(v);
    else {
      process.stderr.write(
        `error: synth-eval: unknown option ${a} (use --data, --model, --out, --max-frames)\n`,
      );
      return 2;
    }
    i++;
  }
  if (!data || models.length === 0) {
    process.stderr.write('error: synth-eval: --data DIR and at least one --model DIR are required\n');
    return 2;
  }
  const results: SynthMaskEval[] = [];
  for (const m of models) {
    const t0 = Date.now();
    const r = await evaluateSynthMasks(m, data, {
      maxFrames,
      perceiver: { device: 'cpu' },
      onProgress: (d, n) => {
        if (d === n || d % 8 === 0)
          process.stderr.write(`synth-eval: ${path.basename(m)} ${d}/${n} frames\n`);
      },
    });
    process.stderr.write(
      `synth-eval: ${r.model} (${r.architecture}) single mIoU ${r.single.all.miou.toFixed(3)} ` +
        `[seen ${r.single.seen.miou.toFixed(3)}, held-out ${r.single.heldOut.miou.toFixed(3)}], joint ` +
        `${r.joint.all.miou.toFixed(3)} [seen ${r.joint.seen.miou.toFixed(3)}, held-out ` +
        `${r.joint.heldOut.miou.toFixed(3)}] (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
    results.push(r);
  }
  const json = JSON.stringify({ data: path.resolve(data), models: results }, null, 2) + '\n';
  if (out) {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, json);
  } else process.stdout.write(json);
  return 0;
}

runCliMain(main);
