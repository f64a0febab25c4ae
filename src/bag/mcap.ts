/**
 * rosbag2 MCAP storage: a deterministic writer (ros2 profile, ros2msg schemas, cdr channels, zstd chunks,
 * statistics, summary, chunk and message indexes) and a streaming reader (indexed reads through a file
 * handle, topic / time filters, optional skipping of corrupt chunks).
 */
import * as fs from 'fs';
import * as zstd from '@foxglove/wasm-zstd';
import {
  McapIndexedReader,
  McapRecordBuilder,
  McapStreamReader,
  McapWriter,
  hasMcapPrefix,
  type IReadable,
  type IWritable,
  type McapTypes,
} from '@mcap/core';
import { codecFromSchema, getCodec, normalizeTypeName, type MessageCodec } from './codecs';
import { BagError, DecodeError, UnknownSchemaError, errorMessage } from './errors';
import { buildBagInfo, type TopicCount } from './info';
import { defaultQosFor } from './qos';
import type {
  BagInfo,
  BagMessage,
  BagReader,
  BagWriter,
  OpenOptions,
  ReadOptions,
  TopicOptions,
} from './types';

type Schema = McapTypes.TypedMcapRecords['Schema'];
type Channel = McapTypes.TypedMcapRecords['Channel'];
type Message = McapTypes.TypedMcapRecords['Message'];
type ChunkIndex = McapTypes.TypedMcapRecords['ChunkIndex'];

/** Library string written into the MCAP header (fixed, so files are reproducible). */
export const MCAP_LIBRARY = 'declip-ros rosbag2 writer';
/** Default chunk size (bytes of uncompressed records before a chunk is closed), as rosbag2's default. */
export const DEFAULT_CHUNK_SIZE = 786432;

/** Resolve once the zstd WebAssembly module is ready. */
export async function ensureZstd(): Promise<void> {
  await zstd.isLoaded;
}

/** Decompression handlers for @mcap/core readers (zstd only). */
export function mcapDecompressHandlers(): McapTypes.DecompressHandlers {
  return {
    zstd: (buffer: Uint8Array, size: bigint) => new Uint8Array(zstd.decompress(buffer, Number(size))),
  };
}

class FileWritable implements IWritable {
  #pos = 0n;
  constructor(private readonly fd: number) {}
  async write(buffer: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buffer.byteLength) off += fs.writeSync(this.fd, buffer, off, buffer.byteLength - off);
    this.#pos += BigInt(buffer.byteLength);
  }
  position(): bigint {
    return this.#pos;
  }
}

/** IReadable over a file handle: reads only the ranges asked for. */
export class FileReadable implements IReadable {
  constructor(
    private readonly fh: fs.promises.FileHandle,
    private readonly sizeBytes: bigint,
    private readonly filePath: string,
  ) {}
  async size(): Promise<bigint> {
    return this.sizeBytes;
  }
  async read(offset: bigint, size: bigint): Promise<Uint8Array> {
    if (offset + size > this.sizeBytes) {
      throw new BagError(
        `read of ${size} bytes past the end of the file (size ${this.sizeBytes}); file is truncated`,
        {
          path: this.filePath,
          offset,
        },
      );
    }
    const n = Number(size);
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, Number(offset) + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < n) throw new BagError(`short read (${got} of ${n} bytes)`, { path: this.filePath, offset });
    return buf;
  }
}

/** Options of the MCAP writer. */
export interface McapWriteOptions {
  /** Uncompressed chunk size in bytes (default 786432). */
  chunkSizeBytes?: number;
  /** 'zstd' (default) or 'none'. */
  compression?: 'zstd' | 'none';
  /** zstd level (default 3). */
  zstdLevel?: number;
}

interface WriterTopic {
  channelId: number;
  type: string;
  codec: MessageCodec;
  sequence: number;
  count: number;
  qos: string;
}

/** Writes one `.mcap` file the way `ros2 bag record -s mcap` does; byte-identical for identical input. */
export class McapBagWriter implements BagWriter {
  readonly #writer: McapWriter;
  readonly #schemaIds = new Map<string, number>();
  readonly #topics = new Map<string, WriterTopic>();
  #fd: number | undefined;
  #closed = false;
  #startNs: bigint | undefined;
  #endNs: bigint | undefined;

