import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import { DEFAULT_MODEL_DIR } from '../../node/declipPipeline';
import { convertBop, convertReal275, readPromptsFile, type ConvertProgress } from '../../eval/convert';
import { EVAL_SMALL_CAMERA, synthEvalSequences, writeSynthBop, writeSynthNocs } from '../../eval/fixtures';
import { scaledCamera } from './synth';
import { runEvaluation, type EvalProtocol, type EvalRunConfig, type MaskVariant } from '../../eval/run';
import { CliError, EXIT, progressBar, requestExitCode, type Progress } from '../util';

const DATASETS = ['real275', 'toyl', 'bop'] as const;

function intOpt(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new CliError(`--${name} must be an integer >= ${min}, got '${v}'`, EXIT.USAGE);
    return n;
  };
}

function oneOf<T extends string>(name: string, values: readonly T[], v: string): T {
  if (!values.includes(v as T))
    throw new CliError(`--${name} must be one of ${values.join(', ')}, got '${v}'`, EXIT.USAGE);
  return v as T;
}

/** A progress bar created on the first event (totals are known only then). */
function lazyBar(label: string, quiet: boolean) {
  let bar: Progress | null = null;
  let last = 0;
  return {
    update(done: number, total: number) {
      bar ??= progressBar(total, label, { quiet });
      if (done > last) bar.tick(done - last);
      last = done;
    },
    stop() {
      bar?.stop();
    },
  };
}

