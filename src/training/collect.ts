/**
 * `declip collect`: sample training frames from bags or live topics into a dataset directory (see dataset.ts).
 *
 * Sampling (FrameSampler, per source topic): keep a frame when at least `everySec` seconds (header stamps) passed
 * since the last kept frame, it is not a near-duplicate of the last kept frame (mean absolute difference of
 * 32x24 grey thumbnails below `dedupThreshold`, 0..255), and, with `maxMotion`, the camera is not moving fast
 * (difference to the previous message above `maxMotion`: motion blur). Collection is resumable: re-running on the
 * same bag continues after the last frame written, with the same decisions an uninterrupted run would make.
 */
import * as fs from 'fs';
import * as path from 'path';
import { openBag } from '../bag';
import { decodeCompressedImage, imageToRgb, imageToTypedArray, stampToNs, type ImageMsg } from '../bag/image';
import { writeGray16Png, writeRgbPng } from '../synth/png';
import type { RgbImage } from '../types';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  DatasetError,
  HEADER_FILE,
  MANIFEST_FILE,
  readHeader,
  readManifest,
  writeFileAtomic,
  type DatasetHeader,
  type FrameSource,
  type ManifestEntry,
} from './dataset';

export const THUMB_W = 32;
export const THUMB_H = 24;

/** Sampling options of `declip collect`. */
export interface SamplingOptions {
  /** Minimum spacing of kept frames, seconds (default 1). */
  everySec?: number;
  /** Near-duplicate threshold: mean |thumbnail difference| to the last kept frame (0..255, default 3; 0 = off). */
  dedupThreshold?: number;
  /** Skip frames whose thumbnail differs from the previous message's by more than this (0..255; default off). */
  maxMotion?: number;
}

/** Grey box-averaged thumbnail (THUMB_W x THUMB_H) of an rgb8 image. */
export function thumbnail(img: RgbImage): Uint8Array {
  const out = new Uint8Array(THUMB_W * THUMB_H);
  const { width: w, height: h, data } = img;
  for (let ty = 0; ty < THUMB_H; ty++) {
    const y0 = Math.floor((ty * h) / THUMB_H);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * h) / THUMB_H));
    for (let tx = 0; tx < THUMB_W; tx++) {
      const x0 = Math.floor((tx * w) / THUMB_W);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * w) / THUMB_W));
      let s = 0;
      let n = 0;
      for (let y = y0; y < Math.min(y1, h); y++) {
        let i = 3 * (y * w + x0);
        for (let x = x0; x < Math.min(x1, w); x++, i += 3) {
          s += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
          n++;
        }
      }
      out[ty * THUMB_W + tx] = n ? Math.round(s / n) : 0;
    }
  }
  return out;
}

/** Mean absolute difference of two thumbnails (0..255). */
export function thumbDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

export type SampleDecision = 'keep' | 'too-soon' | 'duplicate' | 'motion';

/** Stateful keep/skip decisions for one source topic (pure apart from its state). */
export class FrameSampler {
  lastKeptNs: bigint | undefined;
  lastKeptThumb: Uint8Array | undefined;
  prevThumb: Uint8Array | undefined;
  readonly everyNs: bigint;
  constructor(readonly opts: SamplingOptions = {}) {
    const every = opts.everySec ?? 1;
    if (!(every >= 0) || !Number.isFinite(every)) {
      throw new DatasetError(`every: ${every} is not a number of seconds >= 0 (e.g. --every 1.0)`);
    }
    this.everyNs = BigInt(Math.round(every * 1e9));
  }

  /** Restore the state after a frame kept earlier (resume). */
  restore(stampNs: bigint, thumb: Uint8Array | undefined): void {
    this.lastKeptNs = stampNs;
    this.lastKeptThumb = thumb;
    this.prevThumb = thumb;
  }