  private constructor(
    readonly filePath: string,
    fd: number,
    options: McapWriteOptions,
  ) {
    this.#fd = fd;
    const level = options.zstdLevel ?? 3;
    this.#writer = new McapWriter({
      writable: new FileWritable(fd),
      useStatistics: true,
      useSummaryOffsets: true,
      useChunks: true,
      useChunkIndex: true,
      useMessageIndex: true,
      repeatSchemas: true,
      repeatChannels: true,
      useAttachmentIndex: true,
      useMetadataIndex: true,
      chunkSize: options.chunkSizeBytes ?? DEFAULT_CHUNK_SIZE,
      compressChunk:
        options.compression === 'none'
          ? undefined
          : (data: Uint8Array) => ({ compression: 'zstd', compressedData: zstd.compress(data, level) }),
    });
  }

  /** Create (truncate) `filePath` and write the MCAP header. */
  static async create(filePath: string, options: McapWriteOptions = {}): Promise<McapBagWriter> {
    await ensureZstd();
    const fd = fs.openSync(filePath, 'w');
    const w = new McapBagWriter(filePath, fd, options);
    await w.#writer.start({ profile: 'ros2', library: MCAP_LIBRARY });
    return w;
  }

  async addTopic(topic: string, type: string, options: TopicOptions = {}): Promise<void> {
    const t = normalizeTypeName(type);
    const existing = this.#topics.get(topic);
    if (existing) {
      if (existing.type !== t) {
        throw new BagError(`topic already added with type ${existing.type}, cannot re-add as ${t}`, {
          topic,
        });
      }
      return;
    }
    const codec = getCodec(t);
    let schemaId = this.#schemaIds.get(t);
    if (schemaId === undefined) {
      schemaId = await this.#writer.registerSchema({
        name: t,
        encoding: 'ros2msg',
        data: new TextEncoder().encode(codec.schemaText),
      });
      this.#schemaIds.set(t, schemaId);
    }
    const qos = options.offeredQosProfiles ?? defaultQosFor(topic);
    const channelId = await this.#writer.registerChannel({
      topic,
      schemaId,
      messageEncoding: 'cdr',
      metadata: new Map([['offered_qos_profiles', qos]]),
    });
    this.#topics.set(topic, { channelId, type: t, codec, sequence: 0, count: 0, qos });
  }

  async write(topic: string, logTimeNs: bigint, message: unknown, publishTimeNs?: bigint): Promise<void> {
    if (this.#closed) throw new BagError('write after close()', { path: this.filePath, topic });
    const t = this.#topics.get(topic);
    if (!t) throw new BagError('topic was not added; call addTopic(topic, type) first', { topic });
    const data = message instanceof Uint8Array ? message : t.codec.encode(message);
    await this.#writer.addMessage({
      channelId: t.channelId,
      sequence: t.sequence++,
      logTime: logTimeNs,
      publishTime: publishTimeNs ?? logTimeNs,
      data,
    });
    t.count++;
    if (this.#startNs === undefined || logTimeNs < this.#startNs) this.#startNs = logTimeNs;
    if (this.#endNs === undefined || logTimeNs > this.#endNs) this.#endNs = logTimeNs;
  }

  /** Per-topic counts and times written so far (for metadata.yaml). */
  summary(): { topics: TopicCount[]; startNs: bigint; endNs: bigint } {
    return {
      topics: [...this.#topics.entries()].map(([topic, t]) => ({
        topic,
        type: t.type,
        serializationFormat: 'cdr',
        offeredQosProfiles: t.qos,
        messageCount: t.count,
      })),
      startNs: this.#startNs ?? 0n,
      endNs: this.#endNs ?? 0n,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.end();
    } finally {
      if (this.#fd !== undefined) fs.closeSync(this.#fd);
      this.#fd = undefined;
    }
  }
}

const READ_PIECE_BYTES = 1 << 20;

/** Reads one `.mcap` file. Use McapBagReader.open. */
export class McapBagReader implements BagReader {
  skipped = 0;
  readonly skippedErrors: BagError[] = [];
  readonly #codecs = new Map<number, MessageCodec | BagError>();
  #info!: BagInfo;
  #indexed: McapIndexedReader | undefined;
  #primer: Uint8Array = new Uint8Array(0);
  #profile = '';
  readonly #channels = new Map<number, Channel>();
  readonly #schemas = new Map<number, Schema>();

