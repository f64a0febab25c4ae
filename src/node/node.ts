/**
 * `declip_node`: raw CDR subscriptions -> decode -> validate -> approximate-time sync -> Frame ->
 * latest-frame-wins worker -> Pipeline -> CDR publications, plus ~/query, ~/locate, ~/set_anchor,
 * parameters with dynamic updates and /diagnostics. Runs unchanged on rclnodejs and on the in-process runtime.
 * No callback ever throws: bad input is a throttled warning naming the topic and the reason.
 */
import { performance } from 'perf_hooks';
import type { CameraIntrinsics, Frame } from '../types';
import {
  decodeCompressedImage,
  depthToMeters,
  imageToRgb,
  intrinsicsFromCameraInfo,
  validateImage,
  type CameraInfoMsg,
  type CompressedImageMsg,
  type ImageMsg,
} from '../bag/image';
import type { MessageCodecRegistry } from './codec';
import {
  DIAG_LEVEL,
  detectionArrayMsg,
  diagnosticArrayMsg,
  header,
  instanceArrayMsg,
  labelImageMsg,
  markerArrayMsg,
  pointCloudMsg,
  graspTargetMsg,
  stampNs as toNs,
  tfMsg,
  type Header,
} from './messages';
import type { Pipeline, PipelineResult, PipelineSettings, QueryResult } from './pipeline';
import { zeroTimings } from './pipeline';
import {
  NODE_NAME,
  PARAM_SCHEMA,
  descriptorOf,
  paramSpec,
  ParamError,
  parseQueries,
  validateParam,
  type NodeParams,
} from './params';
import type {
  ParamUpdate,
  QosSpec,
  RosNodeHandle,
  RosPublisher,
  RosRuntime,
  RosTimer,
  SetParamsResult,
} from './runtime';
import { QOS_DEFAULT } from './runtime';
import { dirParamProblem, fileNameProblem } from './paths';
import { checkQueries, queryProblem } from './queries';
import { ApproximateTimeSync } from './sync';
import { ThrottledLogger } from './throttle';

/** Message types the node uses. */
export const TYPES = {
  image: 'sensor_msgs/msg/Image',
  compressed: 'sensor_msgs/msg/CompressedImage',
  cameraInfo: 'sensor_msgs/msg/CameraInfo',
  string: 'std_msgs/msg/String',
  instances: 'declip_ros/msg/ObjectInstanceArray',
  detections: 'vision_msgs/msg/Detection3DArray',
  markers: 'visualization_msgs/msg/MarkerArray',
  pointCloud: 'sensor_msgs/msg/PointCloud2',
  poseStamped: 'geometry_msgs/msg/PoseStamped',
  tf: 'tf2_msgs/msg/TFMessage',
  diagnostics: 'diagnostic_msgs/msg/DiagnosticArray',
  locate: 'declip_ros/srv/Locate',
  setAnchor: 'declip_ros/srv/SetAnchor',
} as const;

/** Output topic names (relative to the node: `~/x` -> `<ns>/declip_node/x`). */
export const OUTPUT_TOPICS = {
  instances: '~/instances',
  detections: '~/detections',
  markers: '~/markers',
  grasp: '~/grasp',
  mask: '~/mask',
  points: '~/points',
  tf: '/tf',
  diagnostics: '/diagnostics',
  query: '~/query',
  locate: '~/locate',
  setAnchor: '~/set_anchor',
} as const;

/** Most ~/locate requests waiting at once; more are answered at once with success false (bounded memory). */
export const MAX_PENDING_LOCATES = 100;

const COLOR_ENCODINGS = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'];
const DEPTH_ENCODINGS = ['16UC1', 'mono16', '32FC1'];

export interface DeclipNodeOptions {
  runtime: RosRuntime;
  codec: MessageCodecRegistry;
  pipeline: Pipeline;
  /** Node name (default declip_node). */
  name?: string;
  /** Node namespace (default ''). */
  namespace?: string;
  /** Monotonic wall clock in ms for latency and log throttling (default performance.now). */
  monotonicMs?: () => number;
}