/** `declip eval convert|run|synth`. */
export function registerEvalCommands(program: Command): void {
  const ev = program
    .command('eval')
    .description(
      'rosbag replay evaluation: convert REAL275 / TOYL / BOP datasets to bags, run protocols, reports',
    );

  ev.command('convert')
    .description(
      'convert a dataset to one MCAP bag per scene (RealSense topics + ground truth) and a model set',
    )
    .requiredOption('--dataset <name>', `dataset layout: ${DATASETS.join(' | ')}`)
    .requiredOption(
      '--src <dir>',
      'dataset root (REAL275: with real_test/, gts/, obj_models/; BOP: with test/, models/)',
    )
    .requiredOption('--out <dir>', 'output directory (scenes/*.mcap, models/, dataset.json)')
    .option('--split <name>', 'BOP split folder', 'test')
    .option('--subset <name>', 'REAL275 subset folder', 'real_test')
    .option('--scenes <ids>', 'comma-separated scene ids (default: all)')
    .option('--max-frames <n>', 'at most n frames per scene', intOpt('max-frames', 1))
    .option('--prompts <file>', 'JSON {objectId: "text prompt"} (BOP obj_id or REAL275 model name)')
    .option(
      '--overwrite',
      're-convert scenes whose bag exists (default: skip them, so an interrupted run resumes)',
    )
    .option('--json', 'print a JSON summary')
    .action(
      async (o: {
        dataset: string;
        src: string;
        out: string;
        split: string;
        subset: string;
        scenes?: string;
        maxFrames?: number;
        prompts?: string;
        overwrite?: boolean;
        json?: boolean;
      }) => {
        const dataset = oneOf('dataset', DATASETS, o.dataset);
        const bar = lazyBar(`convert ${dataset}`, !!o.json);
        const onProgress: ConvertProgress = (e) => bar.update(e.done, e.total);
        const common = {
          srcDir: o.src,
          outDir: o.out,
          scenes: o.scenes
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          maxFrames: o.maxFrames,
          overwrite: o.overwrite,
          prompts: readPromptsFile(o.prompts),
          onProgress,
        };
        try {
          const s =
            dataset === 'real275'
              ? await convertReal275({ ...common, subset: o.subset })
              : await convertBop({ ...common, dataset, split: o.split });
          bar.stop();
          if (o.json) console.log(JSON.stringify(s, null, 2));
          else {
            const conv = s.scenes.filter((x) => !x.skipped);
            console.log(
              `${s.dataset}: ${s.scenes.length} scenes (${conv.length} converted, ${s.scenes.length - conv.length} already done), ` +
                `${s.scenes.reduce((n, x) => n + x.frames, 0)} frames, ${s.objects} models -> ${path.resolve(o.out)}`,
            );
          }
        } finally {
          bar.stop();
        }
      },
    );

  ev.command('run')
    .description(
      'replay converted bags through the node, evaluate a protocol, write results.jsonl, summary.json, report.html',
    )
    .requiredOption('--bags <dir>', 'converted dataset (output of declip eval convert)')
    .requiredOption('--out <dir>', 'results directory (resumed when it holds results of the same settings)')
    .option('--dataset <name>', `expected dataset: ${DATASETS.join(' | ')}`)
    .option(
      '--model <pkg>',
      'model package directory (predicted masks; dense features for anchor-mode pose); predicted masks default to the embedded model',
    )
    .option(
      '--protocol <name>',
      'oryon (anchor/query pairs across scenes) | bop (single view with the model)',
      'oryon',
    )
    .option(
      '--pairs <n>',
      'pairs (oryon) or targets (bop) to sample; the papers use 2000',
      intOpt('pairs', 1),
      2000,
    )
    .option('--seed <n>', 'sampling seed', intOpt('seed', 0), 0)
    .option(
      '--masks <variant>',
      'oracle (GT masks) | predicted (model masks); default predicted with --model, else oracle',
    )
    .option(
      '--predicted-by <who>',
      'predicted masks from: node (the node pipeline, default) | perceiver',
      'node',
    )
    .option('--workers <n>', 'worker processes, each with its own inference session', intOpt('workers', 1), 1)
    .option(
      '--input-size <px>',
      'network input size override for dynamic-size packages',
      intOpt('input-size', 8),
    )
    .option('--no-vsd', 'skip VSD (no model rendering; AR is then not reported)')
    .option('--thumbnails <n>', 'best and worst pairs shown with overlays', intOpt('thumbnails', 0), 4)
    .option('--overwrite', 'delete earlier results in --out and start over')
    .option('--json', 'print the summary as JSON')
    .action(
      async (o: {
        bags: string;
        out: string;
        dataset?: string;
        model?: string;
        protocol: string;
        pairs: number;
        seed: number;
        masks?: string;
        predictedBy: string;
        workers: number;
        inputSize?: number;
        vsd: boolean;
        thumbnails: number;
        overwrite?: boolean;
        json?: boolean;
      }) => {
        const masks: MaskVariant = o.masks
          ? oneOf('masks', ['oracle', 'predicted'] as const, o.masks)
          : o.model
            ? 'predicted'
            : 'oracle';
        if (masks === 'predicted' && !o.model) {
          // the embedded default model, when it is there
          if (fs.existsSync(path.join(DEFAULT_MODEL_DIR, 'model.json'))) o.model = DEFAULT_MODEL_DIR;
          else {
            throw new CliError(
              `--masks predicted needs --model <package dir> (no embedded model at ${DEFAULT_MODEL_DIR})`,
              EXIT.USAGE,
            );
          }
        }
        const config: EvalRunConfig = {
          bagsDir: path.resolve(o.bags),
          ...(o.dataset ? { dataset: oneOf('dataset', DATASETS, o.dataset) } : {}),
          protocol: oneOf<EvalProtocol>('protocol', ['oryon', 'bop'], o.protocol),
          pairs: o.pairs,
          seed: o.seed,
          masks,
          ...(o.model ? { modelPath: path.resolve(o.model) } : {}),
          vsd: o.vsd,
          ...(masks === 'predicted'
            ? { predictedBy: oneOf('predicted-by', ['node', 'perceiver'] as const, o.predictedBy) }
            : {}),
          ...(o.inputSize ? { inputSize: o.inputSize } : {}),
        };
        const bar = lazyBar(`eval ${config.protocol}`, !!o.json);
        const signal = { aborted: false };
        const stop = () => {
          signal.aborted = true;
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const s = await runEvaluation(config, {
            signal,
            outDir: o.out,
            workers: o.workers,
            thumbnails: o.thumbnails,
            overwrite: o.overwrite,
            onProgress: (p) => bar.update(p.done, p.total),
          });
          bar.stop();
          if (s.interrupted) {
            requestExitCode(EXIT.INTERRUPTED);
            console.error(
              `interrupted: ${s.aggregate.count}/${s.tasks} tasks done; run the same command again to resume`,
            );
          }
          if (o.json) {
            console.log(JSON.stringify(s, null, 2));
            return;
          }
          const a = s.aggregate;
          const f = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));
          console.log(
            [
              `${a.count}/${s.tasks} tasks done (${s.evaluated} evaluated now, ${s.resumed} resumed), ${a.missing} without estimate`,
              `AR ${f(a.ar)}  VSD ${f(a.vsd)}  MSSD ${f(a.mssd)}  MSPD ${f(a.mspd)}  ADD(S)-0.1d ${f(a.addS01d)}`,
              `mask IoU ${f(a.mask.meanIou)} (>0.25 ${f(a.mask.shareAbove025)}, >0.5 ${f(a.mask.shareAbove050)}, >0.75 ${f(a.mask.shareAbove075)})`,
              `median rotation error ${f(a.medianReDeg)} deg, translation error ${f(a.medianTeCm)} cm`,
              `results: ${s.resultsPath}`,
              `report:  ${s.reportPath}`,
            ].join('\n'),
          );
        } finally {
          bar.stop();
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
        }
      },
    );

  ev.command('synth')
    .description(
      'write small synthetic datasets in the BOP (TOYL-like) and NOCS (REAL275-like) layouts, for trying the tools',
    )
    .requiredOption('--out <dir>', 'output directory (bop/ and nocs/ inside, each with prompts.json)')
    .option('--scenes <n>', 'scenes (same objects rearranged)', intOpt('scenes', 2), 2)
    .option('--frames <n>', 'frames per scene', intOpt('frames', 1), 3)
    .option('--seed <n>', 'scene seed (scene s uses seed + 1000 s)', intOpt('seed', 0), 7)
    .option('--width <px>', 'image width (REAL275 intrinsics scaled; default 160)', intOpt('width', 16))
    .option('--height <px>', 'image height (default width x 3/4, or 120)', intOpt('height', 16))
    .option(
      '--world',
      "the model's world (table, room, palette colours, default light), as models/tiny-synth was trained on",
    )
    .option(
      '--pickles',
      'NOCS ground truth as REAL275-style .pkl files (needs python3 with numpy); default JSON',
    )
    .action(
      async (o: {
        out: string;
        scenes: number;
        frames: number;
        seed: number;
        width?: number;
        height?: number;
        world?: boolean;
        pickles?: boolean;
      }) => {
        const camera =
          o.width === undefined && o.height === undefined
            ? EVAL_SMALL_CAMERA
            : scaledCamera(o.width, o.height);
        const seqs = synthEvalSequences({
          scenes: o.scenes,
          framesPerScene: o.frames,
          seed: o.seed,
          camera,
          world: !!o.world,
        });
        const b = await writeSynthBop(path.join(o.out, 'bop'), seqs);
        const n = await writeSynthNocs(path.join(o.out, 'nocs'), seqs, { pickles: o.pickles });
        console.log(`BOP:  ${b.root} (prompts ${b.prompts})\nNOCS: ${n.root} (prompts ${n.prompts})`);
      },
    );
}
