/**
 * In-process ROS runtime: topics are in-memory fan-outs of CDR Buffers, services are direct calls, parameters
 * are checked against their descriptors like rcl does, and timers run on a clock the caller drives
 * (`advanceTo` / `advanceBy`), so tests and `declip replay` are deterministic and need no ROS installation.
 */
import type {
  ParamDescriptor,
  ParamUpdate,
  ParamValue,
  QosSpec,
  RosLogger,
  RosNodeHandle,
  RosPublisher,
  RosRuntime,
  RosService,
  RosSubscription,
  RosTimer,
  ServiceHandler,
  SetParamsCallback,
  SetParamsResult,
} from './runtime';
import { RuntimeError, resolveName } from './runtime';

/** One message published by any node of the runtime (or injected with `publish`). */
export interface PublicationRecord {
  /** Fully resolved topic name. */
  topic: string;
  /** Fully qualified type, e.g. `sensor_msgs/msg/Image`. */
  type: string;
  /** Runtime clock when published, ns. */
  stampNs: bigint;
  /** CDR bytes. */
  data: Buffer;
  /** Name of the publishing node ('' when injected from outside). */
  node: string;
}

/** One log line. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  node: string;
  msg: string;
  stampNs: bigint;
}

/** Encode/decode hook used to pass service requests and responses through CDR (optional). */
export interface ServiceCodec {
  encode(type: string, message: unknown): Uint8Array;
  decode(type: string, data: Uint8Array): any;
}

export interface InProcOptions {
  /** Initial clock, ns (default 0). */
  startTimeNs?: bigint;
  /** Name remappings applied to resolved names, `{'/from': '/to'}` (like `-r from:=to`). */
  remaps?: Record<string, string>;
  /** Parameter overrides applied at declaration, per parameter name (like `-p` / `--params-file`). */
  parameterOverrides?: Record<string, ParamValue>;
  /** When set, service requests and responses are CDR round-tripped (`<type>_Request` / `_Response`). */
  serviceCodec?: ServiceCodec;
  /** Log sink (default: kept in `logs` only). */
  onLog?: (record: LogRecord) => void;
  /** Keep every publication in `publications` (default true). */
  recordPublications?: boolean;
}

interface TopicEntry {
  type: string;
  subs: Set<(data: Buffer) => void>;
}

interface TimerEntry {
  id: number;
  periodNs: bigint;
  nextNs: bigint;
  callback: () => void;
  cancelled: boolean;
}

interface ServiceEntry {
  type: string;
  handler: ServiceHandler;
}

/** In-memory ROS graph with a controllable clock. */
export class InProcRuntime implements RosRuntime {
  readonly kind = 'inproc' as const;
  readonly publications: PublicationRecord[] = [];
  readonly logs: LogRecord[] = [];
  private readonly topics = new Map<string, TopicEntry>();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly timers: TimerEntry[] = [];
  private readonly listeners: ((r: PublicationRecord) => void)[] = [];
  private readonly nodes = new Set<InProcNode>();
  private clockNs: bigint;
  private nextTimerId = 0;

  constructor(readonly options: InProcOptions = {}) {
    this.clockNs = options.startTimeNs ?? 0n;
  }

  async init(): Promise<void> {
    /* nothing to initialise */
  }

