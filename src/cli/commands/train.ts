/**
 * `declip collect` (frames from bags / live topics -> dataset directory) and `declip train` (DeCLIP distillation
 * through the PyTorch trainer, export, parity, report).
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { collectFromBag, collectLive, type CollectStats } from '../../training/collect';
import { runTraining, TrainingError, type TrainOptions } from '../../training/orchestrate';
import type { PyEvent } from '../../training/python';
import { CliError, EXIT, progressBar, requestExitCode } from '../util';

function list(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function num(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min)
      throw new CliError(`--${name}: '${v}' is not a number >= ${min}`, EXIT.USAGE);
    return x;
  };
}

function int(name: string, min = 1): (v: string) => number {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) {
      throw new CliError(`--${name}: '${v}' is not an integer >= ${min}`, EXIT.USAGE);
    }
    return x;
  };
}

function statsLine(s: CollectStats): string {
  return (
    `kept ${s.kept} of ${s.seen} (too soon ${s.tooSoon}, near-duplicates ${s.duplicates}, motion ${s.motion}` +
    `${s.resumedPast ? `, already collected ${s.resumedPast}` : ''}${s.errors ? `, undecodable ${s.errors}` : ''})` +
    `${s.withMasks ? `, ${s.withMasks} with masks` : ''}`
  );
}

interface CollectCliOpts {
  bag?: string[];
  out: string;
  topic?: string;
  maskTopic?: string;
  masks?: boolean;
  every: number;
  dedup: number;
  maxMotion?: number;
  maxFrames?: number;
  live?: boolean;
  compressed?: boolean;
  duration?: number;
  json?: boolean;
}

async function collectCommand(o: CollectCliOpts): Promise<void> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const results: Record<string, unknown>[] = [];
  try {
    const sampling = {
      everySec: o.every,
      dedupThreshold: o.dedup,
      maxMotion: o.maxMotion,
      maxFrames: o.maxFrames,
    };
    if (o.live) {
      if (!o.topic) throw new CliError('--live needs --topic (e.g. /camera/color/image_raw)', EXIT.USAGE);
      const { rosEnvironmentAvailable, loadRclnodejsRuntime } = await import('../../node/rclnodejs');
      if (!rosEnvironmentAvailable()) {
        throw new CliError(
          'live collection needs ROS 2: source /opt/ros/<distro>/setup.bash (ROS_DISTRO and AMENT_PREFIX_PATH ' +
            'must be set) and install rclnodejs; or record a bag and use --bag',
        );
      }
      const runtime = await loadRclnodejsRuntime();
      await runtime.init();
      try {
        const r = await collectLive(runtime, {
          ...sampling,
          out: o.out,
          topic: o.topic,
          compressed: o.compressed,
          maskTopic: o.maskTopic,
          durationSec: o.duration,
          signal: ac.signal,
          onFrame: (d, s) => {
            if (d === 'keep' && !o.json) process.stderr.write(`\rcollect: ${s.kept} frames`);
          },
        });
        results.push({ live: o.topic, ...r.stats, frames: r.header.frames });
        if (!o.json) process.stderr.write(`\n${o.topic}: ${statsLine(r.stats)}\n`);
      } finally {
        await runtime.shutdown();
      }
    } else {
      if (!o.bag?.length)
        throw new CliError('pass --bag BAG (repeatable) or --live --topic TOPIC', EXIT.USAGE);
      for (const bag of o.bag) {
        let bar: ReturnType<typeof progressBar> | undefined;
        let last = 0;
        const r = await collectFromBag(bag, {
          ...sampling,
          out: o.out,
          topic: o.topic,
          maskTopic: o.masks === false ? false : o.maskTopic,
          signal: ac.signal,
          onProgress: (read, total) => {
            bar ??= progressBar(total, `collect ${bag}`, { quiet: o.json });
            bar.tick(read - last);
            last = read;
          },
        });
        bar?.stop();
        results.push({
          bag,
          topic: r.topic,
          maskTopic: r.maskTopic ?? null,
          ...r.stats,
          frames: r.header.frames,
        });
        if (!o.json)
          console.error(
            `${bag} ${r.topic}: ${statsLine(r.stats)}; dataset ${o.out}: ${r.header.frames} frames`,
          );
        if (ac.signal.aborted) break;
      }
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
  if (o.json) console.log(JSON.stringify({ out: o.out, sources: results, interrupted: ac.signal.aborted }));
  if (ac.signal.aborted) requestExitCode(EXIT.INTERRUPTED);
}

interface TrainCliOpts {
  data: string;
  out: string;
  base?: string;
  backbone?: string;
  randomInit?: boolean;
  vfm?: string;
  vfmBackbone?: string;
  vfmRandomInit?: boolean;
  contextTeacher?: string[];
  arch?: 'declip-csa' | 'declip-qq';
  device?: string;
  seed?: number;
  steps?: number;
  epochs?: number;
  batchSize?: number;
  accumulation?: number;
  lr?: number;
  studentSize?: string;
  checkpointEvery?: number;
  contextForm?: string;
  regionWeight?: number;
  contextWeight?: number;
  ensembleAlpha?: number;
  set?: string[];
  export?: boolean;
  bpeVocab?: string;
  wordVocab?: string;
  exportSize?: number;
  name?: string;
  json?: boolean;
}

function parseSet(items: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const it of items) {
    const i = it.indexOf('=');
    if (i <= 0)
      throw new CliError(
        `--set: '${it}' is not key=value (TrainConfig field, e.g. warmup_steps=100)`,
        EXIT.USAGE,
      );
    const k = it.slice(0, i).replace(/-/g, '_');
    const v = it.slice(i + 1);
    let val: unknown = v;
    try {
      val = JSON.parse(v);
    } catch {
      /* a plain string */
    }
    out[k] = val;
  }
  return out;
}

