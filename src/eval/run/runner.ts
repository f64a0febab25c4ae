/**
 * `declip eval run`: sample the protocol's tasks, evaluate the pending ones (in this process or in N worker
 * processes, each with its own inference session), append one JSON line per task to results.jsonl (resumable:
 * tasks already there are skipped, never duplicated), aggregate into summary.json and write report.html.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { ConvertedDataset } from '../dataset';
import { observationsOf, openConvertedDataset } from '../dataset';
import { EvalDatasetError } from '../convert/format';
import { aggregateOryon, type OryonAggregate, type PairRecord } from '../protocol/oryon';
import { appendPairRecord, pendingPairs, readPairRecordsFile, repairTruncatedTail } from '../protocol/jsonl';
import { createRng, sampleOryonPairs, type ObjectObservation, type OryonPair } from '../protocol/pairs';
import { BOP_VISIB_GT_MIN } from '../metrics/recall';
import { TaskEvaluator, type EvalRunConfig } from './evaluator';
import { writeRunReport } from './report';
import { nocsMapOfRun } from './nocsEval';
import type { NocsMapResult } from '../metrics/nocs';

const IDENTITY = () => ({ R: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) });

/**
 * BOP-style single-view targets: every visible GT instance (visib_fract >= 0.1) of every frame, shuffled with
 * the seed and cut to `count`. Encoded as pairs whose anchor has the identity pose, so the "relative" estimate
 * is the object pose itself and the Oryon per-pair evaluation applies unchanged.
 */