  /** Create a node; `namespace` like rclnodejs ('' or '/' = root). */
  createNode(name: string, namespace = ''): InProcNode {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new RuntimeError(
        `invalid node name '${name}': use letters, digits and '_', not starting with a digit`,
      );
    }
    const node = new InProcNode(this, name, namespace);
    this.nodes.add(node);
    return node;
  }

  spin(): void {
    /* callbacks run synchronously on publish and on clock advances */
  }

  async shutdown(): Promise<void> {
    for (const n of [...this.nodes]) n.destroy();
  }

  /** Current clock, ns. */
  nowNs(): bigint {
    return this.clockNs;
  }

  /** Set the clock without firing timers (e.g. the start of a bag). Only forward unless `allowBackwards`. */
  setTime(ns: bigint, allowBackwards = false): void {
    if (ns < this.clockNs && !allowBackwards) {
      throw new RuntimeError(
        `clock cannot go backwards (${ns} < ${this.clockNs}); pass allowBackwards for a bag loop`,
      );
    }
    this.clockNs = ns;
    if (allowBackwards) for (const t of this.timers) t.nextNs = ns + t.periodNs;
  }

  /** Advance the clock to `ns`, firing every due timer in deadline order (clock set to each deadline). */
  advanceTo(ns: bigint): void {
    if (ns < this.clockNs)
      throw new RuntimeError(`advanceTo(${ns}) is before the current clock ${this.clockNs}`);
    for (;;) {
      let due: TimerEntry | undefined;
      for (const t of this.timers) {
        if (t.cancelled || t.nextNs > ns) continue;
        if (!due || t.nextNs < due.nextNs || (t.nextNs === due.nextNs && t.id < due.id)) due = t;
      }
      if (!due) break;
      this.clockNs = due.nextNs;
      due.nextNs += due.periodNs;
      due.callback();
    }
    this.clockNs = ns;
  }

  /** Advance the clock by `dNs`. */
  advanceBy(dNs: bigint): void {
    this.advanceTo(this.clockNs + dNs);
  }

  /** Listen to every publication (returns an unsubscribe function). */
  onPublish(listener: (r: PublicationRecord) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Inject a CDR message from outside (a test, a bag); `topic` is resolved from the root namespace. */
  publish(topic: string, type: string, data: Uint8Array): void {
    this.deliver(this.remap(resolveName(topic, '', '_')), type, toBuffer(data), '');
  }

  /** Call a service by (resolved) name, as `ros2 service call` would. */
  async callService(name: string, request: unknown): Promise<any> {
    const full = this.remap(resolveName(name, '', '_'));
    const s = this.services.get(full);
    if (!s) {
      throw new RuntimeError(
        `no service '${full}' (known: ${[...this.services.keys()].join(', ') || 'none'})`,
      );
    }
    const codec = this.options.serviceCodec;
    const req = codec
      ? codec.decode(`${s.type}_Request`, codec.encode(`${s.type}_Request`, request))
      : request;
    const res = await s.handler(req);
    return codec ? codec.decode(`${s.type}_Response`, codec.encode(`${s.type}_Response`, res)) : res;
  }

  /** Names of the topics that have a publisher or a subscriber, with their types. */
  topicTypes(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.topics) out[k] = v.type;
    return out;
  }

  /** Resolved names of the services offered. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  /** @internal */
  remap(resolved: string): string {
    const r = this.options.remaps;
    if (!r) return resolved;
    for (const [from, to] of Object.entries(r))
      if (resolveName(from, '', '_') === resolved) return resolveName(to, '', '_');
    return resolved;
  }

  /** @internal */
  topicEntry(topic: string, type: string): TopicEntry {
    let e = this.topics.get(topic);
    if (!e) {
      e = { type, subs: new Set() };
      this.topics.set(topic, e);
    } else if (e.type !== type) {
      throw new RuntimeError(
        `topic '${topic}' already has type '${e.type}', cannot use it as '${type}'; remap one of them`,
      );
    }
    return e;
  }

  /** @internal */
  deliver(topic: string, type: string, data: Buffer, node: string): void {
    const e = this.topicEntry(topic, type);
    const rec: PublicationRecord = { topic, type, stampNs: this.clockNs, data, node };
    if (this.options.recordPublications !== false) this.publications.push(rec);
    for (const l of this.listeners) l(rec);
    for (const cb of [...e.subs]) cb(data);
  }

  /** @internal */
  addService(name: string, entry: ServiceEntry): void {
    if (this.services.has(name)) throw new RuntimeError(`service '${name}' is already offered`);
    this.services.set(name, entry);
  }

  /** @internal */
  removeService(name: string): void {
    this.services.delete(name);
  }

  /** @internal */
  addTimer(periodNs: bigint, callback: () => void): TimerEntry {
    if (periodNs <= 0n) throw new RuntimeError(`timer period must be > 0 ns, got ${periodNs}`);
    const t: TimerEntry = {
      id: this.nextTimerId++,
      periodNs,
      nextNs: this.clockNs + periodNs,
      callback,
      cancelled: false,
    };
    this.timers.push(t);
    return t;
  }

  /** @internal */
  removeTimer(t: TimerEntry): void {
    t.cancelled = true;
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** @internal */
  log(record: LogRecord): void {
    this.logs.push(record);
    this.options.onLog?.(record);
  }

  /** @internal */
  forgetNode(node: InProcNode): void {
    this.nodes.delete(node);
  }
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Type of a value as a ROS parameter type, or undefined if not representable. */
export function paramTypeOf(value: unknown): ParamDescriptor['type'] | undefined {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'double';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return 'string_array';
    if (value.every((v) => typeof v === 'boolean')) return 'bool_array';
    if (value.every((v) => typeof v === 'number')) {
      return value.every((v) => Number.isInteger(v)) ? 'integer_array' : 'double_array';
    }
  }
  return undefined;
}

/**
 * Check a value against a descriptor like rcl does (type; integers accepted for doubles; inclusive range).
 * Returns '' when valid, else the reason.
 */
