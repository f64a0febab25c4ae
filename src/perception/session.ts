/**
 * ONNX Runtime session manager (onnxruntime-node 1.30): execution-provider choice (`auto` = CUDA, then WebGPU,
 * then CPU, with the reason each one failed), graph I/O validation against the manifest at load time, fp16
 * edges (float32 in/out for callers), reused input buffers, and fallback to CPU when a GPU provider fails
 * during run().
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { ExecutionProviderError, ModelPackageError } from './errors';
import { float16ToFloat32, float32ToFloat16 } from './fp16';
import type { OnnxFileSpec } from './manifest';

export type Device = 'auto' | 'cuda' | 'webgpu' | 'cpu';
export type ConcreteDevice = 'cuda' | 'webgpu' | 'cpu';

/** Where log lines go. */
export interface PerceptionLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Default logger: stderr, prefixed. */
export const stderrLogger: PerceptionLogger = {
  info: (m) => process.stderr.write(`[perception] ${m}\n`),
  warn: (m) => process.stderr.write(`[perception] WARN ${m}\n`),
};

/** The part of an onnxruntime InferenceSession this module uses (so tests can inject fakes). */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata?: readonly ort.InferenceSession.ValueMetadata[];
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release?(): Promise<void>;
}

/** Creates a session for one device; throws when the provider is unavailable. */
export type SessionFactory = (
  model: string,
  device: ConcreteDevice,
  options: ort.InferenceSession.SessionOptions,
) => Promise<OrtSessionLike>;

/** Real factory over onnxruntime-node. */
export const ortSessionFactory: SessionFactory = async (model, device, options) =>
  ort.InferenceSession.create(model, { ...options, executionProviders: [device] });

/** An execution provider as onnxruntime-node lists it (`listSupportedBackends`), plus whether it is installed. */
export interface ProviderInfo {
  name: string;
  /** Shipped inside the onnxruntime-node package (cpu, webgpu on Linux). */
  bundled: boolean;
  /** Provider libraries present (bundled ones always are; CUDA's are downloaded at `npm install`). */
  installed: boolean;
}

/** Lists the execution providers of this onnxruntime-node build (injectable for tests). */
export type ProviderLister = () => ProviderInfo[];

/** How a robot gets the CUDA execution provider (the repository's .npmrc skips its download for offline CI). */
export const CUDA_INSTALL_HINT =
  "onnxruntime-node downloads the CUDA execution provider at install time and this repository's .npmrc skips " +
  'it (onnxruntime-node-install=skip); on a machine with CUDA 12 and cuDNN 9 run ' +
  '`npm install --onnxruntime-node-install=cuda12` (or `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`), or use --device auto';