  /** Decide about a frame; `thumb()` is only computed when needed. */
  decide(stampNs: bigint, thumb: () => Uint8Array): { decision: SampleDecision; thumb?: Uint8Array } {
    if (this.lastKeptNs !== undefined && stampNs - this.lastKeptNs < this.everyNs) {
      // too soon: the thumbnail is still needed for the motion check of the next frame
      if (this.opts.maxMotion !== undefined) this.prevThumb = thumb();
      return { decision: 'too-soon' };
    }
    const t = thumb();
    const prev = this.prevThumb;
    this.prevThumb = t;
    if (this.opts.maxMotion !== undefined && prev && thumbDiff(t, prev) > this.opts.maxMotion) {
      return { decision: 'motion', thumb: t };
    }
    const dd = this.opts.dedupThreshold ?? 3;
    if (dd > 0 && this.lastKeptThumb && thumbDiff(t, this.lastKeptThumb) < dd) {
      return { decision: 'duplicate', thumb: t };
    }
    this.lastKeptNs = stampNs;
    this.lastKeptThumb = t;
    return { decision: 'keep', thumb: t };
  }
}

/** A frame offered to the collector. */
export interface CollectFrame {
  rgb: RgbImage;
  stampNs: bigint;
  source: Omit<FrameSource, 'stampNs'>;
  /** Instance ids (0 = background), same size as rgb. */
  mask?: { data: Uint16Array; width: number; height: number };
}

export interface CollectStats {
  seen: number;
  kept: number;
  tooSoon: number;
  duplicates: number;
  motion: number;
  /** Messages skipped because a previous run already covered them (resume). */
  resumedPast: number;
  withMasks: number;
  errors: number;
}

function sourceKey(s: Omit<FrameSource, 'stampNs'>): string {
  return `${s.bag ?? 'live'}\u0000${s.topic}`;
}

/**
 * Appends sampled frames to a dataset directory; one instance per `declip collect` run. Frames are written
 * PNG-first (temp + rename), then their manifest line (fsync'd), so a crash never leaves a line without its image.
 */
export class DatasetWriter {
  readonly entries: ManifestEntry[];
  readonly stats: CollectStats = {
    seen: 0,
    kept: 0,
    tooSoon: 0,
    duplicates: 0,
    motion: 0,
    resumedPast: 0,
    withMasks: 0,
    errors: 0,
  };
  private readonly samplers = new Map<string, FrameSampler>();
  private readonly resumeAfter = new Map<string, bigint>();
  private header: DatasetHeader;
  private constructor(
    readonly dir: string,
    readonly opts: SamplingOptions & { maxFrames?: number },
    entries: ManifestEntry[],
    header: DatasetHeader | undefined,
  ) {
    this.entries = entries;
    const now = new Date().toISOString();
    this.header = header ?? {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      created: now,
      updated: now,
      frames: 0,
      withMasks: 0,
      options: {},
      sources: [],
    };
    for (const e of entries) {
      const key = sourceKey(e.source);
      const ns = BigInt(e.source.stampNs);
      const prev = this.resumeAfter.get(key);
      if (prev === undefined || ns > prev) {
        this.resumeAfter.set(key, ns);
        this.sampler(e.source).restore(
          ns,
          e.thumb ? new Uint8Array(Buffer.from(e.thumb, 'base64')) : undefined,
        );
      }
    }
  }