/** A progress bar with the loss terms, lr, it/s and ETA (stderr, TTY only); plain lines otherwise. */
function trainProgress(quiet: boolean) {
  const tty = !quiet && process.stderr.isTTY === true && !process.env.CI;
  let bar: SingleBar | undefined;
  let lastLine = 0;
  return {
    onEvent(e: PyEvent) {
      if (quiet) return;
      if (e.event === 'start') {
        const total = Number(e.steps);
        const msg =
          `training ${String(e.backbone)} (${String(e.arch)}) on ${String(e.train_frames)} frames ` +
          `(${String(e.val_frames)} held out), ${total} steps on ${String(e.device)}` +
          `${e.resumed ? `, resuming at step ${String(e.step)}` : ''}; teachers ${(e.teachers as string[]).join(', ') || 'none'}`;
        console.error(msg);
        if (tty) {
          bar = new SingleBar(
            {
              format:
                'train [{bar}] {value}/{total} | loss {loss} ({terms}) | lr {lr} | {its} it/s | eta {eta_s}',
              stream: process.stderr,
              hideCursor: true,
            },
            Presets.shades_classic,
          );
          bar.start(total, Number(e.step), { loss: '-', terms: '', lr: '-', its: '-', eta_s: '-' });
        }
      } else if (e.event === 'step') {
        const terms = Object.entries(e.terms as Record<string, number>)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join(', ');
        const eta = typeof e.eta_s === 'number' ? `${Math.round(e.eta_s)}s` : '-';
        const fields = {
          loss: Number(e.loss).toFixed(4),
          terms,
          lr: Number(e.lr).toExponential(2),
          its: Number(e.its).toFixed(2),
          eta_s: eta,
        };
        if (bar) bar.update(Number(e.step), fields);
        else if (Date.now() - lastLine > 5000 || e.step === e.steps) {
          lastLine = Date.now();
          console.error(
            `step ${String(e.step)}/${String(e.steps)} loss ${fields.loss} (${terms}) lr ${fields.lr} ${fields.its} it/s eta ${eta}`,
          );
        }
      } else if (e.event === 'done' || e.event === 'error') {
        bar?.stop();
        bar = undefined;
      } else if (e.event === 'eval') {
        bar?.stop();
        bar = undefined;
        const b = e.before as Record<string, number>;
        const a = e.after as Record<string, number>;
        const f = (x: unknown) => (typeof x === 'number' ? x.toFixed(4) : '-');
        console.error(
          `eval on ${String(e.split)}: mask mIoU ${f(b.mask_miou)} -> ${f(a.mask_miou)}, correlation agreement ` +
            `${f(b.corr_agreement)} -> ${f(a.corr_agreement)}`,
        );
      } else if (e.event === 'export') {
        console.error(`exported ${String(e.out)} (parity passed)`);
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

async function trainCommand(o: TrainCliOpts): Promise<void> {
  const trainer: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => {
    if (v !== undefined) trainer[k] = v;
  };
  put('steps', o.steps);
  put('epochs', o.epochs);
  put('batch_size', o.batchSize);
  put('accumulation', o.accumulation);
  put('lr', o.lr);
  put('checkpoint_every', o.checkpointEvery);
  put('context_form', o.contextForm);
  put('region_weight', o.regionWeight);
  put('context_weight', o.contextWeight);
  put('ensemble_alpha', o.ensembleAlpha);
  if (o.studentSize) {
    const m = /^(\d+)(?:[-:](\d+))?$/.exec(o.studentSize);
    if (!m)
      throw new CliError(`--student-size: '${o.studentSize}' is not N or MIN-MAX (e.g. 448-560)`, EXIT.USAGE);
    trainer.student_min_size = Number(m[1]);
    trainer.student_max_size = Number(m[2] ?? m[1]);
  }
  Object.assign(trainer, parseSet(o.set));
  const progress = trainProgress(Boolean(o.json));
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const opts: TrainOptions = {
    data: o.data,
    out: o.out,
    base: o.base,
    backbone: o.backbone,
    randomInit: o.randomInit,
    vfm: o.vfm,
    vfmBackbone: o.vfmBackbone,
    vfmRandomInit: o.vfmRandomInit,
    contextTeachers: o.contextTeacher,
    arch: o.arch,
    device: o.device,
    seed: o.seed,
    trainer,
    export: o.export,
    bpeVocab: o.bpeVocab,
    wordVocab: o.wordVocab,
    exportSize: o.exportSize,
    packageName: o.name,
    onEvent: (e) => {
      progress.onEvent(e);
      if (o.json) console.log(JSON.stringify(e));
    },
    signal: ac.signal,
  };
  try {
    const r = await runTraining(opts);
    if (!o.json) {
      console.error(`report: ${r.report.html}`);
      if (r.packageDir) console.error(`model package: ${r.packageDir}`);
    } else {
      console.log(
        JSON.stringify({
          event: 'result',
          out: r.out,
          package: r.packageDir ?? null,
          report: r.report.json,
          steps: r.steps,
        }),
      );
    }
  } catch (e) {
    progress.stop();
    if (e instanceof TrainingError && e.code === 'interrupted') {
      console.error(`interrupted; run the same command again to resume from the last checkpoint in ${o.out}`);
      requestExitCode(EXIT.INTERRUPTED);
      return;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

export function registerTrainCommands(program: Command): void {
  program
    .command('collect')
    .description('sample training frames from bags (or live topics) into a dataset directory (resumable)')
    .option('--bag <bag>', 'rosbag2 bag (directory, .mcap or .db3); repeatable', list)
    .requiredOption('--out <dir>', 'dataset directory (created; re-running continues it)')
    .option('--topic <topic>', 'colour topic (default /camera/color/image_raw or the only colour topic)')
    .option(
      '--mask-topic <topic>',
      'instance-id mask topic (default /ground_truth/instance_mask when present)',
    )
    .option('--no-masks', 'do not collect instance masks')
    .option('--every <seconds>', 'keep at most one frame every N seconds', num('every'), 1)
    .option(
      '--dedup <diff>',
      'skip near-duplicates: mean grey difference to the last kept frame below this (0..255, 0 = off)',
      num('dedup'),
      3,
    )
    .option(
      '--max-motion <diff>',
      'skip frames differing from the previous message by more than this (motion blur)',
      num('max-motion'),
    )
    .option('--max-frames <n>', 'stop when the dataset holds this many frames', int('max-frames'))
    .option('--live', 'subscribe to live topics (needs ROS 2 and rclnodejs)')
    .option('--compressed', 'live: the topic is sensor_msgs/msg/CompressedImage')
    .option('--duration <seconds>', 'live: stop after this many seconds', num('duration'))
    .option('--json', 'print a JSON summary on stdout')
    .action((o: CollectCliOpts) => collectCommand(o));

  program
    .command('train')
    .description('DeCLIP distillation on collected frames (PyTorch), then export + parity + report')
    .requiredOption('--data <dir>', 'dataset directory from `declip collect`')
    .requiredOption('--out <dir>', 'run directory, e.g. runs/NAME (re-running resumes it)')
    .option(
      '--base <checkpoint>',
      'PyTorch CLIP checkpoint (OpenAI / open_clip / EVA-CLIP / a previous student.pt)',
    )
    .option('--backbone <preset>', 'CLIP preset of the base (e.g. openai-vit-b-16, eva02-clip-b-16)')
    .option('--random-init', 'random base weights (tests, benchmarks)')
    .option('--vfm <checkpoint-or-onnx>', 'VFM teacher: DINOv2 checkpoint (.pth) or vfm.onnx')
    .option('--vfm-backbone <preset>', 'DINOv2 preset of a .pth VFM (e.g. dinov2-vit-b-14-reg)')
    .option('--vfm-random-init', 'random VFM weights (tests, benchmarks)')
    .option(
      '--context-teacher <spec>',
      'context teacher (repeatable): vfm | self-layer:K | scd | mask-affinity | diffusion:FILE.py [,weight=W,form=l2|kl]',
      list,
    )
    .option('--arch <arch>', 'declip-csa (default) or declip-qq')
    .option('--device <device>', 'auto (default) | cpu | cuda | cuda:N')
    .option('--seed <n>', 'seed', int('seed', 0))
    .option('--steps <n>', 'optimizer steps (default: --epochs over the training split)', int('steps'))
    .option('--epochs <n>', 'epochs (default 1)', int('epochs'))
    .option('--batch-size <n>', 'images per batch (default 2)', int('batch-size'))
    .option('--accumulation <n>', 'gradient accumulation steps (default 1)', int('accumulation'))
    .option('--lr <lr>', 'AdamW learning rate (default 1e-5)', num('lr'))
    .option('--student-size <n|min-max>', 'student input (longest side, padded), default 448-560')
    .option('--checkpoint-every <n>', 'checkpoint every N steps (default 50)', int('checkpoint-every'))
    .option('--context-form <form>', 'l2 (released code, default) or kl (paper)')
    .option('--context-weight <w>', 'context loss weight (default 0.25)', num('context-weight'))
    .option('--region-weight <w>', 'region correlation weight (default 0.05)', num('region-weight'))
    .option(
      '--ensemble-alpha <a>',
      'end-of-epoch weight ensembling alpha (default 0.7; 1 = off)',
      num('ensemble-alpha'),
    )
    .option('--set <key=value>', 'any other trainer field (repeatable), e.g. warmup_steps=100', list)
    .option('--bpe-vocab <file>', 'CLIP BPE vocabulary for the exported package')
    .option('--word-vocab <file>', 'word list for a word-level tokenizer (small custom models)')
    .option('--no-export', 'skip the model-package export')
    .option('--export-size <n>', 'export input size (default: the smallest student size)', int('export-size'))
    .option('--name <name>', 'package name in model.json')
    .option('--json', 'print the trainer events as JSON lines on stdout')
    .action((o: TrainCliOpts) => trainCommand(o));
}