/** Counters exposed by `stats()` and /diagnostics. */
export interface NodeStats {
  /** Messages received per input. */
  received: { color: number; depth: number; cameraInfo: number };
  /** Synchronised colour+depth sets. */
  synced: number;
  /** Frames handed to the pipeline and finished. */
  processed: number;
  /** Frames replaced in the worker's single pending slot before processing (latest-frame-wins). */
  dropped: number;
  /** Frames skipped because no query was active. */
  idle: number;
  /** Messages or frames rejected as bad input (malformed CDR, encoding, sizes, stale). */
  badInput: number;
  /** Frames waiting for CameraInfo. */
  waitingForCameraInfo: number;
  /** Pipeline failures. */
  pipelineErrors: number;
  /** Synchroniser resets (stamps went backwards). */
  syncResets: number;
  /** Publications per output topic key. */
  published: Record<string, number>;
}

interface InfoEntry {
  stampNs: bigint;
  intr: CameraIntrinsics;
}

interface LocateWaiter {
  query: string;
  maxInstances: number;
  timeoutS: number;
  stage: 'waiting for a synchronised frame' | 'processing';
  done: boolean;
  timer?: RosTimer;
  resolve: (response: Record<string, unknown>) => void;
}

interface FrameWaiter {
  done: boolean;
  onFrame: (frame: Frame) => void;
}

interface Job {
  stampNs: bigint;
  frameId: string;
  color: ImageMsg | CompressedImageMsg;
  compressed: boolean;
  depth: ImageMsg;
  intr: CameraIntrinsics;
  arrivalMs: number;
  locates: LocateWaiter[];
  frameWaiters: FrameWaiter[];
}

type Input = 'color' | 'depth' | 'info';
/** Why an input was rejected: the message field at fault and the reason. */
type Rejection = { field: string; reason: string };

/** The field a thrown error names (ImageFormatError / DecodeError / PerceptionInputError carry one). */
function fieldOf(e: unknown, fallback: string): string {
  const f = (e as { field?: unknown } | null)?.field;
  return typeof f === 'string' && f ? f : fallback;
}
type SyncMsg = { kind: Input; msg: any; arrivalMs: number };

/** The node. Create with `DeclipNode.create`. */
export class DeclipNode {
  readonly node: RosNodeHandle;
  private readonly codec: MessageCodecRegistry;
  private readonly pipeline: Pipeline;
  private readonly nowMs: () => number;
  private readonly p: NodeParams = {};
  private readonly log: ThrottledLogger;
  private readonly pubs: Record<string, RosPublisher> = {};
  private readonly topics = { color: '', depth: '', info: '' };
  private queryTopicName: string = OUTPUT_TOPICS.query;
  private sync!: ApproximateTimeSync<SyncMsg>;
  private latestInfo?: InfoEntry;
  private standing: string[] = [];
  private lastFrameStampNs?: bigint;
  private lastFrame?: Frame;
  private running: Promise<void> | null = null;
  private pending: Job | null = null;
  private idleWaiters: (() => void)[] = [];
  private waitingLocates: LocateWaiter[] = [];
  private waitingFrames: FrameWaiter[] = [];
  private diagTimer?: RosTimer;
  private destroyed = false;
  private readonly counters: NodeStats = {
    received: { color: 0, depth: 0, cameraInfo: 0 },
    synced: 0,
    processed: 0,
    dropped: 0,
    idle: 0,
    badInput: 0,
    waitingForCameraInfo: 0,
    pipelineErrors: 0,
    syncResets: 0,
    published: {},
  };
  private diagWindow = { startNs: 0n, synced: 0, processed: 0, latencySumMs: 0, latencyMaxMs: 0, errors: 0 };
  /** The latest rejected input, for /diagnostics. */
  private lastBad = '';

  private constructor(opts: DeclipNodeOptions) {
    this.node = opts.runtime.createNode(opts.name ?? NODE_NAME, opts.namespace ?? '');
    this.codec = opts.codec;
    this.pipeline = opts.pipeline;
    this.nowMs = opts.monotonicMs ?? (() => performance.now());
    this.log = new ThrottledLogger(this.node.logger, () => Number(this.p.warn_throttle_s) * 1000, this.nowMs);
  }

  /**
   * Create the node: declare parameters (overrides from the runtime apply), configure the pipeline, create
   * subscriptions, publishers, services and the diagnostics timer. Throws ParamError for bad overrides.
   */
  static async create(opts: DeclipNodeOptions): Promise<DeclipNode> {
    const n = new DeclipNode(opts);
    n.declareParameters();
    await n.pipeline.configure?.(n.settings());
    n.setup();
    return n;
  }