/** Folder of onnxruntime-node's native binding, where the install script puts the CUDA provider libraries. */
export function ortBinaryDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** The real lister: onnxruntime-node's `listSupportedBackends()`; CUDA counts as installed when its library is there. */
export const ortProviderLister: ProviderLister = () => {
  const dir = ortBinaryDir();
  return ort.listSupportedBackends().map((b) => ({
    name: b.name,
    bundled: b.bundled,
    installed:
      b.bundled ||
      (b.name === 'cuda' && fs.existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so'))) ||
      (b.name === 'tensorrt' && fs.existsSync(path.join(dir, 'libonnxruntime_providers_tensorrt.so'))),
  }));
};

/**
 * Why `device` cannot be used according to the provider list, or undefined when it can be tried. A provider
 * that is listed and installed is tried (its session creation may still fail, e.g. without the CUDA runtime).
 */
export function providerUnavailableReason(
  device: ConcreteDevice,
  providers: ProviderInfo[],
): string | undefined {
  const p = providers.find((x) => x.name === device);
  if (device === 'cpu') return undefined;
  if (!p) {
    return `this onnxruntime-node build has no ${device} execution provider (it lists ${providers.map((x) => x.name).join(', ') || 'none'})`;
  }
  if (!p.installed) {
    return device === 'cuda'
      ? `CUDA execution provider not installed (libonnxruntime_providers_cuda.so missing in onnxruntime-node); ${CUDA_INSTALL_HINT}`
      : `${device} execution provider libraries are not installed`;
  }
  return undefined;
}

/** Options shared by every session of a Perceiver. */
export interface SessionManagerOptions {
  device?: Device;
  /** CPU intra-op threads (0 / undefined = onnxruntime default). */
  intraOpThreads?: number;
  /** CPU inter-op threads. */
  interOpThreads?: number;
  logger?: PerceptionLogger;
  /** Injection point for tests; defaults to onnxruntime-node. */
  sessionFactory?: SessionFactory;
  /**
   * Provider list consulted before creating sessions (providers that are not listed or not installed are skipped
   * with the reason). Default: onnxruntime-node's list, unless a custom sessionFactory is given (then the factory
   * alone decides).
   */
  providerLister?: ProviderLister;
  /**
   * onnxruntime's own (global, process-wide) log level, applied before the first session is created. Default
   * 'fatal': provider-probing failures (e.g. missing CUDA libraries) are reported through `logger` instead.
   */
  ortLogLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

/** One attempt at creating a session on a provider. */
export interface ProviderAttempt {
  device: ConcreteDevice;
  ok: boolean;
  /** Why it failed (first line of the onnxruntime error). */
  reason?: string;
}

/** Order of providers tried for each requested device. */
export function providerOrder(device: Device): ConcreteDevice[] {
  switch (device) {
    case 'auto':
      return ['cuda', 'webgpu', 'cpu'];
    case 'cuda':
    case 'webgpu':
    case 'cpu':
      return [device];
    default:
      throw new ExecutionProviderError(
        `device: ${JSON.stringify(device)} is not one of auto, cuda, webgpu, cpu`,
      );
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? msg).slice(0, 300);
}

/** A host-side tensor: float data is always float32 for callers. */
export interface HostTensor {
  data: Float32Array | Int32Array | BigInt64Array;
  dims: number[];
}

/** The graph role; fixes the expected ranks of inputs and outputs. */
export type GraphRole = 'image_encoder' | 'text_encoder' | 'vfm';

const EXPECTED_RANKS: Record<GraphRole, { inputs: number[]; outputs: number[] }> = {
  image_encoder: { inputs: [4], outputs: [4, 2] },
  text_encoder: { inputs: [2], outputs: [2] },
  vfm: { inputs: [4], outputs: [4] },
};

/**
 * Checks a session's input/output names against the manifest spec, and, where metadata is available, ranks and
 * element types. Throws ModelPackageError naming the file.
 */
export function validateSessionIo(
  s: OrtSessionLike,
  spec: OnnxFileSpec,
  role: GraphRole,
  dir: string,
  textDtype: 'int64' | 'int32' = 'int64',
): void {
  const fail = (msg: string, field: string): never => {
    throw new ModelPackageError(
      dir,
      spec.file,
      `${msg}; re-export with \`declip export ...\` or fix model.json`,
      field,
    );
  };
  const same = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(s.inputNames, spec.inputs)) {
    fail(
      `graph inputs are [${s.inputNames.join(', ')}] but model.json lists [${spec.inputs.join(', ')}]`,
      `files.${role}.inputs`,
    );
  }
  if (!same(s.outputNames, spec.outputs)) {
    fail(
      `graph outputs are [${s.outputNames.join(', ')}] but model.json lists [${spec.outputs.join(', ')}]`,
      `files.${role}.outputs`,
    );
  }
  const ranks = EXPECTED_RANKS[role];
  const checkMeta = (
    meta: readonly ort.InferenceSession.ValueMetadata[] | undefined,
    expected: number[],
    kind: 'inputs' | 'outputs',
  ) => {
    if (!meta) return;
    meta.forEach((m, i) => {
      if (!m.isTensor) fail(`${kind.slice(0, -1)} '${m.name}' is not a tensor`, `files.${role}.${kind}`);
      const tm = m as ort.InferenceSession.TensorValueMetadata;
      if (i < expected.length && tm.shape.length > 0 && tm.shape.length !== expected[i]) {
        fail(
          `${kind.slice(0, -1)} '${m.name}' has rank ${tm.shape.length} [${tm.shape.join(', ')}], the contract needs rank ${expected[i]}`,
          `files.${role}.${kind}`,
        );
      }
      const isIds = role === 'text_encoder' && kind === 'inputs';
      const want = isIds ? textDtype : spec.dtype;
      if (tm.type !== want) {
        fail(
          `${kind.slice(0, -1)} '${m.name}' is ${tm.type} but model.json says ${want}`,
          isIds ? 'text.input_dtype' : `files.${role}.dtype`,
        );
      }
    });
  };
  checkMeta(s.inputMetadata, ranks.inputs, 'inputs');
  checkMeta(s.outputMetadata, ranks.outputs, 'outputs');
}

/**
 * One ONNX graph on the chosen execution provider. Callers pass float32 / int32 data; fp16 graphs are converted on
 * the edges; input buffers are reused between calls with the same shapes.
 */
export class OnnxModel {
  /** Provider the session runs on now. */
  device: ConcreteDevice;
  /** Every provider tried at load (and at runtime fallback), in order. */
  readonly attempts: ProviderAttempt[];
  private session: OrtSessionLike;
  private readonly buffers = new Map<
    string,
    { key: string; data: Float32Array | Uint16Array | Int32Array | BigInt64Array }
  >();

  private constructor(
    readonly file: string,
    readonly spec: OnnxFileSpec,
    readonly role: GraphRole,
    private readonly dir: string,
    private readonly textDtype: 'int64' | 'int32',
    session: OrtSessionLike,
    device: ConcreteDevice,
    attempts: ProviderAttempt[],
    private readonly opts: SessionManagerOptions,
  ) {
    this.session = session;
    this.device = device;
    this.attempts = attempts;
  }

  /**
   * Creates the session on the first provider of `opts.device` that works, validates its I/O against the spec.
   * A file onnxruntime cannot parse (truncated, not ONNX) fails here with ModelPackageError.
   */
  static async load(
    file: string,
    spec: OnnxFileSpec,
    role: GraphRole,
    opts: SessionManagerOptions = {},
    textDtype: 'int64' | 'int32' = 'int64',
  ): Promise<OnnxModel> {
    const log = opts.logger ?? stderrLogger;
    const dir = path.dirname(file);
    const order = providerOrder(opts.device ?? 'auto');
    const attempts: ProviderAttempt[] = [];
    const factory = opts.sessionFactory ?? ortSessionFactory;
    ort.env.logLevel = opts.ortLogLevel ?? 'fatal';
    const lister = opts.providerLister ?? (opts.sessionFactory ? undefined : ortProviderLister);
    let providers: ProviderInfo[] | undefined;
    try {
      providers = lister?.();
    } catch (e) {
      log.warn(`could not list onnxruntime execution providers (${firstLine(e)}); trying each one`);
    }
    let lastErr: unknown;
    for (const device of order) {
      const unavailable = providers ? providerUnavailableReason(device, providers) : undefined;
      if (unavailable) {
        attempts.push({ device, ok: false, reason: unavailable });
        continue;
      }
      try {
        const s = await factory(file, device, sessionOptions(opts, device));
        attempts.push({ device, ok: true });
        const failed = attempts.filter((a) => !a.ok);
        if (failed.length > 0) {
          log.warn(
            `${spec.file}: running on ${device}; ${failed.map((a) => `${a.device} unavailable (${a.reason})`).join('; ')}`,
          );
        } else {
          log.info(`${spec.file}: running on ${device}`);
        }
        validateSessionIo(s, spec, role, dir, textDtype);
        return new OnnxModel(file, spec, role, dir, textDtype, s, device, attempts, opts);
      } catch (e) {
        if (e instanceof ModelPackageError) throw e;
        lastErr = e;
        const reason = firstLine(e);
        attempts.push({ device, ok: false, reason });
        if (/protobuf parsing failed|Load model .* failed|invalid model|ModelProto/i.test(reason)) {
          throw new ModelPackageError(
            dir,
            spec.file,
            `onnxruntime cannot parse the file (${reason}): it is truncated or not an ONNX model; re-download or re-export with \`declip export ...\``,
            undefined,
            e,
          );
        }
      }
    }
    throw new ExecutionProviderError(
      `${spec.file}: no execution provider worked for device '${opts.device ?? 'auto'}': ` +
        attempts.map((a) => `${a.device}: ${a.reason}`).join('; ') +
        (opts.device === 'cuda' && !attempts.some((a) => a.reason?.includes(CUDA_INSTALL_HINT))
          ? '; the CUDA execution provider needs the CUDA 12 runtime and cuDNN 9 on the library path (LD_LIBRARY_PATH) ' +
            'and its onnxruntime-node libraries (`npm install --onnxruntime-node-install=cuda12`); or use --device auto'
          : opts.device && opts.device !== 'auto' && opts.device !== 'cpu'
            ? `; try --device auto or --device cpu`
            : ''),
      { cause: lastErr },
    );
  }

  private buffer<T extends Float32Array | Uint16Array | Int32Array | BigInt64Array>(
    name: string,
    dims: number[],
    make: (n: number) => T,
  ): T {
    const n = dims.reduce((a, b) => a * b, 1);
    const key = `${make(0).constructor.name}:${n}`;
    const hit = this.buffers.get(name);
    if (hit && hit.key === key) return hit.data as T;
    const data = make(n);
    this.buffers.set(name, { key, data });
    return data;
  }

  private toOrt(name: string, t: HostTensor): ort.Tensor {
    if (t.data instanceof Float32Array) {
      if (this.spec.dtype === 'float16') {
        const buf = this.buffer(name, t.dims, (n) => new Uint16Array(n));
        float32ToFloat16(t.data, buf);
        return new ort.Tensor('float16', buf, t.dims);
      }
      return new ort.Tensor('float32', t.data, t.dims);
    }
    if (t.data instanceof Int32Array && this.role === 'text_encoder' && this.textDtype === 'int64') {
      const buf = this.buffer(name, t.dims, (n) => new BigInt64Array(n));
      for (let i = 0; i < t.data.length; i++) buf[i] = BigInt(t.data[i]);
      return new ort.Tensor('int64', buf, t.dims);
    }
    if (t.data instanceof Int32Array) return new ort.Tensor('int32', t.data, t.dims);
    return new ort.Tensor('int64', t.data, t.dims);
  }

  private static fromOrt(t: ort.Tensor): HostTensor {
    const dims = t.dims.map(Number);
    if (t.type === 'float16') {
      const raw = t.data as unknown;
      if (raw instanceof Uint16Array) return { data: float16ToFloat32(raw), dims };
      return { data: Float32Array.from(raw as ArrayLike<number>), dims };
    }
    if (t.type === 'float32') return { data: t.data as Float32Array, dims };
    if (t.type === 'int32') return { data: t.data as Int32Array, dims };
    if (t.type === 'int64') return { data: t.data as BigInt64Array, dims };
    throw new ExecutionProviderError(`output of type ${t.type} is not supported`);
  }

  /**
   * Runs the graph. Float inputs are float32 (converted to fp16 for fp16 graphs), outputs come back as float32.
   * If a non-CPU provider fails here, the session is recreated on CPU with a warning and the call is retried.
   */
  async run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = this.toOrt(k, v);
    let out: Record<string, ort.Tensor>;
    try {
      out = await this.session.run(ortFeeds);
    } catch (e) {
      if (this.device === 'cpu') {
        throw new ExecutionProviderError(`${this.spec.file}: inference failed on cpu: ${firstLine(e)}`, {
          cause: e,
        });
      }
      const log = this.opts.logger ?? stderrLogger;
      log.warn(
        `${this.spec.file}: inference failed on ${this.device} (${firstLine(e)}); falling back to cpu`,
      );
      this.attempts.push({ device: this.device, ok: false, reason: `run: ${firstLine(e)}` });
      const factory = this.opts.sessionFactory ?? ortSessionFactory;
      const cpu = await factory(this.file, 'cpu', sessionOptions(this.opts, 'cpu'));
      validateSessionIo(cpu, this.spec, this.role, this.dir, this.textDtype);
      void this.session.release?.().catch(() => undefined);
      this.session = cpu;
      this.device = 'cpu';
      this.attempts.push({ device: 'cpu', ok: true });
      out = await this.session.run(ortFeeds);
    }
    const res: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(out)) res[k] = OnnxModel.fromOrt(v);
    return res;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release?.();
  }
}

function sessionOptions(
  opts: SessionManagerOptions,
  device: ConcreteDevice,
): ort.InferenceSession.SessionOptions {
  // Provider probing errors (missing CUDA libs) are reported by our logger, not onnxruntime's stderr log.
  const o: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    logSeverityLevel: device === 'cpu' ? 3 : 4,
  };
  if (device === 'cpu') {
    if (opts.intraOpThreads) o.intraOpNumThreads = opts.intraOpThreads;
    if (opts.interOpThreads) o.interOpNumThreads = opts.interOpThreads;
  }
  return o;
}