export function checkParamValue(d: ParamDescriptor, value: unknown): string {
  const t = paramTypeOf(value);
  const compatible =
    t === d.type ||
    (d.type === 'double' && t === 'integer') ||
    (d.type === 'double_array' && t === 'integer_array') ||
    (Array.isArray(value) && value.length === 0 && d.type.endsWith('_array'));
  if (!compatible) {
    return `parameter '${d.name}' must be of type ${d.type}, got ${t ?? typeof value} (${JSON.stringify(value)})`;
  }
  if (d.range && typeof value === 'number') {
    if (!Number.isFinite(value) || value < d.range.from || value > d.range.to) {
      return `parameter '${d.name}' = ${value} is out of range [${d.range.from}, ${d.range.to}]`;
    }
  }
  return '';
}

class InProcNode implements RosNodeHandle {
  readonly logger: RosLogger;
  private readonly subs: { topic: string; cb: (data: Buffer) => void }[] = [];
  private readonly serviceNames: string[] = [];
  private readonly timerEntries: TimerEntry[] = [];
  private readonly params = new Map<string, { d: ParamDescriptor; value: ParamValue }>();
  private readonly setCallbacks: SetParamsCallback[] = [];
  private destroyed = false;

  constructor(
    private readonly rt: InProcRuntime,
    readonly name: string,
    readonly namespace: string,
  ) {
    const log = (level: LogRecord['level']) => (msg: string) =>
      rt.log({ level, node: name, msg, stampNs: rt.nowNs() });
    this.logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  }

  private resolve(name: string): string {
    return this.rt.remap(resolveName(name, this.namespace, this.name));
  }

  private alive(): void {
    if (this.destroyed) throw new RuntimeError(`node '${this.name}' was destroyed`);
  }

  createSubscription(
    type: string,
    topic: string,
    _options: { qos: QosSpec },
    callback: (data: Buffer) => void,
  ): RosSubscription {
    this.alive();
    const full = this.resolve(topic);
    this.rt.topicEntry(full, type).subs.add(callback);
    this.subs.push({ topic: full, cb: callback });
    return { topic: full };
  }

  createPublisher(type: string, topic: string, _qos: QosSpec): RosPublisher {
    this.alive();
    const full = this.resolve(topic);
    this.rt.topicEntry(full, type);
    return {
      topic: full,
      publish: (data: Buffer) => {
        if (this.destroyed) return;
        if (!Buffer.isBuffer(data))
          throw new RuntimeError(`publish on '${full}' needs a Buffer of CDR bytes`);
        this.rt.deliver(full, type, data, this.name);
      },
    };
  }

  createService(type: string, name: string, handler: ServiceHandler): RosService {
    this.alive();
    const full = this.resolve(name);
    this.rt.addService(full, { type, handler });
    this.serviceNames.push(full);
    return { name: full };
  }

  declareParameter(descriptor: ParamDescriptor, defaultValue: ParamValue): ParamValue {
    this.alive();
    if (this.params.has(descriptor.name)) {
      throw new RuntimeError(`parameter '${descriptor.name}' is already declared`);
    }
    const override = this.rt.options.parameterOverrides?.[descriptor.name];
    const value = override !== undefined ? override : defaultValue;
    const reason = checkParamValue(descriptor, value);
    if (reason) throw new RuntimeError(`cannot declare ${reason}`);
    this.params.set(descriptor.name, { d: descriptor, value });
    return value;
  }

  getParameter(name: string): ParamValue {
    const p = this.params.get(name);
    if (!p) throw new RuntimeError(`parameter '${name}' is not declared`);
    return p.value;
  }

  setParameters(updates: ParamUpdate[]): SetParamsResult[] {
    return updates.map((u) => {
      const p = this.params.get(u.name);
      if (!p) return { successful: false, reason: `parameter '${u.name}' is not declared` };
      if (p.d.readOnly) return { successful: false, reason: `parameter '${u.name}' is read-only` };
      const reason = checkParamValue(p.d, u.value);
      if (reason) return { successful: false, reason };
      for (const cb of this.setCallbacks) {
        const r = cb([u]);
        if (!r.successful) return r;
      }
      p.value = u.value;
      return { successful: true, reason: '' };
    });
  }

  addOnSetParametersCallback(callback: SetParamsCallback): void {
    this.setCallbacks.unshift(callback);
  }

  createTimer(periodNs: bigint, callback: () => void): RosTimer {
    this.alive();
    const t = this.rt.addTimer(periodNs, callback);
    this.timerEntries.push(t);
    return { cancel: () => this.rt.removeTimer(t) };
  }

  nowNs(): bigint {
    return this.rt.nowNs();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of this.subs) this.rt.topicEntry(s.topic, this.rt.topicTypes()[s.topic]).subs.delete(s.cb);
    for (const n of this.serviceNames) this.rt.removeService(n);
    for (const t of this.timerEntries) this.rt.removeTimer(t);
    this.rt.forgetNode(this);
  }
}

export type { InProcNode };