  private constructor(
    readonly filePath: string,
    private readonly fh: fs.promises.FileHandle,
    private readonly sizeBytes: bigint,
  ) {}

  /**
   * Open an MCAP file. Throws BagError on bad magic, or on a missing/corrupt footer or summary unless
   * `skipBad` is set (then the file is scanned and the damaged tail counted in `skipped`).
   */
  static async open(filePath: string, options: OpenOptions = {}): Promise<McapBagReader> {
    await ensureZstd();
    const fh = await fs.promises.open(filePath, 'r');
    try {
      const size = BigInt((await fh.stat()).size);
      const r = new McapBagReader(filePath, fh, size);
      await r.#init(options);
      return r;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async #init(options: OpenOptions): Promise<void> {
    const readable = new FileReadable(this.fh, this.sizeBytes, this.filePath);
    const head = await readable.read(0n, this.sizeBytes < 8n ? this.sizeBytes : 8n);
    if (!hasMcapPrefix(new DataView(head.buffer, head.byteOffset, head.byteLength))) {
      throw new BagError(
        'not an MCAP file: bad magic (expected 89 4D 43 41 50 30 0D 0A); check the path or the storage id',
        { path: this.filePath, offset: 0, field: 'magic' },
      );
    }
    try {
      this.#indexed = await McapIndexedReader.Initialize({
        readable,
        decompressHandlers: mcapDecompressHandlers(),
      });
    } catch (e) {
      if (!options.skipBad) {
        throw new BagError(
          `MCAP file is truncated or its footer/summary is corrupt (${errorMessage(e)}); ` +
            'open it with skipBad (--skip-bad) to read the records before the damage, or repair it with `mcap recover`',
          { path: this.filePath, offset: this.sizeBytes, field: 'footer', cause: e },
        );
      }
      // Scanned below; the damaged tail is counted when messages({ skipBad: true }) reaches it.
    }
    const ix = this.#indexed;
    if (ix && ix.chunkIndexes.length === 0 && (ix.statistics?.messageCount ?? 0n) > 0n) {
      this.#indexed = undefined; // unchunked file: read by scanning
    }
    if (this.#indexed) {
      for (const [id, s] of this.#indexed.schemasById) this.#schemas.set(id, s);
      for (const [id, c] of this.#indexed.channelsById) this.#channels.set(id, c);
      const b = new McapRecordBuilder();
      for (const s of this.#schemas.values()) b.writeSchema(s);
      for (const c of this.#channels.values()) b.writeChannel(c);
      this.#primer = b.buffer.slice();
      const stats = this.#indexed.statistics;
      if (stats) {
        this.#info = this.#makeInfo(
          this.#indexed.header.profile,
          new Map([...stats.channelMessageCounts].map(([k, v]) => [k, Number(v)])),
          stats.messageStartTime,
          stats.messageEndTime,
        );
        return;
      }
    }
    // No statistics: count by reading everything once (skips found here are not counted twice).
    const counts = new Map<number, number>();
    let start: bigint | undefined;
    let end: bigint | undefined;
    for await (const m of this.#rawMessages({ skipBad: options.skipBad })) {
      counts.set(m.channelId, (counts.get(m.channelId) ?? 0) + 1);
      if (start === undefined || m.logTime < start) start = m.logTime;
      if (end === undefined || m.logTime > end) end = m.logTime;
    }
    this.skipped = 0;
    this.skippedErrors.length = 0;
    this.#info = this.#makeInfo(
      this.#indexed?.header.profile ?? this.#profile,
      counts,
      start ?? 0n,
      end ?? 0n,
    );
  }

  #makeInfo(profile: string, counts: Map<number, number>, startNs: bigint, endNs: bigint): BagInfo {
    const topics: TopicCount[] = [...this.#channels.values()].map((c) => ({
      topic: c.topic,
      type: this.#schemas.get(c.schemaId)?.name ?? '',
      serializationFormat: c.messageEncoding,
      offeredQosProfiles: c.metadata.get('offered_qos_profiles') ?? '',
      messageCount: counts.get(c.id) ?? 0,
    }));
    return buildBagInfo({
      path: this.filePath,
      storage: 'mcap',
      files: [this.filePath],
      profile,
      topics,
      startNs,
      endNs,
    });
  }

  #note(err: BagError): void {
    this.skipped++;
    this.skippedErrors.push(err);
  }

  info(): BagInfo {
    return this.#info;
  }

  #codecFor(channelId: number): MessageCodec {
    let c = this.#codecs.get(channelId);
    if (!c) {
      c = this.#buildCodec(channelId);
      this.#codecs.set(channelId, c);
    }
    if (c instanceof BagError) throw c;
    return c;
  }

  #buildCodec(channelId: number): MessageCodec | BagError {
    const ch = this.#channels.get(channelId);
    const topic = ch?.topic;
    if (!ch)
      return new UnknownSchemaError(`no channel record for channel id ${channelId}`, { path: this.filePath });
    if (ch.messageEncoding !== 'cdr') {
      return new UnknownSchemaError(
        `message encoding '${ch.messageEncoding}' is not supported (only cdr); convert the bag with ros2 bag convert`,
        { path: this.filePath, topic, field: 'messageEncoding' },
      );
    }
    const schema = this.#schemas.get(ch.schemaId);
    if (!schema) {
      return new UnknownSchemaError('channel has no schema, so its type is unknown; re-record with schemas', {
        path: this.filePath,
        topic,
        field: 'schemaId',
      });
    }
    try {
      if (schema.encoding === 'ros2msg' && schema.data.byteLength > 0) {
        return codecFromSchema(schema.name, new TextDecoder().decode(schema.data));
      }
      return getCodec(schema.name);
    } catch (e) {
      return new UnknownSchemaError(
        `cannot build a decoder for type '${schema.name}' (schema encoding '${schema.encoding}'): ${errorMessage(e)}`,
        { path: this.filePath, topic, field: 'schema', cause: e },
      );
    }
  }

  #toBagMessage(m: Message, index: number): BagMessage {
    const ch = this.#channels.get(m.channelId);
    const topic = ch?.topic ?? `<channel ${m.channelId}>`;
    const type = ch ? (this.#schemas.get(ch.schemaId)?.name ?? '') : '';
    return {
      topic,
      type,
      logTimeNs: m.logTime,
      publishTimeNs: m.publishTime,
      data: m.data,
      decode: () => {
        const codec = this.#codecFor(m.channelId);
        try {
          return codec.decode(m.data);
        } catch (e) {
          if (e instanceof DecodeError) {
            throw new DecodeError(e.message, { path: this.filePath, topic, index, field: e.field, cause: e });
          }
          throw e;
        }
      },
    };
  }

  async *messages(options: ReadOptions = {}): AsyncGenerator<BagMessage> {
    let i = 0;
    for await (const m of this.#rawMessages(options)) yield this.#toBagMessage(m, i++);
  }

  async *#rawMessages(options: ReadOptions): AsyncGenerator<Message> {
    const start = options.startNs;
    const end = options.endNs;
    let wanted: Set<number> | undefined;
    if (options.topics) {
      const names = new Set(options.topics);
      wanted = new Set([...this.#channels.values()].filter((c) => names.has(c.topic)).map((c) => c.id));
    }
    const keep = (m: Message): boolean =>
      (start === undefined || m.logTime >= start) &&
      (end === undefined || m.logTime <= end) &&
      (wanted === undefined || wanted.has(m.channelId));
    if (!this.#indexed) {
      const names = options.topics ? new Set(options.topics) : undefined;
      for await (const m of this.#scan(options.skipBad ?? false)) {
        if (names && !names.has(this.#channels.get(m.channelId)?.topic ?? '')) continue;
        if ((start === undefined || m.logTime >= start) && (end === undefined || m.logTime <= end)) yield m;
      }
      return;
    }
    const chunks = this.#indexed.chunkIndexes
      .filter(
        (c) =>
          (start === undefined || c.messageEndTime >= start) &&
          (end === undefined || c.messageStartTime <= end) &&
          (!wanted || [...c.messageIndexOffsets.keys()].some((id) => wanted.has(id))),
      )
      .slice()
      .sort((a, b) =>
        a.messageStartTime !== b.messageStartTime
          ? a.messageStartTime < b.messageStartTime
            ? -1
            : 1
          : Number(a.chunkStartOffset - b.chunkStartOffset),
      );
    // Group chunks that overlap in time; each group is merged in memory, groups are streamed.
    let k = 0;
    while (k < chunks.length) {
      const group: ChunkIndex[] = [chunks[k]];
      let groupEnd = chunks[k].messageEndTime;
      k++;
      while (k < chunks.length && chunks[k].messageStartTime < groupEnd) {
        group.push(chunks[k]);
        if (chunks[k].messageEndTime > groupEnd) groupEnd = chunks[k].messageEndTime;
        k++;
      }
      const msgs: Message[] = [];
      for (const c of group) {
        try {
          for (const m of await this.#readChunk(c)) if (keep(m)) msgs.push(m);
        } catch (e) {
          const err =
            e instanceof BagError
              ? e
              : new BagError(`corrupt chunk: ${errorMessage(e)}`, {
                  path: this.filePath,
                  offset: c.chunkStartOffset,
                });
          if (!options.skipBad) throw err;
          this.#note(err);
        }
      }
      msgs.sort((a, b) => (a.logTime < b.logTime ? -1 : a.logTime > b.logTime ? 1 : 0));
      yield* msgs;
    }
  }

  async #readChunk(c: ChunkIndex): Promise<Message[]> {
    const readable = new FileReadable(this.fh, this.sizeBytes, this.filePath);
    const bytes = await readable.read(c.chunkStartOffset, c.chunkLength);
    const reader = new McapStreamReader({
      noMagicPrefix: true,
      validateCrcs: true,
      decompressHandlers: mcapDecompressHandlers(),
    });
    reader.append(this.#primer);
    reader.append(bytes);
    const out: Message[] = [];
    try {
      for (let rec; (rec = reader.nextRecord());) if (rec.type === 'Message') out.push(rec);
    } catch (e) {
      throw new BagError(
        `corrupt chunk (${errorMessage(e)}); its messages cannot be read — use skipBad (--skip-bad) to continue past it`,
        { path: this.filePath, offset: c.chunkStartOffset, field: 'chunk', cause: e },
      );
    }
    if (reader.bytesRemaining() !== 0) {
      throw new BagError(
        `chunk record incomplete (${reader.bytesRemaining()} bytes unparsed); file is corrupt`,
        {
          path: this.filePath,
          offset: c.chunkStartOffset,
          field: 'chunk',
        },
      );
    }
    return out;
  }

  /** Stream every record from the start (used for files without a usable index). */
  async *#scan(skipBad: boolean): AsyncGenerator<Message> {
    const reader = new McapStreamReader({ validateCrcs: true, decompressHandlers: mcapDecompressHandlers() });
    const buf = new Uint8Array(READ_PIECE_BYTES);
    let pos = 0;
    const size = Number(this.sizeBytes);
    while (true) {
      let rec: McapTypes.TypedMcapRecord | undefined;
      try {
        rec = reader.nextRecord();
      } catch (e) {
        const err = new BagError(
          `corrupt record (${errorMessage(e)}); use skipBad (--skip-bad) to read what precedes it`,
          { path: this.filePath, offset: pos - reader.bytesRemaining(), field: 'record', cause: e },
        );
        if (!skipBad) throw err;
        this.#note(err);
        return;
      }
      if (rec) {
        if (rec.type === 'Header') this.#profile = rec.profile;
        else if (rec.type === 'Schema') this.#schemas.set(rec.id, rec);
        else if (rec.type === 'Channel') this.#channels.set(rec.id, rec);
        else if (rec.type === 'Message') yield rec;
        continue;
      }
      if (reader.done()) return;
      if (pos >= size) {
        const err = new BagError(
          `file ends in the middle of a record or without a footer (${reader.bytesRemaining()} bytes unparsed); ` +
            'the bag was not closed cleanly — records before this point were read',
          { path: this.filePath, offset: pos - reader.bytesRemaining(), field: 'footer' },
        );
        if (!skipBad) throw err;
        this.#note(err);
        return;
      }
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.byteLength, size - pos), pos);
      if (bytesRead === 0) {
        pos = size;
        continue;
      }
      pos += bytesRead;
      reader.append(buf.slice(0, bytesRead));
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
