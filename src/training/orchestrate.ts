/**
 * `declip train` orchestration: validate inputs, spawn the PyTorch trainer (declip_torch.train), stream its
 * JSON-lines progress, export the final student through the exporter (parity checked), and write the report.
 *
 * Re-running the same command after a crash or `kill -9` resumes from the last checkpoint (OUT/checkpoint.pt),
 * exactly where it stopped; re-running a finished run only redoes its final outputs, export and report.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DatasetError, readManifest } from './dataset';
import { checkPython, findPython, runPythonModule, type PyEvent, type PythonInfo } from './python';
import { writeTrainingReport, type TrainingReport } from './report';

/** A training failure with a machine-readable code (as in the trainer's `error` event) and a fix. */
export class TrainingError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint: string = '',
  ) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
    this.name = 'TrainingError';
  }
}

export interface TrainOptions {
  data: string;
  out: string;
  /** PyTorch CLIP checkpoint (a model package is not trainable: pass the checkpoint it was exported from). */
  base?: string;
  backbone?: string;
  randomInit?: boolean;
  /** DINOv2 checkpoint (.pth, with vfmBackbone) or a VFM ONNX (the exporter's vfm.onnx contract). */
  vfm?: string;
  vfmBackbone?: string;
  vfmRandomInit?: boolean;
  /** Context teacher specs (see declip_torch/teachers.py): vfm, self-layer:K, scd, mask-affinity, diffusion:F. */
  contextTeachers?: string[];
  arch?: 'declip-csa' | 'declip-qq';
  device?: string;
  seed?: number;
  /** Further TrainConfig fields in snake_case (steps, epochs, batch_size, lr, checkpoint_every, ...). */
  trainer?: Record<string, unknown>;
  /** Export the final student (default true); needs bpeVocab or wordVocab. */
  export?: boolean;
  bpeVocab?: string;
  wordVocab?: string;
  /** Export input size (default: the trainer's eval size = student_min_size). */
  exportSize?: number;
  packageName?: string;
  parityRuntime?: 'auto' | 'node' | 'python';
  python?: string;
  onEvent?: (e: PyEvent) => void;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  out: string;
  resumed: boolean;
  steps: number;
  python: PythonInfo;
  packageDir?: string;
  parity?: unknown;
  report: { json: string; html: string; report: TrainingReport };
}

function isOnnxPackage(p: string): boolean {
  return (
    p.endsWith('.onnx') ||
    (fs.existsSync(p) &&
      fs.statSync(p).isDirectory() &&
      (fs.existsSync(path.join(p, 'model.json')) || fs.existsSync(path.join(p, 'image_encoder.onnx'))))
  );
}

/** Checks that need no Python: dataset present and non-empty, base not an ONNX package, vocabulary for export. */
export function validateTrainOptions(o: TrainOptions): void {
  if (!fs.existsSync(o.data) || !fs.statSync(o.data).isDirectory()) {
    throw new TrainingError(
      `data: dataset directory not found: ${o.data}`,
      'dataset',
      'create one with `declip collect --bag BAG --out DIR`',
    );
  }
  let entries;
  try {
    entries = readManifest(o.data);
  } catch (e) {
    throw new TrainingError((e as Error).message, 'dataset');
  }
  if (entries.length === 0) {
    throw new TrainingError(
      `data: dataset ${o.data} is empty (no frames in manifest.jsonl)`,
      'dataset-empty',
      `collect frames first: declip collect --bag BAG --out ${o.data}`,
    );
  }
  if (!o.randomInit && !o.base) {
    throw new TrainingError(
      'base: no base model given',
      'bad-config',
      'pass --base CHECKPOINT.pt --backbone PRESET (e.g. openai-vit-b-16)',
    );
  }
  if (o.base && isOnnxPackage(o.base)) {
    throw new TrainingError(
      `base: ${o.base} is an ONNX model package, which cannot be trained`,
      'onnx-base',
      'pass the original PyTorch checkpoint the package was exported from (--base CKPT.pt --backbone PRESET)',
    );
  }
  if (o.base && !fs.existsSync(o.base)) {
    throw new TrainingError(`base: checkpoint not found: ${o.base}`, 'bad-config');
  }
  if (o.vfm && !fs.existsSync(o.vfm)) {
    throw new TrainingError(`vfm: file not found: ${o.vfm}`, 'bad-config');
  }
  if (o.export !== false && !o.bpeVocab && !o.wordVocab) {
    throw new TrainingError(
      'export: the model package needs a tokenizer vocabulary',
      'bad-config',
      'pass --bpe-vocab bpe_simple_vocab_16e6.txt.gz (CLIP BPE) or --word-vocab words.txt, or --no-export',
    );
  }
}

