/**
 * Approximate-time synchroniser for N topics (rclnodejs has no message_filters).
 *
 * Policy (a documented simplification of message_filters' ApproximateTime):
 *  - Each topic keeps a queue of at most `queueSize` messages sorted by stamp (oldest dropped when full).
 *  - After every arrival, among all complete sets (one message per topic) whose spread (max stamp - min
 *    stamp) is <= `slopNs`, the one with the smallest spread is emitted (ties: the oldest). It is found
 *    exactly: for each queued message taken as the set's minimum, every other topic contributes its first
 *    message at or after that stamp.
 *  - After a set is emitted, every queue drops the messages at or before the one it contributed, so output
 *    stamps strictly increase per topic; this repeats while complete sets remain.
 *  - A message older than (or equal to) the last emitted stamp of its topic is dropped as `late`
 *    (out of order) or `duplicate` (same stamp); a message with the same stamp as one already queued
 *    replaces it (`duplicate`).
 *  - A message more than `backwardsResetNs` older than the last emitted stamp of its topic means the source
 *    restarted (a bag loop): all queues are cleared, `onReset` is called, and the message is queued.
 */

export interface SyncOptions {
  /** Largest allowed spread of stamps in an emitted set, ns (>= 0). */
  slopNs: bigint;
  /** Per-topic queue bound (>= 1). */
  queueSize: number;
  /** A backwards jump larger than this resets the synchroniser, ns (default 1 s). */
  backwardsResetNs?: bigint;
}

/** Counters of what the synchroniser did. */
export interface SyncStats {
  emitted: number;
  /** Dropped because the queue was full. */
  overflow: number;
  /** Older than the last emitted stamp of the topic. */
  late: number;
  /** Same stamp as a queued or emitted message of the topic. */
  duplicate: number;
  /** Dropped without ever being part of a set (older than an emitted set). */
  unmatched: number;
  resets: number;
}

/** One emitted set: messages in topic order, with their stamps. */
export interface SyncedSet<T> {
  stampsNs: bigint[];
  messages: T[];
}

interface Item<T> {
  stampNs: bigint;
  msg: T;
}

/** A bad synchroniser option. */
export class SyncOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncOptionError';
  }
}

/** Approximate-time synchroniser over `topicCount` inputs (see module doc for the policy). */
export class ApproximateTimeSync<T> {
  readonly stats: SyncStats = { emitted: 0, overflow: 0, late: 0, duplicate: 0, unmatched: 0, resets: 0 };
  /** Called with a reason when the synchroniser resets after stamps went backwards. */
  onReset?: (reason: string) => void;
  private queues: Item<T>[][];
  private lastEmitted: (bigint | undefined)[];
  private opts: Required<SyncOptions>;

  constructor(
    readonly topicCount: number,
    options: SyncOptions,
  ) {
    if (!Number.isInteger(topicCount) || topicCount < 1) {
      throw new SyncOptionError(`topicCount must be an integer >= 1, got ${topicCount}`);
    }
    this.opts = ApproximateTimeSync.check(options);
    this.queues = Array.from({ length: topicCount }, () => []);
    this.lastEmitted = new Array(topicCount).fill(undefined);
  }

  private static check(o: SyncOptions): Required<SyncOptions> {
    if (typeof o.slopNs !== 'bigint' || o.slopNs < 0n) {
      throw new SyncOptionError(`slopNs must be a bigint >= 0 ns, got ${String(o.slopNs)}`);
    }
    if (!Number.isInteger(o.queueSize) || o.queueSize < 1) {
      throw new SyncOptionError(`queueSize must be an integer >= 1, got ${o.queueSize}`);
    }
    const back = o.backwardsResetNs ?? 1_000_000_000n;
    if (back < 0n) throw new SyncOptionError(`backwardsResetNs must be >= 0, got ${back}`);
    return { slopNs: o.slopNs, queueSize: o.queueSize, backwardsResetNs: back };
  }