  private declareParameters(): void {
    for (const spec of PARAM_SCHEMA) {
      const v = this.node.declareParameter(descriptorOf(spec), spec.default);
      this.p[spec.name] = validateParam(spec.name, v);
      const why = DeclipNode.extraCheck(spec.name, this.p[spec.name]);
      if (why) throw new ParamError(`parameter '${spec.name}' ${why}`, spec.name);
    }
    this.standing = parseQueries(String(this.p.queries));
    this.node.addOnSetParametersCallback((params) => this.onSetParameters(params));
  }

  private settings(): PipelineSettings {
    const p = this.p;
    return {
      device: String(p.device),
      modelPath: String(p.model_path),
      scoreThreshold: Number(p.score_threshold),
      maskThreshold: Number(p.mask_threshold),
      maxInstances: Number(p.max_instances),
      erosionPx: Number(p.erosion_px),
      minPoints: Number(p.min_points),
      minDepthM: Number(p.min_depth_m),
      maxDepthM: Number(p.max_depth_m),
      poseMethod: String(p.pose_method),
      modelsDir: String(p.models_dir),
      anchorsDir: String(p.anchors_dir),
      cpuThreads: Number(p.cpu_threads),
    };
  }

  private syncOptions(): { slopNs: bigint; queueSize: number; backwardsResetNs: bigint } {
    return {
      slopNs: BigInt(Math.round(Number(this.p.sync_slop_s) * 1e9)),
      queueSize: Number(this.p.sync_queue_size),
      backwardsResetNs: BigInt(Math.round(Number(this.p.backwards_reset_s) * 1e9)),
    };
  }

  private setup(): void {
    const n = this.node;
    const qos: QosSpec = {
      reliability: this.p.qos_reliability === 'reliable' ? 'reliable' : 'best_effort',
      durability: 'volatile',
      depth: Number(this.p.qos_depth),
    };
    const syncInfo = Boolean(this.p.camera_info_sync);
    this.sync = new ApproximateTimeSync<SyncMsg>(syncInfo ? 3 : 2, this.syncOptions());
    this.sync.onReset = (reason) => {
      this.counters.syncResets++;
      this.lastFrameStampNs = undefined;
      this.node.logger.warn(`input stamps went backwards, resetting the synchroniser: ${reason}`);
    };
    const compressed = Boolean(this.p.color_compressed);
    const colorType = compressed ? TYPES.compressed : TYPES.image;
    this.topics.color = n.createSubscription(colorType, String(this.p.color_topic), { qos }, (d) =>
      this.onRaw('color', colorType, d),
    ).topic;
    this.topics.depth = n.createSubscription(TYPES.image, String(this.p.depth_topic), { qos }, (d) =>
      this.onRaw('depth', TYPES.image, d),
    ).topic;
    this.topics.info = n.createSubscription(
      TYPES.cameraInfo,
      String(this.p.camera_info_topic),
      { qos },
      (d) => this.onRaw('info', TYPES.cameraInfo, d),
    ).topic;
    this.queryTopicName = n.createSubscription(TYPES.string, OUTPUT_TOPICS.query, { qos: QOS_DEFAULT }, (d) =>
      this.onQuery(d),
    ).topic;

    this.pubs.instances = n.createPublisher(TYPES.instances, OUTPUT_TOPICS.instances, QOS_DEFAULT);
    this.pubs.detections = n.createPublisher(TYPES.detections, OUTPUT_TOPICS.detections, QOS_DEFAULT);
    this.pubs.markers = n.createPublisher(TYPES.markers, OUTPUT_TOPICS.markers, QOS_DEFAULT);
    this.pubs.mask = n.createPublisher(TYPES.image, OUTPUT_TOPICS.mask, QOS_DEFAULT);
    this.pubs.grasp = n.createPublisher(TYPES.poseStamped, OUTPUT_TOPICS.grasp, QOS_DEFAULT);
    this.pubs.points = n.createPublisher(TYPES.pointCloud, OUTPUT_TOPICS.points, QOS_DEFAULT);
    this.pubs.tf = n.createPublisher(TYPES.tf, OUTPUT_TOPICS.tf, { ...QOS_DEFAULT, depth: 100 });
    this.pubs.diagnostics = n.createPublisher(TYPES.diagnostics, OUTPUT_TOPICS.diagnostics, QOS_DEFAULT);

    n.createService(TYPES.locate, OUTPUT_TOPICS.locate, (req) => this.onLocate(req));
    n.createService(TYPES.setAnchor, OUTPUT_TOPICS.setAnchor, (req) => this.onSetAnchor(req));

    this.diagWindow.startNs = n.nowNs();
    const periodNs = BigInt(Math.round(Number(this.p.diagnostics_period_s) * 1e9));
    this.diagTimer = n.createTimer(periodNs, () =>
      this.guard('diagnostics', () => this.publishDiagnostics()),
    );
    n.logger.info(
      `${n.name} ready: colour ${this.topics.color}${compressed ? ' (compressed)' : ''}, depth ${this.topics.depth}, ` +
        `camera_info ${this.topics.info}; queries: ${this.standing.length ? this.standing.join(', ') : '(none)'}`,
    );
  }

