import type { BagError } from './errors';

/** Storage plugin of a bag, as rosbag2 names it. */
export type BagStorage = 'mcap' | 'sqlite3';

/** One topic of a bag. */
export interface BagTopicInfo {
  topic: string;
  /** Fully qualified type, e.g. `sensor_msgs/msg/Image`. */
  type: string;
  /** 'cdr' for ROS 2 bags. */
  serializationFormat: string;
  /** rosbag2's offered_qos_profiles YAML text ('' if none). */
  offeredQosProfiles: string;
  messageCount: number;
  /** (messageCount - 1) / bag duration in seconds; 0 when fewer than 2 messages or zero duration. */
  rateHz: number;
}

/** Summary of a bag (what `ros2 bag info` prints). */
export interface BagInfo {
  /** Path given to openBag. */
  path: string;
  storage: BagStorage;
  /** Storage files read, in order. */
  files: string[];
  /** MCAP header profile ('ros2'), '' for sqlite3. */
  profile: string;
  /** sqlite3 schema version (1..4), undefined for MCAP. */
  sqliteSchemaVersion?: number;
  /** ROS distro recorded in the bag (sqlite3 `schema` table), '' if unknown. */
  rosDistro: string;
  topics: BagTopicInfo[];
  messageCount: number;
  /** Log time of the first / last message, ns (0n for an empty bag). */
  startNs: bigint;
  endNs: bigint;
  durationNs: bigint;
  durationS: number;
}

/** One message read from a bag. */
export interface BagMessage {
  topic: string;
  type: string;
  /** Receive (log) time, ns. */
  logTimeNs: bigint;
  /** Publish time, ns (equals logTimeNs for sqlite3 bags). */
  publishTimeNs: bigint;
  /** Raw CDR payload. */
  data: Uint8Array;
  /** Decode the payload with the bag's (or the registry's) definition. Throws DecodeError / UnknownSchemaError. */
  decode(): any;
}

/** Options for BagReader.messages(). */
export interface ReadOptions {
  /** Only these topics (default: all). */
  topics?: readonly string[];
  /** Only messages with logTimeNs >= startNs. */
  startNs?: bigint;
  /** Only messages with logTimeNs <= endNs (inclusive). */
  endNs?: bigint;
  /** Continue past corrupt records (chunks, rows), counting them in `skipped` instead of throwing. */
  skipBad?: boolean;
}

/** Options for openBag(). */
export interface OpenOptions {
  /** Open damaged files (e.g. an MCAP without footer/summary) by scanning them; see BagReader.skipped. */
  skipBad?: boolean;
}

/** A read-only bag, same interface for MCAP and sqlite3 storage. */
export interface BagReader {
  info(): BagInfo;
  /** Messages in log-time order (within each storage file; split files are read in sequence). */
  messages(options?: ReadOptions): AsyncIterable<BagMessage>;
  /** Number of records skipped because they were corrupt (only with skipBad). */
  readonly skipped: number;
  /** The errors behind `skipped`, in order. */
  readonly skippedErrors: BagError[];
  close(): Promise<void>;
}

/** Per-topic options when adding a topic to a writer. */
export interface TopicOptions {
  /** offered_qos_profiles YAML; default: reliable/volatile keep-last, transient_local for /tf_static. */
  offeredQosProfiles?: string;
}

/** A bag being written. Methods must be awaited in order. */
export interface BagWriter {
  /** Register a topic (idempotent for the same type). */
  addTopic(topic: string, type: string, options?: TopicOptions): Promise<void>;
  /** Write one message: an object (encoded with the topic type's codec) or raw CDR bytes. */
  write(topic: string, logTimeNs: bigint, message: unknown, publishTimeNs?: bigint): Promise<void>;
  /** Finalise (summary / index / metadata.yaml). Idempotent; safe to call from an error path. */
  close(): Promise<void>;
}
