import { spawn } from 'child_process';
import * as path from 'path';
import type { Command } from 'commander';
import { loadModelPackage } from '../../perception/package';
import { checkPython, findPython } from '../../training/python';
import { CliError, EXIT } from '../util';

const REPO = path.resolve(__dirname, '..', '..', '..');
const PY_PKG = path.join(REPO, 'src', 'training', 'python');

export interface ExportCliOptions {
  arch: string;
  backbone?: string;
  checkpoint?: string;
  textCheckpoint?: string;
  randomInit?: boolean;
  seed?: string;
  vfm?: string;
  vfmBackbone?: string;
  size?: string;
  resize?: string;
  fp16?: boolean;
  bpeVocab?: string;
  wordVocab?: string;
  name?: string;
  scale?: string;
  optimize?: boolean;
  parityRuntime?: string;
  out: string;
  python?: string;
}

const ARCHS = ['declip-csa', 'declip-qq', 'clip-vanilla', 'proxyclip'];

/** Backbone used when --backbone is not given: DeCLIP's EVA02-CLIP-B/16 for declip-*, OpenAI B/16 otherwise. */
export function defaultBackbone(arch: string): string {
  return arch.startsWith('declip') ? 'eva02-clip-b-16' : 'openai-vit-b-16';
}

/** The Python exporter's argument list for these options. */
export function exporterArgs(o: ExportCliOptions): string[] {
  if (!ARCHS.includes(o.arch)) {
    throw new CliError(`--arch '${o.arch}' is not one of ${ARCHS.join(', ')}`, EXIT.USAGE);
  }
  if (!o.checkpoint && !o.randomInit) {
    throw new CliError(
      'pass --checkpoint X.pt (your CLIP / EVA-CLIP / DeCLIP weights) or --random-init',
      EXIT.USAGE,
    );
  }
  const a = ['--arch', o.arch, '--backbone', o.backbone ?? defaultBackbone(o.arch), '--out', o.out];
  const opt = (flag: string, v: string | undefined) => {
    if (v !== undefined) a.push(flag, v);
  };
  opt('--checkpoint', o.checkpoint);
  if (o.randomInit) a.push('--random-init');
  opt('--text-checkpoint', o.textCheckpoint);
  opt('--seed', o.seed);
  opt('--vfm', o.vfm);
  if (o.arch === 'proxyclip') opt('--vfm-backbone', o.vfmBackbone ?? 'dinov2-vit-b-14-reg');
  if (o.size) a.push('--input-size', ...o.size.split(/[x,\s]+/).filter(Boolean));
  opt('--resize', o.resize);
  if (o.fp16) a.push('--fp16');
  opt('--bpe-vocab', o.bpeVocab);
  opt('--word-vocab', o.wordVocab);
  opt('--name', o.name);
  opt('--scale', o.scale);
  if (o.optimize) a.push('--optimize');
  opt('--parity-runtime', o.parityRuntime);
  return a;
}

/** Runs the Python exporter (output streamed), then validates the written package. Returns the manifest summary. */
export async function runExport(o: ExportCliOptions, quiet = false): Promise<Record<string, unknown>> {
  const args = exporterArgs(o);
  const python = o.python ?? findPython();
  checkPython(python);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(python, ['-m', 'declip_torch.export', ...args], {
      cwd: REPO,
      env: {
        ...process.env,
        PYTHONPATH: [PY_PKG, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      },
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code === 2)
    throw new CliError('the exporter rejected its input (see the message above)', EXIT.BAD_INPUT);
  if (code === 3) {
    throw new CliError(
      `parity check failed: ONNX and PyTorch outputs differ more than the tolerance; see ${path.join(o.out, 'parity.json')}`,
      EXIT.FAILURE,
    );
  }
  if (code !== 0) throw new CliError(`the exporter exited with code ${code}`, EXIT.FAILURE);
  // the runtime's own validation (files, hashes, tensor names) must accept what was written
  const pkg = loadModelPackage(o.out);
  const m = pkg.manifest;
  return {
    out: o.out,
    name: m.name,
    architecture: m.architecture,
    inputSize: m.image.input_size,
    featureDim: m.feature_dim,
    parity: (m.provenance as { parity?: unknown } | undefined)?.parity,
  };
}

export function registerExportCommands(program: Command): void {
  program
    .command('export')
    .description(
      'export your CLIP / EVA-CLIP / DeCLIP (+ DINOv2) checkpoint to a model package (ONNX), parity-checked',
    )
    .requiredOption('--arch <arch>', `model architecture: ${ARCHS.join(' | ')}`)
    .option(
      '--backbone <preset>',
      'backbone preset (default eva02-clip-b-16 for declip-*, openai-vit-b-16 otherwise)',
    )
    .option('--checkpoint <file>', 'CLIP / EVA-CLIP / DeCLIP state dict (.pt/.pth)')
    .option('--text-checkpoint <file>', 'base CLIP checkpoint for the text tower (visual-only fine-tunes)')
    .option('--random-init', 'random weights of the real shapes (tests, benchmarks)')
    .option('--seed <n>', 'seed for --random-init')
    .option('--vfm <file>', 'DINOv2 checkpoint (proxyclip)')
    .option('--vfm-backbone <preset>', 'DINOv2 preset (proxyclip; default dinov2-vit-b-14-reg)')
    .option('--size <HxW>', 'input size, a multiple of the patch (e.g. 448 or 448x448)')
    .option('--resize <policy>', 'runtime resize policy: fixed | short_side | long_side')
    .option('--fp16', 'float16 graphs')
    .option(
      '--bpe-vocab <file>',
      'CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz), copied into the package',
    )
    .option('--word-vocab <file>', 'word list for a word-level tokenizer (small models)')
    .option('--name <name>', 'package name')
    .option('--scale <s>', "DeCLIP attention scale (default head_dim^-0.5; match the checkpoint's)")
    .option('--optimize', 'also apply onnxruntime graph optimisations (parity re-checked)')
    .option('--parity-runtime <r>', 'auto | node (onnxruntime-node, the runtime the node uses) | python')
    .requiredOption('-o, --out <dir>', 'output package directory')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nExample (DeCLIP ViT-B/16, checkpoints from the DeCLIP release):\n' +
        '  declip export --arch declip-csa --backbone eva02-clip-b-16 --checkpoint declip_eva02_b16.pt \\\n' +
        '      --size 448 --bpe-vocab bpe_simple_vocab_16e6.txt.gz --out models/declip-b16\n' +
        'The node then uses it with -p model_path:=models/declip-b16.',
    )
    .action(async (opts: ExportCliOptions & { json?: boolean }) => {
      const s = await runExport(opts, opts.json);
      console.log(opts.json ? JSON.stringify(s, null, 2) : `package ${s.out} (${s.architecture}) validated`);
    });
}