  /** Active standing queries. */
  queries(): string[] {
    return [...this.standing];
  }

  /** A snapshot of the counters. */
  stats(): NodeStats {
    return JSON.parse(JSON.stringify(this.counters)) as NodeStats;
  }

  /** Resolved input topic names. */
  inputTopics(): { color: string; depth: string; info: string } {
    return { ...this.topics };
  }

  /** Resolves when no frame is being processed or pending. */
  idle(): Promise<void> {
    if (!this.running && !this.pending) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop: fail pending locates, wait for the worker, destroy the ROS node. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.diagTimer?.cancel();
    this.pending = null;
    for (const w of [...this.waitingLocates]) this.finishLocate(w, false, 'node is shutting down', undefined);
    await this.idle();
    this.node.destroy();
  }

  // ---------------------------------------------------------------- inputs

  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error(`internal:${where}`, `internal error in ${where}: ${(e as Error).stack ?? String(e)}`);
    }
  }

  /** Count and log (throttled per topic and kind) one rejected input, naming the topic and the field. */
  private bad(topic: string, reason: string, kind: string, field: string): void {
    this.counters.badInput++;
    const text = `[${topic}] dropped: ${reason} (field '${field}')`;
    this.lastBad = text.length > 300 ? `${text.slice(0, 297)}...` : text;
    this.log.warn(`${topic}:${kind}`, text);
  }

  /** Checks beyond type/range/choices for parameters whose values become queries or paths ('' = fine). */
  private static extraCheck(name: string, value: unknown): string {
    if (name === 'queries') {
      const { rejected } = checkQueries(parseQueries(String(value)));
      return rejected.length ? `is not usable: ${rejected[0].reason}` : '';
    }
    if (name === 'anchors_dir' || name === 'models_dir' || name === 'model_path') {
      const why = dirParamProblem(String(value));
      return why ? `= '${String(value).replace(/\0/g, '\\0')}' ${why}` : '';
    }
    return '';
  }

  private onRaw(kind: Input, type: string, data: Buffer): void {
    if (this.destroyed) return;
    this.guard(`${kind} callback`, () => {
      const topic = this.topics[kind];
      if (kind === 'info') this.counters.received.cameraInfo++;
      else this.counters.received[kind]++;
      let msg: any;
      try {
        msg = this.codec.decode(type, data);
      } catch (e) {
        this.bad(
          topic,
          `malformed ${type} CDR (${data.byteLength} bytes): ${(e as Error).message}`,
          'cdr',
          fieldOf(e, 'cdr'),
        );
        return;
      }
      const rejection = this.check(kind, type, msg);
      if (rejection) {
        this.bad(topic, rejection.reason, 'invalid', rejection.field);
        return;
      }
      const stamp = toNs(msg.header.stamp);
      const arrivalMs = this.nowMs();
      if (kind === 'info') {
        this.latestInfo = { stampNs: stamp, intr: intrinsicsFromCameraInfo(msg as CameraInfoMsg) };
        if (this.sync.topicCount === 2) return;
      }
      const index = kind === 'color' ? 0 : kind === 'depth' ? 1 : 2;
      for (const set of this.sync.add(index, stamp, { kind, msg, arrivalMs })) this.onSynced(set.messages);
    });
  }

  /** undefined if the decoded message is usable, else the field at fault and why. */
  private check(kind: Input, type: string, msg: any): Rejection | undefined {
    const st = msg?.header?.stamp;
    if (!st || !Number.isInteger(st.sec) || !Number.isInteger(st.nanosec)) {
      return { field: 'header.stamp', reason: 'message has no valid header stamp' };
    }
    try {
      if (kind === 'info') {
        intrinsicsFromCameraInfo(msg as CameraInfoMsg);
        return undefined;
      }
      if (type === TYPES.compressed) {
        const c = msg as CompressedImageMsg;
        if (!c.data || c.data.length === 0) return { field: 'data', reason: 'CompressedImage has no data' };
        if (c.format.toLowerCase().includes('compresseddepth')) {
          return {
            field: 'format',
            reason: `CompressedImage format '${c.format}' is a depth format; the colour input needs jpeg or png`,
          };
        }
        return undefined;
      }
      const img = msg as ImageMsg;
      const allowed = kind === 'color' ? COLOR_ENCODINGS : DEPTH_ENCODINGS;
      if (!allowed.includes(img.encoding)) {
        return {
          field: 'encoding',
          reason:
            kind === 'color'
              ? `colour encoding '${img.encoding}' is not supported (use ${COLOR_ENCODINGS.join(', ')})`
              : `depth encoding '${img.encoding}' is not supported (use 16UC1 in mm or 32FC1 in m)`,
        };
      }
      if (img.width === 0 || img.height === 0) {
        return {
          field: img.width === 0 ? 'width' : 'height',
          reason: `image is empty (${img.width}x${img.height})`,
        };
      }
      validateImage(img);
      return undefined;
    } catch (e) {
      return { field: fieldOf(e, 'data'), reason: (e as Error).message };
    }
  }

  private onSynced(messages: SyncMsg[]): void {
    this.counters.synced++;
    this.diagWindow.synced++;
    const color = messages[0].msg as ImageMsg | CompressedImageMsg;
    const depth = messages[1].msg as ImageMsg;
    const stamp = toNs(color.header.stamp);
    const compressed = !('encoding' in color);
    let intr: CameraIntrinsics | undefined;
    if (messages.length === 3) intr = intrinsicsFromCameraInfo(messages[2].msg as CameraInfoMsg);
    else intr = this.latestInfo?.intr;
    if (!intr) {
      this.counters.waitingForCameraInfo++;
      this.log.warn(
        `${this.topics.info}:waiting`,
        `[${this.topics.info}] no CameraInfo received yet; waiting for it before processing frames`,
      );
      return;
    }
    if (!compressed) {
      const c = color as ImageMsg;
      if (c.width !== depth.width || c.height !== depth.height) {
        this.bad(
          this.topics.depth,
          `colour ${c.width}x${c.height} and depth ${depth.width}x${depth.height} differ; depth must be aligned ` +
            'to colour (e.g. realsense align_depth.enable:=true)',
          'size',
          'width/height',
        );
        return;
      }
    }
    if (intr.width !== depth.width || intr.height !== depth.height) {
      this.bad(
        this.topics.info,
        `CameraInfo is ${intr.width}x${intr.height} but the images are ${depth.width}x${depth.height}; ` +
          'use the CameraInfo of the colour camera',
        'camera_info',
        'width/height',
      );
      return;
    }
    if (this.lastFrameStampNs !== undefined && stamp <= this.lastFrameStampNs) {
      this.bad(
        this.topics.color,
        `frame stamp ${stamp} ns is not newer than the last processed ${this.lastFrameStampNs} ns`,
        'stale',
        'header.stamp',
      );
      return;
    }
    this.lastFrameStampNs = stamp;
    const frameId = String(this.p.frame_id) || color.header.frame_id;
    const job: Job = {
      stampNs: stamp,
      frameId,
      color,
      compressed,
      depth,
      intr,
      arrivalMs: Math.max(...messages.map((m) => m.arrivalMs)),
      locates: this.waitingLocates.splice(0),
      frameWaiters: this.waitingFrames.splice(0),
    };
    for (const l of job.locates) l.stage = 'processing';
    this.submit(job);
  }

  private onQuery(data: Buffer): void {
    this.guard('query callback', () => {
      let text: string;
      try {
        text = String(this.codec.decode(TYPES.string, data).data ?? '');
      } catch (e) {
        this.bad(
          this.queryTopicName,
          `malformed std_msgs/String CDR: ${(e as Error).message}`,
          'cdr',
          'data',
        );
        return;
      }
      const { ok, rejected } = checkQueries(parseQueries(text));
      for (const r of rejected) this.bad(this.queryTopicName, r.reason, 'query', 'data');
      if (rejected.length > 0 && ok.length === 0) return; // keep the previous queries
      this.standing = ok;
      this.node.logger.info(
        this.standing.length
          ? `queries set to: ${this.standing.join(', ')}`
          : 'queries cleared (empty ~/query)',
      );
    });
  }

  // ---------------------------------------------------------------- worker (latest frame wins)

  private submit(job: Job): void {
    if (this.destroyed) return;
    if (!this.running) {
      this.start(job);
      return;
    }
    if (this.pending) {
      this.counters.dropped++;
      job.locates.unshift(...this.pending.locates);
      job.frameWaiters.unshift(...this.pending.frameWaiters);
    }
    this.pending = job;
  }

  private start(job: Job): void {
    this.running = this.run(job)
      .catch((e) => {
        this.log.error('internal:worker', `internal error in the worker: ${(e as Error).stack ?? e}`);
      })
      .finally(() => {
        this.running = null;
        const next = this.pending;
        this.pending = null;
        if (next && !this.destroyed) this.start(next);
        else {
          const ws = this.idleWaiters.splice(0);
          for (const w of ws) w();
        }
      });
  }

  private async buildFrame(job: Job): Promise<Frame> {
    const rgb = job.compressed
      ? await decodeCompressedImage(job.color as CompressedImageMsg, { topic: this.topics.color })
      : imageToRgb(job.color as ImageMsg, { topic: this.topics.color });
    const depthM = depthToMeters(job.depth, { topic: this.topics.depth });
    if (rgb.width !== job.depth.width || rgb.height !== job.depth.height) {
      throw new Error(
        `[${this.topics.depth}] colour ${rgb.width}x${rgb.height} and depth ${job.depth.width}x${job.depth.height} differ; ` +
          'depth must be aligned to colour',
      );
    }
    return { stampNs: job.stampNs, frameId: job.frameId, rgb, depthM, camera: job.intr };
  }

  private async run(job: Job): Promise<void> {
    let frame: Frame;
    try {
      frame = await this.buildFrame(job);
    } catch (e) {
      this.bad(this.topics.color, (e as Error).message, 'frame', fieldOf(e, 'data'));
      for (const l of job.locates)
        this.finishLocate(l, false, `frame rejected: ${(e as Error).message}`, undefined);
      return;
    }
    this.lastFrame = frame;
    for (const w of job.frameWaiters) if (!w.done) w.onFrame(frame);
    const locates = job.locates.filter((l) => !l.done);
    const queries = [...this.standing];
    for (const l of locates) if (!queries.includes(l.query)) queries.push(l.query);
    if (queries.length === 0) {
      this.counters.idle++;
      return;
    }
    let result: PipelineResult;
    try {
      result = await this.pipeline.process(frame, queries);
    } catch (e) {
      this.counters.pipelineErrors++;
      this.diagWindow.errors++;
      this.log.error('pipeline', `pipeline failed on frame ${job.stampNs}: ${(e as Error).message}`);
      for (const l of locates)
        this.finishLocate(l, false, `pipeline failed: ${(e as Error).message}`, undefined);
      return;
    }
    if (this.destroyed) return;
    const totalMs = this.nowMs() - job.arrivalMs;
    this.counters.processed++;
    this.diagWindow.processed++;
    this.diagWindow.latencySumMs += totalMs;
    this.diagWindow.latencyMaxMs = Math.max(this.diagWindow.latencyMaxMs, totalMs);
    const h = header(job.stampNs, job.frameId);
    this.guard('publish', () => this.publishResults(h, frame, result, totalMs));
    for (const l of locates) {
      const r = result.results.find((x) => x.query === l.query) ?? { query: l.query, instances: [] };
      const limited = {
        query: r.query,
        instances: l.maxInstances > 0 ? r.instances.slice(0, l.maxInstances) : r.instances,
      };
      const msg = instanceArrayMsg(h, limited, result.timingsMs, totalMs, Boolean(this.p.instance_masks));
      this.finishLocate(l, true, `${limited.instances.length} instance(s) of '${l.query}'`, msg);
    }
  }

  // ---------------------------------------------------------------- outputs

  private publish(key: string, type: string, msg: unknown): void {
    const bytes = this.codec.encode(type, msg);
    this.pubs[key].publish(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.counters.published[key] = (this.counters.published[key] ?? 0) + 1;
  }

  private publishResults(h: Header, frame: Frame, result: PipelineResult, totalMs: number): void {
    const p = this.p;
    const results: QueryResult[] = result.results;
    for (const r of results) {
      this.publish(
        'instances',
        TYPES.instances,
        instanceArrayMsg(h, r, result.timingsMs, totalMs, Boolean(p.instance_masks)),
      );
    }
    if (p.publish_detections) this.publish('detections', TYPES.detections, detectionArrayMsg(h, results));
    if (p.publish_markers) {
      this.publish('markers', TYPES.markers, markerArrayMsg(h, results, Number(p.marker_lifetime_s)));
    }
    if (p.publish_mask)
      this.publish('mask', TYPES.image, labelImageMsg(h, frame.rgb.width, frame.rgb.height, results));
    if (p.publish_points) this.publish('points', TYPES.pointCloud, pointCloudMsg(h, results));
    const grasp = graspTargetMsg(h, results);
    if (grasp) this.publish('grasp', TYPES.poseStamped, grasp);
    if (p.publish_tf && results.some((r) => r.instances.length > 0)) {
      this.publish('tf', TYPES.tf, tfMsg(h, results, String(p.tf_prefix)));
    }
  }

  private publishDiagnostics(): void {
    const now = this.node.nowNs();
    const w = this.diagWindow;
    const dtS = Math.max(1e-9, Number(now - w.startNs) / 1e9);
    const desc = this.pipeline.describe?.() ?? {
      device: String(this.p.device),
      model: String(this.p.model_path) || 'default',
    };
    const c = this.counters;
    let level: number = DIAG_LEVEL.OK;
    let message = 'ok';
    if (w.errors > 0) {
      level = DIAG_LEVEL.ERROR;
      message = `${w.errors} pipeline failure(s)`;
    } else if (w.synced === 0) {
      level = DIAG_LEVEL.WARN;
      message = this.latestInfo
        ? `no synchronised colour+depth frames on ${this.topics.color} and ${this.topics.depth}`
        : `no CameraInfo on ${this.topics.info}`;
    } else if (this.standing.length === 0) {
      message = 'idle: no queries';
    }
    const values: Record<string, string> = {
      input_rate_hz: (w.synced / dtS).toFixed(2),
      processed_rate_hz: (w.processed / dtS).toFixed(2),
      latency_mean_ms: (w.processed ? w.latencySumMs / w.processed : 0).toFixed(1),
      latency_max_ms: w.latencyMaxMs.toFixed(1),
      frames_synced: String(c.synced),
      frames_processed: String(c.processed),
      frames_dropped: String(c.dropped),
      bad_input: String(c.badInput),
      pipeline_errors: String(c.pipelineErrors),
      last_bad_input: this.lastBad,
      queries: this.standing.join(', '),
      device: desc.device,
      model: desc.model,
    };
    this.publish(
      'diagnostics',
      TYPES.diagnostics,
      diagnosticArrayMsg(header(now, ''), {
        level,
        name: `${this.node.name}: perception`,
        message,
        hardwareId: desc.device,
        values,
      }),
    );
    this.diagWindow = { startNs: now, synced: 0, processed: 0, latencySumMs: 0, latencyMaxMs: 0, errors: 0 };
  }

  // ---------------------------------------------------------------- services

  private emptyArray(query: string): Record<string, unknown> {
    return instanceArrayMsg(header(0n, ''), { query, instances: [] }, zeroTimings(), 0, false);
  }

  private finishLocate(
    w: LocateWaiter,
    success: boolean,
    message: string,
    result: Record<string, unknown> | undefined,
  ): void {
    if (w.done) return;
    w.done = true;
    w.timer?.cancel();
    const i = this.waitingLocates.indexOf(w);
    if (i >= 0) this.waitingLocates.splice(i, 1);
    w.resolve({ success, message, result: result ?? this.emptyArray(w.query) });
  }

  private onLocate(req: any): Promise<Record<string, unknown>> {
    const query = parseQueries(String(req?.query ?? '').replace(/,/g, ' '))[0] ?? '';
    const timeoutReq = Number(req?.timeout_s ?? 0);
    const timeoutS =
      timeoutReq > 0 && Number.isFinite(timeoutReq) ? timeoutReq : Number(this.p.locate_timeout_s);
    const maxInstances = Math.max(0, Math.floor(Number(req?.max_instances ?? 0)) || 0);
    return new Promise((resolve) => {
      const w: LocateWaiter = {
        query,
        maxInstances,
        timeoutS,
        stage: 'waiting for a synchronised frame',
        done: false,
        resolve,
      };
      if (!query) {
        this.finishLocate(w, false, 'query is empty; give a text query such as "red mug"', undefined);
        return;
      }
      const why = queryProblem(query);
      if (why) {
        this.finishLocate(w, false, why, undefined);
        return;
      }
      if (this.destroyed) {
        this.finishLocate(w, false, 'node is shutting down', undefined);
        return;
      }
      if (this.waitingLocates.length >= MAX_PENDING_LOCATES) {
        this.finishLocate(
          w,
          false,
          `${MAX_PENDING_LOCATES} ~/locate requests are already waiting for a frame; retry later`,
          undefined,
        );
        return;
      }
      this.waitingLocates.push(w);
      w.timer = this.node.createTimer(BigInt(Math.round(timeoutS * 1e9)), () => {
        const why =
          w.stage === 'processing'
            ? `the pipeline did not finish within ${timeoutS} s`
            : `no synchronised frame within ${timeoutS} s (check ${this.topics.color}, ${this.topics.depth}, ${this.topics.info})`;
        this.finishLocate(w, false, why, undefined);
      });
    });
  }

  private onSetAnchor(req: any): Promise<Record<string, unknown>> {
    const name = String(req?.name ?? '').trim();
    const query = String(req?.query ?? '').trim();
    const fail = (message: string) => Promise.resolve({ success: false, message });
    if (!this.pipeline.setAnchor) return fail('this pipeline does not support anchors');
    if (!name || !query) return fail('name and query must both be non-empty');
    const nameWhy = fileNameProblem(name);
    if (nameWhy) return fail(`name ${nameWhy}`);
    const queryWhy = queryProblem(query);
    if (queryWhy) return fail(queryWhy);
    const save = (frame: Frame) =>
      this.pipeline.setAnchor!(name, query, frame).catch((e: Error) => ({
        success: false,
        message: e.message,
      }));
    if (req?.use_current_frame) {
      return this.lastFrame
        ? save(this.lastFrame)
        : fail('no frame received yet; set use_current_frame false to wait');
    }
    const timeoutS = Number(this.p.locate_timeout_s);
    return new Promise((resolve) => {
      const waiter: FrameWaiter = {
        done: false,
        onFrame: (frame) => {
          waiter.done = true;
          timer.cancel();
          void save(frame).then(resolve);
        },
      };
      const timer = this.node.createTimer(BigInt(Math.round(timeoutS * 1e9)), () => {
        timer.cancel();
        if (waiter.done) return;
        waiter.done = true;
        const i = this.waitingFrames.indexOf(waiter);
        if (i >= 0) this.waitingFrames.splice(i, 1);
        resolve({ success: false, message: `no synchronised frame within ${timeoutS} s` });
      });
      this.waitingFrames.push(waiter);
    });
  }

  // ---------------------------------------------------------------- parameters

  private onSetParameters(params: ParamUpdate[]): SetParamsResult {
    const accepted: [string, ReturnType<typeof validateParam>][] = [];
    for (const u of params) {
      if (!PARAM_SCHEMA.some((s) => s.name === u.name)) continue; // e.g. use_sim_time
      const spec = paramSpec(u.name);
      if (!spec.dynamic) {
        return {
          successful: false,
          reason: `parameter '${u.name}' cannot change at run time; restart the node`,
        };
      }
      try {
        const v = validateParam(u.name, u.value);
        const why = DeclipNode.extraCheck(u.name, v);
        if (why) return { successful: false, reason: `parameter '${u.name}' ${why}` };
        accepted.push([u.name, v]);
      } catch (e) {
        return { successful: false, reason: (e as Error).message };
      }
    }
    let reconfigure = false;
    for (const [name, value] of accepted) {
      this.p[name] = value;
      if (name === 'queries') this.standing = parseQueries(String(value));
      if (name === 'sync_slop_s' || name === 'sync_queue_size' || name === 'backwards_reset_s') {
        this.sync.setOptions(this.syncOptions());
      }
      if (
        [
          'device',
          'score_threshold',
          'mask_threshold',
          'max_instances',
          'erosion_px',
          'min_points',
          'min_depth_m',
          'max_depth_m',
          'pose_method',
        ].includes(name)
      ) {
        reconfigure = true;
      }
      this.node.logger.info(`parameter ${name} set to ${JSON.stringify(value)}`);
    }
    if (reconfigure && this.pipeline.configure) {
      Promise.resolve(this.pipeline.configure(this.settings())).catch((e: Error) =>
        this.log.error('configure', `pipeline reconfiguration failed: ${e.message}`),
      );
    }
    return { successful: true, reason: '' };
  }

  /** Current value of a parameter as the node uses it. */
  param(name: string): NodeParams[string] {
    paramSpec(name);
    return this.p[name];
  }
}
