/**
 * The ONLY file that touches rclnodejs. It is loaded dynamically, and only when a ROS 2 environment is
 * sourced (ROS_DISTRO and AMENT_PREFIX_PATH set), and adapted to the `RosRuntime` interface: raw (CDR)
 * subscriptions, Buffer publishing, services, parameters with descriptors and ranges, ns timers, ROS time.
 * rclnodejs types are not needed at compile time (it is an optional dependency), so it is typed `any` here.
 */
import type {
  ParamDescriptor,
  ParamType,
  ParamUpdate,
  ParamValue,
  QosSpec,
  RosLogger,
  RosNodeHandle,
  RosRuntime,
  SetParamsCallback,
  SetParamsResult,
} from './runtime';
import { RuntimeError } from './runtime';

/** rclnodejs cannot be used here: no sourced ROS 2 environment, or rclnodejs not installed / not built. */
export class RosEnvironmentError extends RuntimeError {
  constructor(message: string) {
    super(message);
    this.name = 'RosEnvironmentError';
  }
}

/** True when a ROS 2 environment looks sourced (ROS_DISTRO and AMENT_PREFIX_PATH set). */
export function rosEnvironmentAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ROS_DISTRO && env.AMENT_PREFIX_PATH);
}

const HOW_TO =
  'source /opt/ros/<distro>/setup.bash, then colcon build the ros/ package (declip_ros) and source install/setup.bash';

/** ParameterType numbers of rcl_interfaces. */
const PARAM_TYPE: Record<ParamType, number> = {
  bool: 1,
  integer: 2,
  double: 3,
  string: 4,
  bool_array: 6,
  integer_array: 7,
  double_array: 8,
  string_array: 9,
};

/**
 * Load rclnodejs and wrap it as a RosRuntime. Throws RosEnvironmentError with the fix when ROS 2 is not
 * sourced or rclnodejs is missing.
 */
export async function loadRclnodejsRuntime(env: NodeJS.ProcessEnv = process.env): Promise<RosRuntime> {
  if (!rosEnvironmentAvailable(env)) {
    throw new RosEnvironmentError(`no ROS 2 environment (ROS_DISTRO / AMENT_PREFIX_PATH unset): ${HOW_TO}`);
  }
  let rcl: any;
  try {
    const mod: any = await import('rclnodejs' as string);
    rcl = mod.default ?? mod;
  } catch (e) {
    throw new RosEnvironmentError(
      `cannot load rclnodejs (${(e as Error).message}); install it in this package with ` +
        `'npm install rclnodejs' (and 'npm approve-scripts rclnodejs' / allow its build script) after: ${HOW_TO}`,
    );
  }
  return new RclnodejsRuntime(rcl);
}

function qosOf(rcl: any, q: QosSpec): any {
  const Q = rcl.QoS;
  return new Q(
    Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
    q.depth,
    q.reliability === 'reliable'
      ? Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE
      : Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
    q.durability === 'transient_local'
      ? Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
      : Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
  );
}

function plainValue(v: any): ParamValue {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    return Array.from(v as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? Number(x) : x)) as ParamValue;
  }
  return v as ParamValue;
}

class RclnodejsRuntime implements RosRuntime {
  readonly kind = 'rclnodejs' as const;
  constructor(private readonly rcl: any) {}

  async init(argv?: string[]): Promise<void> {
    await this.rcl.init(this.rcl.Context.defaultContext(), argv ?? process.argv);
  }

  createNode(name: string, namespace = ''): RosNodeHandle {
    return new RclNode(this.rcl, this.rcl.createNode(name, namespace));
  }

  spin(node: RosNodeHandle): void {
    (node as RclNode).raw.spin();
  }

  async shutdown(): Promise<void> {
    if (!this.rcl.isShutdown?.()) this.rcl.shutdown();
  }
}

class RclNode implements RosNodeHandle {
  readonly logger: RosLogger;
  constructor(
    private readonly rcl: any,
    readonly raw: any,
  ) {
    const l = raw.getLogger();
    this.logger = {
      debug: (m) => l.debug(m),
      info: (m) => l.info(m),
      warn: (m) => l.warn(m),
      error: (m) => l.error(m),
    };
  }

  get name(): string {
    return this.raw.name();
  }

  get namespace(): string {
    return this.raw.namespace();
  }

  createSubscription(
    type: string,
    topic: string,
    options: { qos: QosSpec },
    callback: (data: Buffer) => void,
  ) {
    const sub = this.raw.createSubscription(
      type,
      topic,
      { isRaw: true, qos: qosOf(this.rcl, options.qos) },
      (msg: Buffer) => callback(msg),
    );
    return { topic: String(sub.topic ?? topic) };
  }

  createPublisher(type: string, topic: string, qos: QosSpec) {
    const pub = this.raw.createPublisher(type, topic, { qos: qosOf(this.rcl, qos) });
    return { topic: String(pub.topic ?? topic), publish: (data: Buffer) => pub.publish(data) };
  }

  createService(type: string, name: string, handler: (req: any) => any) {
    this.raw.createService(type, name, (request: any, response: any) => {
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (res) => response.send(res),
          (e: Error) => this.logger.error(`service ${name} failed: ${e.message}`),
        );
    });
    return { name };
  }

  declareParameter(d: ParamDescriptor, defaultValue: ParamValue): ParamValue {
    const P = this.rcl.Parameters ?? this.rcl;
    const type = PARAM_TYPE[d.type];
    let range: any;
    if (d.range) {
      range =
        d.type === 'integer'
          ? new P.IntegerRange(d.range.from, d.range.to, d.range.step ?? 0)
          : new P.FloatingPointRange(d.range.from, d.range.to, d.range.step ?? 0);
    }
    const value = d.type === 'integer' ? BigInt(defaultValue as number) : defaultValue;
    const desc = new P.ParameterDescriptor(d.name, type, d.description, d.readOnly ?? false, range);
    if (d.additionalConstraints) desc.additionalConstraints = d.additionalConstraints;
    const p = this.raw.declareParameter(new P.Parameter(d.name, type, value), desc);
    return plainValue(p.value);
  }

  getParameter(name: string): ParamValue {
    return plainValue(this.raw.getParameter(name).value);
  }

  setParameters(params: ParamUpdate[]): SetParamsResult[] {
    const P = this.rcl.Parameters ?? this.rcl;
    return params.map((u) => {
      const type = this.raw.getParameter(u.name).type;
      const value = type === PARAM_TYPE.integer ? BigInt(u.value as number) : u.value;
      const r = this.raw.setParameter(new P.Parameter(u.name, type, value));
      return { successful: Boolean(r.successful), reason: String(r.reason ?? '') };
    });
  }

  addOnSetParametersCallback(callback: SetParamsCallback): void {
    this.raw.addOnSetParametersCallback((params: any[]) =>
      callback(params.map((p) => ({ name: String(p.name), value: plainValue(p.value) }))),
    );
  }

  createTimer(periodNs: bigint, callback: () => void) {
    const t = this.raw.createTimer(periodNs, callback);
    return { cancel: () => t.cancel() };
  }

  nowNs(): bigint {
    return BigInt(this.raw.now().nanoseconds);
  }

  destroy(): void {
    this.raw.destroy();
  }
}