export function sampleBopTargets(
  obs: readonly ObjectObservation[],
  count: number,
  seed: number,
): OryonPair[] {
  const vis = obs
    .filter((o) => o.visibFract === undefined || o.visibFract >= BOP_VISIB_GT_MIN)
    .map((o) => ({ o, id: `${o.objectId}:${o.sceneId}/${o.frameId}` }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rng = createRng(seed);
  for (let i = vis.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [vis[i], vis[j]] = [vis[j], vis[i]];
  }
  return vis.slice(0, count).map(({ o, id }) => ({
    pairId: id,
    objectId: o.objectId,
    prompt: o.prompt,
    anchor: { ...o, poseGt: IDENTITY() },
    query: o,
    relativePoseGt: o.poseGt,
  }));
}

/** The run's tasks, deterministic for (dataset, protocol, pairs, seed). */
export function buildTasks(ds: ConvertedDataset, config: EvalRunConfig): OryonPair[] {
  const obs = observationsOf(ds);
  if (config.protocol === 'bop') return sampleBopTargets(obs, config.pairs, config.seed);
  return sampleOryonPairs(obs, { count: config.pairs, seed: config.seed });
}

export interface RunProgress {
  done: number;
  total: number;
  /** Tasks found already done in results.jsonl. */
  resumed: number;
}

export interface RunOptions {
  outDir: string;
  /** Worker processes (default 1 = in this process). */
  workers?: number;
  onProgress?: (p: RunProgress) => void;
  /** Thumbnails of the best and the worst pairs each (default 4). */
  thumbnails?: number;
  /** Title of report.html. */
  title?: string;
  /** Start over: delete earlier results in outDir (default false: resume). */
  overwrite?: boolean;
  /** Log lines (default none). */
  log?: (msg: string) => void;
  /**
   * Set `.aborted` (e.g. on SIGINT) to stop after the tasks in progress: their records are kept, the summary and
   * report of what is done are written, and a later run resumes.
   */
  signal?: { aborted: boolean };
}

export interface RunSummary {
  tasks: number;
  evaluated: number;
  resumed: number;
  aggregate: OryonAggregate;
  /** NOCS category-level mAP (REAL275 runs only). */
  nocs: NocsMapResult | null;
  resultsPath: string;
  reportPath: string;
  summaryPath: string;
  /** True when stopped by `signal` before all tasks were done. */
  interrupted: boolean;
}

const RUN_KEYS: (keyof EvalRunConfig)[] = [
  'protocol',
  'pairs',
  'seed',
  'masks',
  'modelPath',
  'vsd',
  'maxModelPoints',
  'inputSize',
  'predictedBy',
];

function checkRunJson(file: string, config: EvalRunConfig): void {
  if (!fs.existsSync(file)) return;
  const prev = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<EvalRunConfig>;
  const diff = RUN_KEYS.filter((k) => JSON.stringify(prev[k] ?? null) !== JSON.stringify(config[k] ?? null));
  if (diff.length) {
    throw new EvalDatasetError(
      `the results in ${path.dirname(file)} were made with different settings (${diff.join(', ')}); ` +
        'use another --out directory or pass --overwrite to start over',
    );
  }
}

/** Resolves how to start a worker process: the compiled worker.js, or worker.ts through a TypeScript hook. */
function workerEntry(): { file: string; execArgv: string[] } {
  const js = path.join(__dirname, 'worker.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  const ts = path.join(__dirname, 'worker.ts');
  return { file: ts, execArgv: ['--require', path.join(__dirname, 'tsHook.js')] };
}

interface WorkerMsg {
  type: 'record' | 'error' | 'done';
  record?: PairRecord;
  message?: string;
}

async function runWorkers(
  config: EvalRunConfig,
  shards: string[][],
  onRecord: (r: PairRecord) => void,
  log: (m: string) => void,
  signal?: { aborted: boolean },
): Promise<void> {
  const entry = workerEntry();
  const children: ChildProcess[] = [];
  const runs = shards.map(
    (ids, k) =>
      new Promise<void>((resolve, reject) => {
        const child = fork(entry.file, [], {
          execArgv: entry.execArgv,
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          env: { ...process.env, DECLIP_EVAL_WORKER: String(k) },
        });
        children.push(child);
        let failed: string | null = null;
        child.on('message', (m: WorkerMsg) => {
          if (m.type === 'record' && m.record) onRecord(m.record);
          else if (m.type === 'error') failed = m.message ?? 'unknown error';
        });
        child.on('exit', (code) => {
          if (signal?.aborted) resolve();
          else if (failed) reject(new Error(`worker ${k}: ${failed}`));
          else if (code !== 0) reject(new Error(`worker ${k} exited with code ${code}`));
          else resolve();
        });
        child.send({ config, ids });
        log(`worker ${k}: ${ids.length} tasks (pid ${child.pid})`);
      }),
  );
  // on abort, ask the workers to stop after their current task (SIGINT: they finish it and exit)
  const poll = setInterval(() => {
    if (signal?.aborted) for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  }, 200);
  try {
    await Promise.all(runs);
  } finally {
    clearInterval(poll);
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

/** Runs (or resumes) an evaluation; see the file comment. */
export async function runEvaluation(config: EvalRunConfig, opts: RunOptions): Promise<RunSummary> {
  const log = opts.log ?? (() => undefined);
  const out = opts.outDir;
  const resultsPath = path.join(out, 'results.jsonl');
  if (opts.overwrite) {
    for (const f of ['results.jsonl', 'run.json', 'summary.json', 'report.html'])
      fs.rmSync(path.join(out, f), { force: true });
  }
  fs.mkdirSync(out, { recursive: true });
  const runJson = path.join(out, 'run.json');
  checkRunJson(runJson, config);
  const ds = await openConvertedDataset(config.bagsDir);
  if (
    config.dataset &&
    config.dataset !== ds.info.dataset &&
    !(config.dataset === 'bop' && ds.info.dataset !== 'real275')
  ) {
    throw new EvalDatasetError(
      `--dataset ${config.dataset} but ${config.bagsDir} holds a converted '${ds.info.dataset}' dataset`,
    );
  }
  fs.writeFileSync(runJson, JSON.stringify({ ...config, dataset: ds.info.dataset }, null, 1));
  const tasks = buildTasks(ds, config);
  if (tasks.length === 0) {
    throw new EvalDatasetError(
      config.protocol === 'oryon'
        ? 'no Oryon pairs: no object instance is visible in two different scenes'
        : 'no visible GT instance to evaluate',
    );
  }
  fs.writeFileSync(path.join(out, 'tasks.json'), JSON.stringify(tasks.map((t) => t.pairId)));
  repairTruncatedTail(resultsPath);
  const ids = new Set(tasks.map((t) => t.pairId));
  const prev = readPairRecordsFile(resultsPath).records.filter((r) => ids.has(r.pairId));
  const pending = pendingPairs(tasks, prev);
  const resumed = tasks.length - pending.length;
  let done = resumed;
  opts.onProgress?.({ done, total: tasks.length, resumed });
  const written = new Set(prev.map((r) => r.pairId));
  const onRecord = (r: PairRecord) => {
    if (written.has(r.pairId) || !ids.has(r.pairId)) return; // never duplicate
    written.add(r.pairId);
    appendPairRecord(resultsPath, r);
    opts.onProgress?.({ done: ++done, total: tasks.length, resumed });
  };
  const workers = Math.max(1, Math.min(opts.workers ?? 1, pending.length));
  if (pending.length > 0) {
    if (workers === 1) {
      const ev = await TaskEvaluator.create(config, ds);
      try {
        for (const p of pending) {
          if (opts.signal?.aborted) break;
          onRecord(await ev.evaluate(p));
        }
      } finally {
        await ev.close();
      }
    } else {
      // contiguous chunks keep a worker on the same anchor frames (better view-cache hits)
      const order = [...pending].sort((a, b) => (a.pairId < b.pairId ? -1 : a.pairId > b.pairId ? 1 : 0));
      const size = Math.ceil(order.length / workers);
      const shards = Array.from({ length: workers }, (_, k) =>
        order.slice(k * size, (k + 1) * size).map((p) => p.pairId),
      );
      await runWorkers(
        config,
        shards.filter((s) => s.length),
        onRecord,
        log,
      );
    }
  }
  const records = readPairRecordsFile(resultsPath).records.filter((r) => ids.has(r.pairId));
  const aggregate = aggregateOryon(records);
  const nocs = nocsMapOfRun(ds, tasks, records);
  const summaryPath = path.join(out, 'summary.json');
  fs.writeFileSync(
    summaryPath,
    JSON.stringify({ dataset: ds.info.dataset, config, tasks: tasks.length, aggregate, nocs }, null, 1),
  );
  const reportPath = path.join(out, 'report.html');
  await writeRunReport({
    file: reportPath,
    title: opts.title ?? `${ds.info.dataset} — ${config.protocol} protocol, ${config.masks} masks`,
    config,
    ds,
    tasks,
    records,
    aggregate,
    nocs,
    thumbnails: opts.thumbnails ?? 4,
  });
  return {
    tasks: tasks.length,
    evaluated: records.length - resumed,
    resumed,
    aggregate,
    nocs,
    resultsPath,
    reportPath,
    summaryPath,
    interrupted: records.length < tasks.length,
  };
}