  /** Open (or resume) a dataset directory. */
  static open(dir: string, opts: SamplingOptions & { maxFrames?: number } = {}): DatasetWriter {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
      throw new DatasetError('exists and is not a directory; pick another --out', dir);
    }
    fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
    const header = readHeader(dir);
    const entries = readManifest(dir, true);
    // drop lines whose image vanished (e.g. a copy interrupted by the user); later frames stay valid
    const ok = entries.filter((e) => fs.existsSync(path.join(dir, e.image)));
    if (ok.length !== entries.length) {
      writeFileAtomic(path.join(dir, MANIFEST_FILE), ok.map((e) => JSON.stringify(e) + '\n').join(''));
    }
    return new DatasetWriter(dir, opts, ok, header);
  }

  private sampler(src: Omit<FrameSource, 'stampNs'>): FrameSampler {
    const key = sourceKey(src);
    let s = this.samplers.get(key);
    if (!s) {
      s = new FrameSampler(this.opts);
      this.samplers.set(key, s);
    }
    return s;
  }

  get full(): boolean {
    return this.opts.maxFrames !== undefined && this.entries.length >= this.opts.maxFrames;
  }

  /** Stamp up to which a source is already covered by a previous run (messages at or before it are skipped). */
  coveredUntil(src: Omit<FrameSource, 'stampNs'>): bigint | undefined {
    return this.resumeAfter.get(sourceKey(src));
  }

  /** Offer a frame: returns the decision (and writes the frame when kept). */
  async offer(f: CollectFrame): Promise<SampleDecision | 'covered' | 'full'> {
    if (this.full) return 'full';
    this.stats.seen++;
    const covered = this.coveredUntil(f.source);
    if (covered !== undefined && f.stampNs <= covered) {
      this.stats.resumedPast++;
      return 'covered';
    }
    const { decision, thumb } = this.sampler(f.source).decide(f.stampNs, () => thumbnail(f.rgb));
    if (decision === 'too-soon') this.stats.tooSoon++;
    else if (decision === 'duplicate') this.stats.duplicates++;
    else if (decision === 'motion') this.stats.motion++;
    if (decision !== 'keep') return decision;
    await this.write(f, thumb);
    return 'keep';
  }

  private async write(f: CollectFrame, thumb: Uint8Array | undefined): Promise<void> {
    const id = String(this.entries.length).padStart(6, '0');
    const image = `images/${id}.png`;
    const tmpImg = path.join(this.dir, `${image}.tmp`);
    await writeRgbPng(tmpImg, f.rgb);
    fs.renameSync(tmpImg, path.join(this.dir, image));
    const entry: ManifestEntry = {
      id,
      image,
      width: f.rgb.width,
      height: f.rgb.height,
      source: { ...f.source, stampNs: f.stampNs.toString() },
    };
    if (f.mask) {
      if (f.mask.width !== f.rgb.width || f.mask.height !== f.rgb.height) {
        throw new DatasetError(
          `mask of frame ${f.stampNs} is ${f.mask.width}x${f.mask.height}, the image ${f.rgb.width}x${f.rgb.height}; ` +
            'record the instance mask at the colour resolution',
        );
      }
      const mask = `masks/${id}.png`;
      const tmpMask = path.join(this.dir, `${mask}.tmp`);
      await writeGray16Png(tmpMask, f.mask.data, f.mask.width, f.mask.height);
      fs.renameSync(tmpMask, path.join(this.dir, mask));
      entry.mask = mask;
      this.stats.withMasks++;
    }
    if (thumb) entry.thumb = Buffer.from(thumb).toString('base64');
    const fd = fs.openSync(path.join(this.dir, MANIFEST_FILE), 'a');
    try {
      fs.writeSync(fd, JSON.stringify(entry) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.entries.push(entry);
    this.stats.kept++;
  }

  /** Write dataset.json (frame counts per source, options). */
  finish(options: Record<string, unknown> = {}): DatasetHeader {
    const counts = new Map<string, { bag?: string; topic: string; frames: number }>();
    for (const e of this.entries) {
      const k = sourceKey(e.source);
      const c = counts.get(k) ?? {
        ...(e.source.bag ? { bag: e.source.bag } : {}),
        topic: e.source.topic,
        frames: 0,
      };
      c.frames++;
      counts.set(k, c);
    }
    this.header = {
      ...this.header,
      updated: new Date().toISOString(),
      frames: this.entries.length,
      withMasks: this.entries.filter((e) => e.mask).length,
      options: { ...this.header.options, ...options },
      sources: [...counts.values()],
    };
    writeFileAtomic(path.join(this.dir, HEADER_FILE), JSON.stringify(this.header, null, 2) + '\n');
    return this.header;
  }
}

const IMAGE_TYPES = ['sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'];
export const DEFAULT_IMAGE_TOPIC = '/camera/color/image_raw';
export const DEFAULT_MASK_TOPIC = '/ground_truth/instance_mask';

/** Decoded colour message -> rgb8 (Image or CompressedImage). */
export async function decodeColour(type: string, msg: any): Promise<RgbImage> {
  if (type === 'sensor_msgs/msg/CompressedImage') return decodeCompressedImage(msg);
  return imageToRgb(msg as ImageMsg);
}

/** Instance-id mask message (mono16 / 16UC1 / mono8 Image) -> Uint16Array. */
export function decodeMask(msg: ImageMsg): { data: Uint16Array; width: number; height: number } {
  const a = imageToTypedArray(msg);
  if (a.channels !== 1 || a.data instanceof Float32Array) {
    throw new DatasetError(
      `mask encoding '${msg.encoding}' is not an instance-id image (mono16, 16UC1 or mono8)`,
    );
  }
  return {
    data: a.data instanceof Uint16Array ? a.data : Uint16Array.from(a.data),
    width: a.width,
    height: a.height,
  };
}

export interface CollectBagOptions extends SamplingOptions {
  out: string;
  /** Colour topic (default /camera/color/image_raw, or the only non-depth image topic). */
  topic?: string;
  /** Instance-mask topic; default /ground_truth/instance_mask when the bag has it; false = none. */
  maskTopic?: string | false;
  maxFrames?: number;
  /** Progress callback (messages read so far, total colour messages). */
  onProgress?: (read: number, total: number) => void;
  /** Stop early (e.g. SIGINT); what was written stays valid. */
  signal?: AbortSignal;
}

/** Pick the colour topic of a bag (see CollectBagOptions.topic). */
export function pickImageTopic(topics: { topic: string; type: string }[], wanted?: string): string {
  const images = topics.filter((t) => IMAGE_TYPES.includes(t.type));
  if (wanted) {
    const t = topics.find((x) => x.topic === wanted);
    if (!t) {
      throw new DatasetError(
        `topic ${wanted} is not in the bag; image topics: ${images.map((x) => x.topic).join(', ') || 'none'}`,
      );
    }
    if (!IMAGE_TYPES.includes(t.type)) {
      throw new DatasetError(
        `topic ${wanted} has type ${t.type}, not sensor_msgs/msg/Image or CompressedImage`,
      );
    }
    return wanted;
  }
  if (images.some((t) => t.topic === DEFAULT_IMAGE_TOPIC)) return DEFAULT_IMAGE_TOPIC;
  const colour = images.filter((t) => !/depth|mask|ground_truth/i.test(t.topic));
  if (colour.length === 1) return colour[0].topic;
  throw new DatasetError(
    colour.length === 0
      ? 'the bag has no colour image topic (sensor_msgs/msg/Image or CompressedImage)'
      : `several colour topics (${colour.map((t) => t.topic).join(', ')}); pick one with --topic`,
  );
}

function headerStamp(msg: any, fallback: bigint): bigint {
  const st = msg?.header?.stamp;
  if (st && typeof st.sec === 'number') {
    const ns = stampToNs(st);
    if (ns > 0n) return ns;
  }
  return fallback;
}

/** Collect frames from one bag into `opts.out` (resumable). Returns the writer's statistics and header. */
export async function collectFromBag(
  bagPath: string,
  opts: CollectBagOptions,
): Promise<{ stats: CollectStats; header: DatasetHeader; topic: string; maskTopic?: string }> {
  const reader = await openBag(bagPath);
  try {
    const info = reader.info();
    const topic = pickImageTopic(info.topics, opts.topic);
    const colourType = info.topics.find((t) => t.topic === topic)!.type;
    let maskTopic: string | undefined;
    if (typeof opts.maskTopic === 'string') {
      if (!info.topics.some((t) => t.topic === opts.maskTopic)) {
        throw new DatasetError(`mask topic ${opts.maskTopic} is not in the bag`);
      }
      maskTopic = opts.maskTopic;
    } else if (opts.maskTopic !== false && info.topics.some((t) => t.topic === DEFAULT_MASK_TOPIC)) {
      maskTopic = DEFAULT_MASK_TOPIC;
    }
    const total = info.topics.find((t) => t.topic === topic)?.messageCount ?? 0;
    const writer = DatasetWriter.open(opts.out, opts);
    const bagAbs = path.resolve(bagPath);
    const src = { bag: bagAbs, topic };
    // masks by header stamp; colour frames kept while their mask has not been read yet
    const masks = new Map<bigint, { data: Uint16Array; width: number; height: number }>();
    const pending: { rgb: RgbImage; stampNs: bigint }[] = [];
    const covered = writer.coveredUntil(src);
    let read = 0;
    const flush = async (all: boolean) => {
      while (pending.length && (all || masks.has(pending[0].stampNs) || pending.length > 30)) {
        const p = pending.shift()!;
        const mask = masks.get(p.stampNs);
        masks.delete(p.stampNs);
        await writer.offer({ rgb: p.rgb, stampNs: p.stampNs, source: src, mask });
      }
    };
    const topics = maskTopic ? [topic, maskTopic] : [topic];
    for await (const m of reader.messages({ topics })) {
      if (opts.signal?.aborted || writer.full) break;
      if (m.topic === maskTopic) {
        let decoded: any;
        try {
          decoded = m.decode();
        } catch {
          writer.stats.errors++;
          continue;
        }
        const ns = headerStamp(decoded, m.logTimeNs);
        if (covered !== undefined && ns <= covered) continue;
        masks.set(ns, decodeMask(decoded as ImageMsg));
        if (masks.size > 64) masks.delete(masks.keys().next().value as bigint);
        await flush(false);
        continue;
      }
      read++;
      opts.onProgress?.(read, total);
      let decoded: any;
      let rgb: RgbImage;
      try {
        decoded = m.decode();
        rgb = await decodeColour(colourType, decoded);
      } catch {
        writer.stats.errors++;
        continue;
      }
      const ns = headerStamp(decoded, m.logTimeNs);
      if (maskTopic) {
        pending.push({ rgb, stampNs: ns });
        await flush(false);
      } else {
        await writer.offer({ rgb, stampNs: ns, source: src });
      }
    }
    if (!opts.signal?.aborted) await flush(true);
    const header = writer.finish({
      everySec: opts.everySec ?? 1,
      dedupThreshold: opts.dedupThreshold ?? 3,
      maxMotion: opts.maxMotion ?? null,
    });
    return { stats: writer.stats, header, topic, maskTopic };
  } finally {
    await reader.close();
  }
}

export interface CollectLiveOptions extends SamplingOptions {
  out: string;
  /** Colour topic (sensor_msgs/msg/Image unless `compressed`). */
  topic: string;
  compressed?: boolean;
  /** Optional instance-mask topic (mono16 Image with the same header stamps). */
  maskTopic?: string;
  maxFrames?: number;
  /** Stop after this many seconds (default: until `signal` aborts or maxFrames). */
  durationSec?: number;
  signal?: AbortSignal;
  onFrame?: (decision: string, stats: CollectStats) => void;
}

/**
 * Collect from live topics through a ROS runtime (rclnodejs, or the in-process runtime in tests). Frames that
 * arrive while the previous one is still being written are dropped (latest wins), so a slow disk never backs up
 * the subscription.
 */
export async function collectLive(
  runtime: import('../node/runtime').RosRuntime,
  opts: CollectLiveOptions,
): Promise<{ stats: CollectStats; header: DatasetHeader }> {
  const { decodeMessage } = await import('../bag/codecs');
  const { QOS_SENSOR_DATA } = await import('../node/runtime');
  const writer = DatasetWriter.open(opts.out, opts);
  const node = runtime.createNode('declip_collect');
  const type = opts.compressed ? 'sensor_msgs/msg/CompressedImage' : 'sensor_msgs/msg/Image';
  const src = { topic: opts.topic, live: true };
  const masks = new Map<bigint, { data: Uint16Array; width: number; height: number }>();
  let busy: Promise<unknown> = Promise.resolve();
  let inFlight = false;
  let dropped = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  node.createSubscription(type, opts.topic, { qos: QOS_SENSOR_DATA }, (data) => {
    if (inFlight || writer.full) {
      dropped++;
      return;
    }
    inFlight = true;
    busy = (async () => {
      try {
        const msg = decodeMessage(type, data);
        const rgb = await decodeColour(type, msg);
        const ns = headerStamp(msg, node.nowNs());
        const d = await writer.offer({ rgb, stampNs: ns, source: src, mask: masks.get(ns) });
        opts.onFrame?.(d, writer.stats);
      } catch {
        writer.stats.errors++;
      } finally {
        inFlight = false;
        if (writer.full) done();
      }
    })();
  });
  if (opts.maskTopic) {
    node.createSubscription('sensor_msgs/msg/Image', opts.maskTopic, { qos: QOS_SENSOR_DATA }, (data) => {
      try {
        const msg = decodeMessage('sensor_msgs/msg/Image', data) as ImageMsg;
        masks.set(headerStamp(msg, 0n), decodeMask(msg));
        if (masks.size > 16) masks.delete(masks.keys().next().value as bigint);
      } catch {
        writer.stats.errors++;
      }
    });
  }
  runtime.spin(node);
  const timer = opts.durationSec ? setTimeout(done, opts.durationSec * 1000) : undefined;
  opts.signal?.addEventListener('abort', () => done(), { once: true });
  if (opts.signal?.aborted) done();
  await finished;
  if (timer) clearTimeout(timer);
  await busy;
  node.destroy();
  const header = writer.finish({ live: true, topic: opts.topic, dropped });
  return { stats: writer.stats, header };
}
