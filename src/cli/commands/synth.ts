import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import {
  CATEGORIES,
  exportBop,
  exportCaptions,
  exportNocs,
  generateSequence,
  type Category,
} from '../../synth';
import { writeSequenceBag } from '../../synth/bag';
import { generateTestBags } from '../../synth/fixtures';
import type { SynthSequence } from '../../synth/sequence';
import { REAL275_INTRINSICS, type CameraIntrinsics } from '../../types';
import { InvalidArgumentError } from 'commander';
import { CliError, progressBar } from '../util';

export interface SynthCliOptions {
  seed: number;
  scenes: number;
  frames: number;
  objects?: number;
  categories?: string[];
  rate: number;
  width?: number;
  height?: number;
  noise: boolean;
  bag?: string;
  storage?: 'mcap' | 'sqlite3';
  bop?: string;
  nocs?: string;
  captions?: string;
  overwrite?: boolean;
  json?: boolean;
}

function intOpt(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

/** Camera for --width/--height: REAL275 intrinsics scaled to the size. */
export function scaledCamera(width?: number, height?: number): CameraIntrinsics {
  const c = REAL275_INTRINSICS;
  if (width === undefined && height === undefined) return c;
  const w = width ?? Math.round(((height ?? c.height) * c.width) / c.height);
  const h = height ?? Math.round((w * c.height) / c.width);
  const sx = w / c.width;
  const sy = h / c.height;
  return { ...c, width: w, height: h, fx: c.fx * sx, fy: c.fy * sy, cx: c.cx * sx, cy: c.cy * sy };
}

/** Generates the scenes and writes the requested outputs; returns a JSON summary. */
export async function runSynth(o: SynthCliOptions): Promise<Record<string, unknown>> {
  if (!o.bag && !o.bop && !o.nocs && !o.captions) {
    throw new CliError(
      'nothing to write: pass at least one of --bag DIR, --bop DIR, --nocs DIR, --captions FILE',
      2,
    );
  }
  const cats = o.categories?.map((c) => c.trim().toLowerCase());
  for (const c of cats ?? []) {
    if (!(CATEGORIES as readonly string[]).includes(c)) {
      throw new CliError(`--categories: unknown category '${c}'; use some of ${CATEGORIES.join(', ')}`, 2);
    }
  }
  for (const out of [o.bag, o.bop, o.nocs]) {
    if (out && fs.existsSync(out) && !o.overwrite) {
      throw new CliError(`${out} already exists; delete it or pass --overwrite`, 2);
    }
  }
  const camera = scaledCamera(o.width, o.height);
  const bar = progressBar(o.scenes * o.frames, 'render', { quiet: o.json });
  const seqs: SynthSequence[] = [];
  for (let s = 0; s < o.scenes; s++) {
    seqs.push(
      generateSequence({
        seed: o.seed + s,
        numFrames: o.frames,
        numObjects: o.objects,
        categories: cats as Category[] | undefined,
        frameRateHz: o.rate,
        camera,
        sensor: o.noise ? undefined : false,
      }),
    );
    bar.tick(o.frames);
  }
  bar.stop();
  const written: Record<string, unknown> = {};
  if (o.bag) {
    const bags: string[] = [];
    for (let s = 0; s < seqs.length; s++) {
      const p = seqs.length === 1 ? o.bag : path.join(o.bag, `scene_${String(s + 1).padStart(6, '0')}`);
      if (seqs.length > 1) fs.mkdirSync(o.bag, { recursive: true });
      await writeSequenceBag(seqs[s], p, { storage: o.storage, overwrite: o.overwrite });
      bags.push(p);
    }
    written.bags = bags;
  }
  if (o.bop) {
    if (o.overwrite) fs.rmSync(o.bop, { recursive: true, force: true });
    const r = await exportBop(o.bop, seqs);
    written.bop = { modelsDir: r.modelsDir, sceneDirs: r.sceneDirs };
  }
  if (o.nocs) {
    if (o.overwrite) fs.rmSync(o.nocs, { recursive: true, force: true });
    const r = await exportNocs(o.nocs, seqs);
    written.nocs = { sceneDirs: r.sceneDirs, modelDir: r.modelDir };
  }
  if (o.captions) {
    written.captions = { file: o.captions, records: await exportCaptions(o.captions, seqs) };
  }
  return {
    seed: o.seed,
    scenes: o.scenes,
    framesPerScene: o.frames,
    camera: {
      width: camera.width,
      height: camera.height,
      fx: camera.fx,
      fy: camera.fy,
      cx: camera.cx,
      cy: camera.cy,
    },
    objects: seqs.map((q) => q.scene.objects.map((x) => `${x.material.colour} ${x.category}`)),
    ...written,
  };
}

export function registerSynthCommands(program: Command): void {
  program
    .command('synth')
    .description(
      'generate seeded synthetic RGB-D scenes with ground truth: rosbag2 bags, BOP, NOCS/REAL275, captions',
    )
    .option(
      '--seed <n>',
      'seed of the first scene (scene k uses seed + k)',
      intOpt('seed', 0, 2 ** 31 - 1),
      1,
    )
    .option('--scenes <n>', 'number of scenes', intOpt('scenes', 1, 10000), 1)
    .option('--frames <n>', 'frames per scene (camera moves along an arc)', intOpt('frames', 1, 100000), 20)
    .option('--objects <n>', 'objects per scene (default random 4..7)', intOpt('objects', 1, 20))
    .option('--categories <list...>', `categories to draw from (${CATEGORIES.join(', ')})`)
    .option('--rate <hz>', 'frame rate of the bag, Hz', parseFloat, 15)
    .option('--width <px>', 'image width (REAL275 intrinsics scaled; default 640)', intOpt('width', 16, 4096))
    .option('--height <px>', 'image height (default 480)', intOpt('height', 16, 4096))
    .option('--no-noise', 'exact depth (no sensor model)')
    .option(
      '--bag <path>',
      'write a rosbag2 bag (directory, or .mcap/.db3 file; one per scene under it when --scenes > 1)',
    )
    .option('--storage <s>', 'bag storage: mcap (default) or sqlite3')
    .option('--bop <dir>', 'write a BOP-format dataset')
    .option('--nocs <dir>', 'write a NOCS/REAL275-layout dataset (GT as JSON sidecars)')
    .option('--captions <file>', 'write per-object caption records (JSONL) for training')
    .option('--overwrite', 'replace existing outputs')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  declip synth --seed 3 --frames 30 --bag out/scene3\n  declip synth --scenes 4 --frames 10 --bop out/bop --nocs out/nocs',
    )
    .action(async (opts: SynthCliOptions) => {
      if (opts.storage && opts.storage !== 'mcap' && opts.storage !== 'sqlite3') {
        throw new CliError(`--storage must be mcap or sqlite3, got '${opts.storage}'`, 2);
      }
      if (!(opts.rate > 0 && opts.rate <= 1000)) throw new CliError(`--rate must be in (0, 1000] Hz`, 2);
      const summary = await runSynth(opts);
      if (opts.json) console.log(JSON.stringify(summary, null, 2));
      else {
        const objs = summary.objects as string[][];
        objs.forEach((o, i) => console.log(`scene ${i + 1}: ${o.join(', ')}`));
        for (const k of ['bags', 'bop', 'nocs', 'captions']) {
          if (summary[k]) console.log(`${k}: ${JSON.stringify(summary[k])}`);
        }
      }
    });
}

export function registerTestBagCommands(program: Command): void {
  program
    .command('gen-test-bags')
    .description('regenerate the checked-in test bags and demo models (bit-exact; npm run gen:test-bags)')
    .option('--out <dir>', 'output directory', 'test/bags')
    .action(async (opts: { out: string }) => {
      const paths = await generateTestBags(opts.out, (n) => console.log(`wrote ${path.join(opts.out, n)}`));
      console.log(`${paths.length} fixtures in ${opts.out}`);
    });
}
