/**
 * Run the node on recorded messages without ROS: an in-process runtime whose clock follows the messages'
 * log times (sim time), the same DeclipNode, and every publication handed to a sink. Used by
 * `declip replay` (bag reader in, bag writer out).
 */
import { defaultCodec, type MessageCodecRegistry } from './codec';
import { InProcRuntime, type PublicationRecord } from './inproc';
import { DeclipNode, type NodeStats } from './node';
import type { Pipeline } from './pipeline';
import type { ParamValue } from './runtime';

/** One recorded message (e.g. from a bag). */
export interface ReplayMessage {
  /** Absolute topic name as recorded, e.g. `/camera/color/image_raw`. */
  topic: string;
  /** Fully qualified type, e.g. `sensor_msgs/msg/Image`. */
  type: string;
  /** Receive (log) time, ns; the runtime clock is set to it before the message is delivered. */
  logTimeNs: bigint;
  /** CDR bytes. */
  data: Uint8Array;
}

export interface ReplayOptions {
  pipeline: Pipeline;
  codec?: MessageCodecRegistry;
  /** Node parameters (e.g. `{queries: 'red mug'}`), as `-p name:=value` would give. */
  parameters?: Record<string, ParamValue>;
  /** Name remappings `{'/from': '/to'}`. */
  remaps?: Record<string, string>;
  namespace?: string;
  /** Every publication of the node, in order. */
  onPublish?: (record: PublicationRecord) => void | Promise<void>;
  /** true: live behaviour (frames arriving while the pipeline is busy are dropped); default false: every synchronised frame is processed. */
  dropFrames?: boolean;
  /** Log lines (default: none). */
  onLog?: (level: string, msg: string) => void;
}

/** What a replay did. */
export interface ReplaySummary {
  messages: number;
  publications: number;
  publicationsByTopic: Record<string, number>;
  stats: NodeStats;
  warnings: string[];
}

/**
 * Replay `messages` (in log-time order; a backwards jump is treated as a bag loop) through a DeclipNode.
 * Resolves after the last frame has been processed and the node destroyed.
 */
export async function runReplay(
  messages: Iterable<ReplayMessage> | AsyncIterable<ReplayMessage>,
  options: ReplayOptions,
): Promise<ReplaySummary> {
  const codec = options.codec ?? defaultCodec();
  const warnings: string[] = [];
  const rt = new InProcRuntime({
    parameterOverrides: options.parameters,
    remaps: options.remaps,
    recordPublications: false,
    onLog: (r) => {
      if (r.level === 'warn' || r.level === 'error') warnings.push(r.msg);
      options.onLog?.(r.level, r.msg);
    },
  });
  const byTopic: Record<string, number> = {};
  const queue: PublicationRecord[] = [];
  rt.onPublish((r) => {
    if (r.node === '') return;
    byTopic[r.topic] = (byTopic[r.topic] ?? 0) + 1;
    queue.push(r);
  });
  const flush = async () => {
    while (queue.length) {
      const r = queue.shift()!;
      await options.onPublish?.(r);
    }
  };
  let node: DeclipNode | undefined;
  let count = 0;
  try {
    for await (const m of messages) {
      if (!node) {
        rt.setTime(m.logTimeNs, true);
        node = await DeclipNode.create({
          runtime: rt,
          codec,
          pipeline: options.pipeline,
          namespace: options.namespace,
          monotonicMs: undefined,
        });
      } else if (m.logTimeNs >= rt.nowNs()) {
        rt.advanceTo(m.logTimeNs);
      } else {
        rt.setTime(m.logTimeNs, true);
      }
      rt.publish(m.topic, m.type, m.data);
      count++;
      if (!options.dropFrames) await node.idle();
      await flush();
    }
    if (node) await node.idle();
    await flush();
    const stats = node ? node.stats() : undefined;
    return {
      messages: count,
      publications: Object.values(byTopic).reduce((a, b) => a + b, 0),
      publicationsByTopic: byTopic,
      stats: stats ?? emptyStats(),
      warnings,
    };
  } finally {
    await node?.destroy();
  }
}

function emptyStats(): NodeStats {
  return {
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
}
