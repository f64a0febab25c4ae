import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import * as yaml from 'js-yaml';
import { createBagWriter, openBag, type BagWriter } from '../../bag';
import { createDeclipPipeline, type DeclipPipeline } from '../../node/declipPipeline';
import { NODE_NAME, loadParamsYaml, validateParam } from '../../node/params';
import type { PublicationRecord } from '../../node/inproc';
import { runReplay, type ReplayMessage, type ReplaySummary } from '../../node/replay';
import type { ParamValue } from '../../node/runtime';
import type { Pipeline } from '../../node/pipeline';
import { CliError, EXIT, progressBar, requestExitCode } from '../util';

export interface ReplayBagOptions {
  bag: string;
  /** Output MCAP with every publication (and the input topics unless includeInput is false). */
  out?: string;
  queries?: string;
  modelPath?: string;
  device?: string;
  poseMethod?: string;
  modelsDir?: string;
  /** Extra node parameters (validated against the schema). */
  params?: Record<string, ParamValue>;
  paramsFiles?: string[];
  remaps?: Record<string, string>;
  /** Copy the input messages into the output bag too (default true), so one file shows inputs and results. */
  includeInput?: boolean;
  skipBad?: boolean;
  overwrite?: boolean;
  /** Replace the default pipeline (tests, demo). */
  pipeline?: Pipeline;
  /** Every publication, after it was written. */
  onPublish?: (r: PublicationRecord) => void | Promise<void>;
  /** Each input message before it is delivered (e.g. to keep ground truth). */
  onInput?: (m: ReplayMessage) => void;
  quiet?: boolean;
  onLog?: (level: string, msg: string) => void;
}

export interface ReplayBagResult extends ReplaySummary {
  out?: string;
  skippedRecords: number;
  interrupted: boolean;
  durationS: number;
}

/**
 * Replays a bag through the same node core as `declip_node` (CDR in -> Frame -> pipeline -> CDR out) and writes
 * every publication into an MCAP. The output is finalised on errors and on SIGINT/SIGTERM (then `interrupted`).
 */
