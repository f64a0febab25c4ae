/**
 * The subset of a ROS 2 client library the node uses, shaped like rclnodejs (raw CDR subscriptions and
 * publishers, services, parameters with descriptors, timers, a clock, a logger). Two implementations:
 * `rclnodejs.ts` (the real thing, loaded only inside a sourced ROS 2 environment) and `inproc.ts` (in-memory,
 * for tests and `declip replay`). The node code only sees these interfaces.
 */

/** Quality of service of a publisher or subscription. */
export interface QosSpec {
  /** 'best_effort' (sensor data) or 'reliable'. */
  reliability: 'best_effort' | 'reliable';
  /** 'volatile' or 'transient_local' (latched). */
  durability: 'volatile' | 'transient_local';
  /** History depth (keep last N). */
  depth: number;
}

/** rclcpp's sensor-data profile: best effort, volatile, keep last 5. */
export const QOS_SENSOR_DATA: QosSpec = { reliability: 'best_effort', durability: 'volatile', depth: 5 };
/** The default profile: reliable, volatile, keep last 10. */
export const QOS_DEFAULT: QosSpec = { reliability: 'reliable', durability: 'volatile', depth: 10 };

/** Parameter value types (ROS 2 ParameterType). */
export type ParamType =
  'bool' | 'integer' | 'double' | 'string' | 'bool_array' | 'integer_array' | 'double_array' | 'string_array';

/** A parameter value as the node sees it. */
export type ParamValue = boolean | number | string | boolean[] | number[] | string[];

/** What `declareParameter` needs: rcl_interfaces/ParameterDescriptor in short. */
export interface ParamDescriptor {
  name: string;
  type: ParamType;
  description: string;
  /** Inclusive numeric range (integer_range / floating_point_range). */
  range?: { from: number; to: number; step?: number };
  /** Free text shown by `ros2 param describe` (e.g. allowed choices). */
  additionalConstraints?: string;
  readOnly?: boolean;
}

/** One parameter in a set request or a set callback. */
export interface ParamUpdate {
  name: string;
  value: ParamValue;
}

/** rcl_interfaces/SetParametersResult. */
export interface SetParamsResult {
  successful: boolean;
  reason: string;
}

/** Called before parameters change; returning successful=false vetoes the change. */
export type SetParamsCallback = (params: ParamUpdate[]) => SetParamsResult;

/** A publisher of serialized (CDR) messages. */
export interface RosPublisher {
  readonly topic: string;
  /** Publish one CDR-serialized message (with its 4-byte encapsulation header). */
  publish(data: Buffer): void;
}

/** A subscription handle (kept so it can be destroyed). */
export interface RosSubscription {
  readonly topic: string;
}

/** A service server handle. */
export interface RosService {
  readonly name: string;
}

/** A periodic timer. */
export interface RosTimer {
  cancel(): void;
}

/** Node logger (rcutils severities). */
export interface RosLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Service handler: plain request object in, plain response object out (may be async). */
export type ServiceHandler = (request: any) => any | Promise<any>;

/** One ROS node. */
export interface RosNodeHandle {
  readonly name: string;
  readonly namespace: string;
  readonly logger: RosLogger;
  /** Subscribe with raw (CDR) delivery; `type` is e.g. `sensor_msgs/msg/Image`. */
  createSubscription(
    type: string,
    topic: string,
    options: { qos: QosSpec },
    callback: (data: Buffer) => void,
  ): RosSubscription;
  createPublisher(type: string, topic: string, qos: QosSpec): RosPublisher;
  /** Service server; `type` is e.g. `declip_ros/srv/Locate`. */
  createService(type: string, name: string, handler: ServiceHandler): RosService;
  /** Declare a parameter; returns its effective value (a command-line or params-file override wins). */
  declareParameter(descriptor: ParamDescriptor, defaultValue: ParamValue): ParamValue;
  getParameter(name: string): ParamValue;
  /** Set parameters (as `ros2 param set` would); each goes through the on-set callbacks. */
  setParameters(params: ParamUpdate[]): SetParamsResult[];
  addOnSetParametersCallback(callback: SetParamsCallback): void;
  /** Periodic timer on the node's clock; `periodNs` in nanoseconds (like rclnodejs). */
  createTimer(periodNs: bigint, callback: () => void): RosTimer;
  /** Current time of the node's clock (ROS time; sim time when use_sim_time is true), ns. */
  nowNs(): bigint;
  destroy(): void;
}

/** A ROS client library: init, nodes, spinning, shutdown. */
export interface RosRuntime {
  /** 'rclnodejs' for a real ROS 2 graph, 'inproc' for the in-memory one. */
  readonly kind: 'rclnodejs' | 'inproc';
  init(argv?: string[]): Promise<void>;
  createNode(name: string, namespace?: string): RosNodeHandle;
  spin(node: RosNodeHandle): void;
  shutdown(): Promise<void>;
}

/**
 * Resolve a ROS topic or service name: `~/x` -> `<ns>/<node>/x`, `x` -> `<ns>/x`, `/x` unchanged.
 * Throws RuntimeNameError for empty names or names with invalid characters.
 */
export function resolveName(name: string, namespace: string, nodeName: string): string {
  const n = name.trim();
  if (n === '' || !/^[~/A-Za-z0-9_{}]*$/.test(n) || /\/\//.test(n)) {
    throw new RuntimeNameError(
      `invalid topic/service name '${name}': use letters, digits, '_' and '/', optionally starting with '~/' or '/'`,
    );
  }
  const ns = namespace === '' || namespace === '/' ? '' : `/${namespace.replace(/^\/+|\/+$/g, '')}`;
  if (n.startsWith('/')) return n;
  if (n === '~') return `${ns}/${nodeName}`;
  if (n.startsWith('~/')) return `${ns}/${nodeName}/${n.slice(2)}`;
  return `${ns}/${n}`;
}

/** A bad topic, service or node name. */
export class RuntimeNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeNameError';
  }
}

/** A misuse of a runtime (type clash on a topic, unknown service, ROS environment missing...). */
export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}
