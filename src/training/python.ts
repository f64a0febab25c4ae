/**
 * The Python side (declip_torch: trainer + exporter): finding an interpreter with torch, spawning modules and
 * reading their JSON-lines events.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Repository root (this file lives in src/training or dist/training). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** Directory that holds the declip_torch package. */
export const PYTHON_PKG_DIR = path.join(REPO_ROOT, 'src', 'training', 'python');

export const INSTALL_HINT =
  'install PyTorch and the small Python packages: `sudo apt-get install python3-torch python3-venv` then ' +
  '`bash scripts/setup-python.sh` (creates .venv); or point DECLIP_PYTHON at a python that has torch';

/** Error of the Python side, with a machine-readable code and a fix. */
export class PythonEnvError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint: string = INSTALL_HINT,
  ) {
    super(`${message}; ${hint}`);
    this.name = 'PythonEnvError';
  }
}

/** The interpreter: .venv/bin/python if present, else $DECLIP_PYTHON, else /usr/bin/python3. */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  const venv = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  if (fs.existsSync(venv)) return venv;
  if (env.DECLIP_PYTHON) return env.DECLIP_PYTHON;
  return '/usr/bin/python3';
}

export interface PythonInfo {
  python: string;
  torch: string;
  cuda: boolean;
  cudaDevices: number;
  pillow: boolean;
  onnx: boolean;
}

/** Check that `python` runs and imports torch (and the packages the trainer needs). Throws PythonEnvError. */
export function checkPython(python: string = findPython()): PythonInfo {
  const code = [
    'import json, importlib.util as u',
    'import torch',
    'print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(),',
    ' "cudaDevices": torch.cuda.device_count() if torch.cuda.is_available() else 0,',
    ' "pillow": u.find_spec("PIL") is not None, "onnx": u.find_spec("onnx") is not None}))',
  ].join('\n');
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    throw new PythonEnvError(`no Python found at ${python} (${(r.error as Error).message})`, 'no-python');
  }
  if (r.status !== 0) {
    const noTorch = /No module named ['"]?torch/.test(r.stderr ?? '');
    throw new PythonEnvError(
      noTorch ? `${python} cannot import torch` : `${python} failed: ${(r.stderr ?? '').trim().slice(-400)}`,
      noTorch ? 'no-torch' : 'python-failed',
    );
  }
  const info = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Omit<PythonInfo, 'python'>;
  if (!info.pillow || !info.onnx) {
    throw new PythonEnvError(
      `${python} has torch ${info.torch} but lacks ${[!info.pillow && 'pillow', !info.onnx && 'onnx'].filter(Boolean).join(' and ')}`,
      'missing-packages',
      'run `bash scripts/setup-python.sh` (installs src/training/python/requirements.txt into .venv)',
    );
  }
  return { python, ...info };
}

/** One JSON event from a Python module (see declip_torch.train). */
export interface PyEvent {
  event: string;
  [key: string]: unknown;
}

export interface PyRun {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) and every event seen. */
  done: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    events: PyEvent[];
    stderrTail: string;
  }>;
}

/**
 * Spawn `python -m MODULE ARGS` with declip_torch on PYTHONPATH; every stdout line that is a JSON object is
 * passed to `onEvent`, stderr lines to `onLog`.
 */
export function runPythonModule(
  python: string,
  module: string,
  args: string[],
  onEvent: (e: PyEvent) => void,
  onLog: (line: string) => void = () => undefined,
  env: NodeJS.ProcessEnv = process.env,
): PyRun {
  const child = spawn(python, ['-u', '-m', module, ...args], {
    cwd: REPO_ROOT,
    env: {
      ...env,
      PYTHONPATH: [PYTHON_PKG_DIR, env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: PyEvent[] = [];
  let stderrTail = '';
  const lines = (stream: NodeJS.ReadableStream, fn: (l: string) => void) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        fn(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('end', () => {
      if (buf) fn(buf);
    });
  };
  lines(child.stdout!, (l) => {
    const t = l.trim();
    if (!t.startsWith('{')) {
      if (t) onLog(t);
      return;
    }
    try {
      const e = JSON.parse(t) as PyEvent;
      events.push(e);
      onEvent(e);
    } catch {
      onLog(t);
    }
  });
  lines(child.stderr!, (l) => {
    stderrTail = (stderrTail + l + '\n').slice(-4000);
    onLog(l);
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    events: PyEvent[];
    stderrTail: string;
  }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, events, stderrTail }));
  });
  return { child, done };
}