export async function replayBag(o: ReplayBagOptions): Promise<ReplayBagResult> {
  const t0 = Date.now();
  const params: Record<string, ParamValue> = {};
  for (const f of o.paramsFiles ?? []) {
    if (!fs.existsSync(f)) throw new CliError(`--params-file ${f} does not exist`, EXIT.USAGE);
    Object.assign(params, loadParamsYaml(fs.readFileSync(f, 'utf8'), NODE_NAME, f));
  }
  Object.assign(params, o.params ?? {});
  const set = (name: string, v: unknown) => {
    if (v !== undefined) params[name] = validateParam(name, v);
  };
  set('queries', o.queries);
  set('model_path', o.modelPath);
  set('device', o.device);
  set('pose_method', o.poseMethod);
  set('models_dir', o.modelsDir);
  if (o.out && fs.existsSync(o.out) && !o.overwrite) {
    throw new CliError(`output ${o.out} already exists; delete it or pass --overwrite`, EXIT.USAGE);
  }
  const reader = await openBag(o.bag, { skipBad: o.skipBad });
  const info = reader.info();
  let writer: BagWriter | undefined;
  const pipeline = o.pipeline ?? createDeclipPipeline();
  let interrupted = false;
  const stop = () => {
    interrupted = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const bar = progressBar(info.messageCount, 'replay', { quiet: o.quiet });
  const added = new Set<string>();
  try {
    if (o.out) {
      if (o.out.endsWith('.mcap')) fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
      writer = await createBagWriter(o.out, { overwrite: o.overwrite });
    }
    const includeInput = o.includeInput ?? true;
    const w = writer;
    const addTopic = async (topic: string, type: string) => {
      if (!w || added.has(topic)) return;
      added.add(topic);
      await w.addTopic(topic, type);
    };
    async function* input(): AsyncGenerator<ReplayMessage> {
      for await (const m of reader.messages({ skipBad: o.skipBad })) {
        if (interrupted) return;
        const msg: ReplayMessage = { topic: m.topic, type: m.type, logTimeNs: m.logTimeNs, data: m.data };
        o.onInput?.(msg);
        if (w && includeInput) {
          await addTopic(m.topic, m.type);
          await w.write(m.topic, m.logTimeNs, m.data, m.publishTimeNs);
        }
        bar.tick();
        yield msg;
      }
    }
    const summary = await runReplay(input(), {
      pipeline,
      parameters: params,
      remaps: o.remaps,
      onLog: o.onLog,
      onPublish: async (r) => {
        if (w) {
          await addTopic(r.topic, r.type);
          await w.write(r.topic, r.stampNs, r.data);
        }
        await o.onPublish?.(r);
      },
    });
    return {
      ...summary,
      out: o.out,
      skippedRecords: reader.skipped,
      interrupted,
      durationS: (Date.now() - t0) / 1000,
    };
  } finally {
    bar.stop();
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await writer?.close();
    await reader.close();
    if (!o.pipeline) await (pipeline as DeclipPipeline).dispose();
  }
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** `name:=value` / `name=value` -> [name, YAML value]. */
export function parseParamArg(kv: string): [string, unknown] {
  const m = /^([A-Za-z_][A-Za-z0-9_.]*):?=(.*)$/s.exec(kv);
  if (!m)
    throw new CliError(`-p '${kv}' must look like name:=value (e.g. -p score_threshold:=0.6)`, EXIT.USAGE);
  return [m[1], m[2] === '' ? '' : yaml.load(m[2])];
}

export function formatReplaySummary(r: ReplayBagResult): string {
  const s = r.stats;
  const lines = [
    `messages replayed: ${r.messages}${r.skippedRecords ? ` (${r.skippedRecords} corrupt records skipped)` : ''}`,
    `frames: ${s.synced} synchronised, ${s.processed} processed, ${s.dropped} dropped, ${s.badInput} bad input, ${s.pipelineErrors} pipeline errors`,
    `publications: ${r.publications}`,
    ...Object.entries(r.publicationsByTopic).map(([t, n]) => `  ${t}: ${n}`),
  ];
  if (r.out) lines.push(`wrote ${r.out}`);
  if (r.warnings.length)
    lines.push(`warnings (${r.warnings.length}):`, ...r.warnings.slice(0, 10).map((w) => `  ${w}`));
  if (r.interrupted) lines.push('interrupted: output finalised with what was replayed so far');
  return lines.join('\n');
}

export function registerReplayCommands(program: Command): void {
  program
    .command('replay')
    .description('replay a bag through the declip_node core without ROS and record every publication to MCAP')
    .argument('<bag>', 'input bag (directory with metadata.yaml, .mcap or .db3)')
    .option('-q, --query <text>', 'text queries, comma-separated (the node parameter "queries")')
    .option('-o, --out <file.mcap>', 'output MCAP (inputs + all node publications; open it in Foxglove)')
    .option('--model <dir>', 'model package (default: the embedded model models/tiny-synth)')
    .option('--device <d>', 'auto | cuda | webgpu | cpu')
    .option('--pose-method <m>', 'auto | model | anchor | box')
    .option('--models-dir <dir>', 'object models (PLY/OBJ) named after queries, for model mode')
    .option('-p, --param <name:=value>', 'any node parameter (repeatable)', collect)
    .option('--params-file <yaml>', 'ROS 2 params YAML (repeatable)', collect)
    .option('-r, --remap <from:=to>', 'topic remapping (repeatable)', collect)
    .option('--no-input', 'do not copy the input topics into the output')
    .option('--skip-bad', 'continue past corrupt records in the input and report how many were skipped')
    .option('--overwrite', 'replace an existing output')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  declip replay test/bags/synth_scene1 --query "red mug, blue can" --out out/replay.mcap',
    )
    .action(
      async (
        bag: string,
        opts: {
          query?: string;
          out?: string;
          model?: string;
          device?: string;
          poseMethod?: string;
          modelsDir?: string;
          param?: string[];
          paramsFile?: string[];
          remap?: string[];
          input: boolean;
          skipBad?: boolean;
          overwrite?: boolean;
          json?: boolean;
        },
      ) => {
        const params: Record<string, ParamValue> = {};
        for (const kv of opts.param ?? []) {
          const [k, v] = parseParamArg(kv);
          params[k] = validateParam(k, v);
        }
        const remaps: Record<string, string> = {};
        for (const kv of opts.remap ?? []) {
          const m = /^([^:=]+):=(.+)$/.exec(kv);
          if (!m) throw new CliError(`-r '${kv}' must look like from:=to`, EXIT.USAGE);
          remaps[m[1]] = m[2];
        }
        const r = await replayBag({
          bag,
          out: opts.out,
          queries: opts.query,
          modelPath: opts.model,
          device: opts.device,
          poseMethod: opts.poseMethod,
          modelsDir: opts.modelsDir,
          params,
          paramsFiles: opts.paramsFile,
          remaps,
          includeInput: opts.input,
          skipBad: opts.skipBad,
          overwrite: opts.overwrite,
          quiet: opts.json,
        });
        const { stats, ...rest } = r;
        console.log(opts.json ? JSON.stringify({ ...rest, stats }, null, 2) : formatReplaySummary(r));
        if (r.interrupted) requestExitCode(EXIT.INTERRUPTED);
      },
    );
}