  /** Change slop / queue size / reset threshold at run time (queues are trimmed to the new size). */
  setOptions(options: Partial<SyncOptions>): void {
    this.opts = ApproximateTimeSync.check({ ...this.opts, ...options });
    for (const q of this.queues) {
      while (q.length > this.opts.queueSize) {
        q.shift();
        this.stats.overflow++;
      }
    }
  }

  /** Forget all queued messages and emitted stamps. */
  reset(): void {
    this.queues = Array.from({ length: this.topicCount }, () => []);
    this.lastEmitted = new Array(this.topicCount).fill(undefined);
  }

  /** Number of messages queued per topic. */
  queued(): number[] {
    return this.queues.map((q) => q.length);
  }

  /** Add a message of input `topic` with header stamp `stampNs`; returns the sets completed (oldest first). */
  add(topic: number, stampNs: bigint, msg: T): SyncedSet<T>[] {
    if (!Number.isInteger(topic) || topic < 0 || topic >= this.topicCount) {
      throw new SyncOptionError(`topic index ${topic} is out of range 0..${this.topicCount - 1}`);
    }
    const last = this.lastEmitted[topic];
    if (last !== undefined && stampNs <= last) {
      if (last - stampNs > this.opts.backwardsResetNs) {
        this.stats.resets++;
        this.reset();
        this.onReset?.(
          `stamp went back by ${Number(last - stampNs) / 1e9} s on input ${topic} (bag loop or restarted source)`,
        );
      } else {
        if (stampNs === last) this.stats.duplicate++;
        else this.stats.late++;
        return [];
      }
    }
    const q = this.queues[topic];
    let i = q.length;
    while (i > 0 && q[i - 1].stampNs > stampNs) i--;
    if (i > 0 && q[i - 1].stampNs === stampNs) {
      q[i - 1] = { stampNs, msg };
      this.stats.duplicate++;
    } else {
      q.splice(i, 0, { stampNs, msg });
      if (q.length > this.opts.queueSize) {
        q.shift();
        this.stats.overflow++;
      }
    }
    const out: SyncedSet<T>[] = [];
    for (;;) {
      const set = this.best();
      if (!set) break;
      out.push(this.emit(set));
    }
    return out;
  }

  /** Indices (one per topic) of the smallest-spread complete set within slop, or undefined. */
  private best(): number[] | undefined {
    if (this.queues.some((q) => q.length === 0)) return undefined;
    let bestIdx: number[] | undefined;
    let bestSpread = 0n;
    let bestMin = 0n;
    for (let t = 0; t < this.topicCount; t++) {
      for (let k = 0; k < this.queues[t].length; k++) {
        const minStamp = this.queues[t][k].stampNs;
        const idx: number[] = [];
        let maxStamp = minStamp;
        let ok = true;
        for (let u = 0; u < this.topicCount; u++) {
          if (u === t) {
            idx.push(k);
            continue;
          }
          const j = this.queues[u].findIndex((it) => it.stampNs >= minStamp);
          if (j < 0) {
            ok = false;
            break;
          }
          idx.push(j);
          if (this.queues[u][j].stampNs > maxStamp) maxStamp = this.queues[u][j].stampNs;
        }
        if (!ok) continue;
        const spread = maxStamp - minStamp;
        if (spread > this.opts.slopNs) continue;
        if (!bestIdx || spread < bestSpread || (spread === bestSpread && minStamp < bestMin)) {
          bestIdx = idx;
          bestSpread = spread;
          bestMin = minStamp;
        }
      }
    }
    return bestIdx;
  }

  private emit(idx: number[]): SyncedSet<T> {
    const stampsNs: bigint[] = [];
    const messages: T[] = [];
    for (let t = 0; t < this.topicCount; t++) {
      const q = this.queues[t];
      const it = q[idx[t]];
      stampsNs.push(it.stampNs);
      messages.push(it.msg);
      this.stats.unmatched += idx[t];
      q.splice(0, idx[t] + 1);
      this.lastEmitted[t] = it.stampNs;
    }
    this.stats.emitted++;
    return { stampsNs, messages };
  }
}
