#!/usr/bin/env node
/**
 * Entry of `declip_node` (installed as lib/declip_ros/declip_node by the ros/ package):
 *   ros2 run declip_ros declip_node --ros-args -p queries:="red mug" --params-file params.yaml -r __ns:=/robot
 * With a sourced ROS 2 environment, rclnodejs receives argv and rcl applies -p / --params-file / -r itself;
 * the arguments are also parsed here to validate them early with clear messages.
 */
import * as fs from 'fs';
import { defaultCodec } from './codec';
import { DeclipNode } from './node';
import { NODE_NAME, ParamError, loadParamsYaml, renderParamsYaml, validateParam } from './params';
import type { Pipeline } from './pipeline';
import { createDeclipPipeline } from './declipPipeline';
import { loadRclnodejsRuntime, RosEnvironmentError } from './rclnodejs';
import type { ParamValue } from './runtime';
import * as yaml from 'js-yaml';

/** What `--ros-args` asked for. */
export interface RosArgs {
  /** `-p name:=value` and `--params-file` values for this node, validated. */
  params: Record<string, ParamValue>;
  paramsFiles: string[];
  /** `-r from:=to` (without `__ns` / `__node`). */
  remaps: Record<string, string>;
  namespace?: string;
  nodeName?: string;
  /** Arguments outside `--ros-args ... [--]`. */
  rest: string[];
}

/**
 * Parse ROS 2 command-line arguments (`--ros-args`, `-p`/`--param`, `--params-file`, `-r`/`--remap`,
 * `__ns`, `__node`, `--log-level` ignored). Values of -p are YAML scalars as in rcl. Throws ParamError
 * naming the argument for malformed or invalid ones. Params files are read with `readFile`.
 */
export function parseRosArgs(
  argv: string[],
  readFile: (p: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): RosArgs {
  const out: RosArgs = { params: {}, paramsFiles: [], remaps: {}, rest: [] };
  let inRos = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--ros-args') {
      inRos = true;
      continue;
    }
    if (!inRos) {
      out.rest.push(a);
      continue;
    }
    if (a === '--') {
      inRos = false;
      continue;
    }
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ParamError(`'${a}' needs a value`);
      return v;
    };
    if (a === '-p' || a === '--param') {
      const kv = next();
      const m = /^([^:=]+):=(.*)$/s.exec(kv);
      if (!m) throw new ParamError(`'-p ${kv}' must look like name:=value`);
      const [, rawName, rawValue] = m;
      const name = rawName.includes(':') ? rawName.split(':').pop()! : rawName;
      if (rawName.includes(':') && rawName.split(':')[0] !== NODE_NAME) continue;
      if (name === 'use_sim_time') continue;
      out.params[name] = validateParam(name, rawValue === '' ? '' : yaml.load(rawValue));
    } else if (a === '--params-file') {
      const f = next();
      out.paramsFiles.push(f);
      Object.assign(out.params, loadParamsYaml(readFile(f), NODE_NAME, f));
    } else if (a === '-r' || a === '--remap') {
      const kv = next();
      const m = /^([^:=]+):=(.+)$/.exec(kv);
      if (!m) throw new ParamError(`'-r ${kv}' must look like from:=to`);
      const from = m[1].includes(':') ? m[1].split(':').pop()! : m[1];
      if (from === '__ns') out.namespace = m[2];
      else if (from === '__node' || from === '__name') out.nodeName = m[2];
      else out.remaps[from] = m[2];
    } else if (a === '--log-level' || a === '--enclave') {
      next();
    }
  }
  return out;
}

/** Start the node on rclnodejs and spin until SIGINT/SIGTERM. Returns the exit code. */
export async function main(
  argv: string[] = process.argv.slice(2),
  createPipeline: () => Pipeline | Promise<Pipeline> = () => createDeclipPipeline(),
): Promise<number> {
  if (argv.includes('--print-params-yaml')) {
    process.stdout.write(renderParamsYaml());
    return 0;
  }
  let args: RosArgs;
  try {
    args = parseRosArgs(argv);
  } catch (e) {
    console.error(`declip_node: ${(e as Error).message}`);
    return 2;
  }
  let runtime;
  try {
    runtime = await loadRclnodejsRuntime();
  } catch (e) {
    if (e instanceof RosEnvironmentError) {
      console.error(
        `declip_node: ${e.message}\n(to run without ROS use: declip replay <bag> --query "..." --out out.mcap)`,
      );
      return 2;
    }
    throw e;
  }
  await runtime.init([process.argv[0], process.argv[1], ...argv]);
  const pipeline = await createPipeline();
  let node: DeclipNode;
  try {
    node = await DeclipNode.create({
      runtime,
      codec: defaultCodec(),
      pipeline,
      name: args.nodeName ?? NODE_NAME,
      namespace: args.namespace ?? '',
    });
  } catch (e) {
    console.error(`declip_node: ${(e as Error).message}`);
    await runtime.shutdown();
    return 2;
  }
  runtime.spin(node.node);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await node.destroy();
  await pipeline.dispose?.();
  await runtime.shutdown();
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`declip_node: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