/** TrainOptions -> the trainer's TrainConfig JSON (snake_case). */
export function trainerConfig(o: TrainOptions): Record<string, unknown> {
  const c: Record<string, unknown> = { data: path.resolve(o.data), out: path.resolve(o.out) };
  if (o.base) c.base = path.resolve(o.base);
  if (o.backbone) c.backbone = o.backbone;
  if (o.randomInit) c.random_init = true;
  if (o.vfm) c.vfm = path.resolve(o.vfm);
  if (o.vfmBackbone) c.vfm_backbone = o.vfmBackbone;
  if (o.vfmRandomInit) c.vfm_random_init = true;
  if (o.contextTeachers?.length) c.context_teachers = o.contextTeachers;
  if (o.arch) c.arch = o.arch;
  if (o.device) c.device = o.device;
  if (o.seed !== undefined) c.seed = o.seed;
  return { ...c, ...(o.trainer ?? {}) };
}

async function runStage(
  python: string,
  module: string,
  args: string[],
  o: TrainOptions,
  what: string,
): Promise<PyEvent[]> {
  const run = runPythonModule(python, module, args, (e) => o.onEvent?.(e), o.onLog);
  const onAbort = () => run.child.kill('SIGINT');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await run.done;
    const err = r.events.find((e) => e.event === 'error');
    if (err) {
      throw new TrainingError(
        `${what}: ${String(err.message)}`,
        String(err.code ?? 'failed'),
        String(err.hint ?? ''),
      );
    }
    if (r.code !== 0) {
      const oom = /out of memory/i.test(r.stderrTail);
      throw new TrainingError(
        `${what} exited with ${r.signal ?? `code ${r.code}`}: ${r.stderrTail.trim().split('\n').slice(-6).join('\n')}`,
        oom ? 'oom' : r.signal === 'SIGINT' || o.signal?.aborted ? 'interrupted' : 'failed',
        oom
          ? 'lower batch_size (raise accumulation to keep the effective batch) or student_max_size'
          : 'run the same command again to resume from the last checkpoint',
      );
    }
    return r.events;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Run (or resume) a training, export the student and write the report. */
export async function runTraining(o: TrainOptions): Promise<TrainResult> {
  validateTrainOptions(o);
  const python = o.python ?? findPython();
  const info = checkPython(python);
  if (o.device?.startsWith('cuda') && !info.cuda) {
    throw new TrainingError(
      `device: ${o.device} requested but torch ${info.torch} at ${python} sees no CUDA device`,
      'cuda-unavailable',
      'install a CUDA build of PyTorch with an NVIDIA driver, or pass --device cpu',
    );
  }
  fs.mkdirSync(o.out, { recursive: true });
  const cfgPath = path.join(o.out, 'trainer-config.json');
  fs.writeFileSync(cfgPath, JSON.stringify(trainerConfig(o), null, 2) + '\n');
  const summaryPath = path.join(o.out, 'summary.json');
  // always through the trainer: it resumes from OUT/checkpoint.pt (or only redoes the final outputs of a finished
  // run) and refuses a checkpoint written with another configuration
  const events = await runStage(python, 'declip_torch.train', ['--config', cfgPath], o, 'trainer');
  const start = events.find((e) => e.event === 'start');
  const resumed = Boolean(start?.resumed);
  const stopped = events.find((e) => e.event === 'stopped');
  if (stopped) throw new TrainingError(`trainer stopped at step ${String(stopped.step)}`, 'stopped');
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as { steps: number };
  const steps = summary.steps;
  let packageDir: string | undefined;
  let parity: unknown;
  if (o.export !== false) {
    packageDir = path.join(o.out, 'model');
    const args = ['--run', o.out, '--out', packageDir];
    if (o.bpeVocab) args.push('--bpe-vocab', o.bpeVocab);
    if (o.wordVocab) args.push('--word-vocab', o.wordVocab);
    if (o.exportSize) args.push('--input-size', String(o.exportSize));
    if (o.packageName) args.push('--name', o.packageName);
    if (o.parityRuntime) args.push('--parity-runtime', o.parityRuntime);
    const ev = await runStage(python, 'declip_torch.train_export', args, o, 'export');
    parity = ev.find((e) => e.event === 'export')?.parity;
  }
  const report = writeTrainingReport(o.out, packageDir ? { package: { dir: packageDir, parity } } : {});
  return { out: o.out, resumed, steps, python: info, packageDir, parity, report };
}

export { DatasetError };
