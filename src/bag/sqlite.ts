/**
 * rosbag2 sqlite3 storage (`.db3`): reader for schema versions 1-4 (Foxy .. Jazzy) and a writer for schema
 * v3 (Humble) and v4 (Jazzy), with better-sqlite3.
 */
import * as fs from 'fs';
import Database from 'better-sqlite3';
import { codecFromSchema, getCodec, normalizeTypeName, type MessageCodec } from './codecs';
import { BagError, DecodeError, UnknownSchemaError, errorMessage } from './errors';
import { buildBagInfo, type TopicCount } from './info';
import { defaultQosFor } from './qos';
import type { BagInfo, BagMessage, BagReader, BagWriter, ReadOptions, TopicOptions } from './types';

const SQLITE_MAGIC = 'SQLite format 3\0';

/** Options of the sqlite3 writer. */
export interface Db3WriteOptions {
  /** 3 = Humble (default), 4 = Jazzy (adds type_description_hash and message_definitions). */
  schemaVersion?: 3 | 4;
  /** Value of the `schema.ros_distro` column (default 'humble' for v3, 'jazzy' for v4). */
  rosDistro?: string;
}

interface DbTopic {
  id: number;
  type: string;
  count: number;
  qos: string;
  codec: MessageCodec;
}

/** Writes one `.db3` file as rosbag2's sqlite3 plugin does (all rows in one transaction, committed on close). */
export class Db3BagWriter implements BagWriter {
  #db: Database.Database | undefined;
  readonly #topics = new Map<string, DbTopic>();
  readonly #insert: Database.Statement;
  readonly #schemaVersion: 3 | 4;
  #closed = false;
  #startNs: bigint | undefined;
  #endNs: bigint | undefined;

  private constructor(
    readonly filePath: string,
    options: Db3WriteOptions,
  ) {
    this.#schemaVersion = options.schemaVersion ?? 3;
    if (this.#schemaVersion !== 3 && this.#schemaVersion !== 4) {
      throw new BagError(`unsupported sqlite3 schema version ${String(options.schemaVersion)}; use 3 or 4`, {
        field: 'sqliteSchema',
      });
    }
    if (fs.existsSync(filePath)) fs.rmSync(filePath);
    const db = new Database(filePath);
    this.#db = db;
    const v4 = this.#schemaVersion === 4;
    db.exec(
      'CREATE TABLE schema(schema_version INTEGER PRIMARY KEY,ros_distro TEXT NOT NULL);' +
        'CREATE TABLE metadata(id INTEGER PRIMARY KEY,metadata_version INTEGER NOT NULL,metadata TEXT NOT NULL);' +
        'CREATE TABLE topics(id INTEGER PRIMARY KEY,name TEXT NOT NULL,type TEXT NOT NULL,' +
        'serialization_format TEXT NOT NULL,offered_qos_profiles TEXT NOT NULL' +
        (v4 ? ',type_description_hash TEXT NOT NULL);' : ');') +
        (v4
          ? 'CREATE TABLE message_definitions(id INTEGER PRIMARY KEY,topic_type TEXT NOT NULL,' +
            'encoding TEXT NOT NULL,encoded_message_definition TEXT NOT NULL,type_description_hash TEXT NOT NULL);'
          : '') +
        'CREATE TABLE messages(id INTEGER PRIMARY KEY,topic_id INTEGER NOT NULL,timestamp INTEGER NOT NULL, ' +
        'data BLOB NOT NULL);' +
        'CREATE INDEX timestamp_idx ON messages (timestamp ASC);',
    );
    db.prepare('INSERT INTO schema (schema_version, ros_distro) VALUES (?, ?)').run(
      this.#schemaVersion,
      options.rosDistro ?? (v4 ? 'jazzy' : 'humble'),
    );
    this.#insert = db.prepare('INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)');
    db.exec('BEGIN');
  }

  /** Create (replace) `filePath`. */
  static async create(filePath: string, options: Db3WriteOptions = {}): Promise<Db3BagWriter> {
    return new Db3BagWriter(filePath, options);
  }

  async addTopic(topic: string, type: string, options: TopicOptions = {}): Promise<void> {
    const db = this.#open();
    const t = normalizeTypeName(type);
    const existing = this.#topics.get(topic);
    if (existing) {
      if (existing.type !== t)
        throw new BagError(`topic already added with type ${existing.type}`, { topic });
      return;
    }
    const codec = getCodec(t);
    const qos = options.offeredQosProfiles ?? defaultQosFor(topic);
    const id = this.#topics.size + 1;
    if (this.#schemaVersion === 4) {
      db.prepare(
        'INSERT INTO topics (id, name, type, serialization_format, offered_qos_profiles, type_description_hash) ' +
          'VALUES (?, ?, ?, ?, ?, ?)',
      ).run(id, topic, t, 'cdr', qos, '');
      const known = db.prepare('SELECT id FROM message_definitions WHERE topic_type = ?').get(t);
      if (!known) {
        db.prepare(
          'INSERT INTO message_definitions (topic_type, encoding, encoded_message_definition, type_description_hash) ' +
            'VALUES (?, ?, ?, ?)',
        ).run(t, 'ros2msg', codec.schemaText, '');
      }
    } else {
      db.prepare(
        'INSERT INTO topics (id, name, type, serialization_format, offered_qos_profiles) VALUES (?, ?, ?, ?, ?)',
      ).run(id, topic, t, 'cdr', qos);
    }
    this.#topics.set(topic, { id, type: t, count: 0, qos, codec });
  }

  async write(topic: string, logTimeNs: bigint, message: unknown): Promise<void> {
    this.#open();
    const t = this.#topics.get(topic);
    if (!t) throw new BagError('topic was not added; call addTopic(topic, type) first', { topic });
    const data = message instanceof Uint8Array ? message : t.codec.encode(message);
    this.#insert.run(t.id, logTimeNs, data);
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

  #open(): Database.Database {
    if (this.#closed || !this.#db) throw new BagError('writer is closed', { path: this.filePath });
    return this.#db;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const db = this.#db;
    this.#db = undefined;
    if (!db) return;
    try {
      if (db.inTransaction) db.exec('COMMIT');
    } finally {
      db.close();
    }
  }
}

interface ReaderTopic {
  id: number;
  name: string;
  type: string;
  serializationFormat: string;
  qos: string;
}

/** Reads one `.db3` file (rosbag2 sqlite3 schema v1..v4). Use Db3BagReader.open. */
export class Db3BagReader implements BagReader {
  skipped = 0;
  readonly skippedErrors: BagError[] = [];
  readonly #topicsById = new Map<number, ReaderTopic>();
  readonly #definitions = new Map<string, string>();
  readonly #codecs = new Map<string, MessageCodec | BagError>();
  #info!: BagInfo;
  #db: Database.Database;
  /** sqlite3 schema version found in the file. */
  readonly schemaVersion: number;

  private constructor(readonly filePath: string) {
    let head: Buffer;
    try {
      const fd = fs.openSync(filePath, 'r');
      head = Buffer.alloc(16);
      fs.readSync(fd, head, 0, 16, 0);
      fs.closeSync(fd);
    } catch (e) {
      throw new BagError(`cannot open bag file: ${errorMessage(e)}`, { path: filePath, cause: e });
    }
    if (head.toString('latin1') !== SQLITE_MAGIC) {
      throw new BagError(
        'not a sqlite3 database: bad magic (expected "SQLite format 3"); check the path/storage',
        {
          path: filePath,
          offset: 0,
          field: 'magic',
        },
      );
    }
    const db = new Database(filePath, { readonly: true, fileMustExist: true });
    this.#db = db;
    try {
      const tables = new Set(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
          (r) => r.name,
        ),
      );
      for (const required of ['topics', 'messages']) {
        if (!tables.has(required)) {
          throw new BagError(
            `not a rosbag2 sqlite3 bag: the '${required}' table is missing (tables: ${[...tables].join(', ') || 'none'})`,
            { path: filePath, field: `${required} table` },
          );
        }
      }
      let rosDistro = '';
      const topicCols = new Set(
        (db.prepare('PRAGMA table_info(topics)').all() as { name: string }[]).map((r) => r.name),
      );
      if (tables.has('schema')) {
        const row = db.prepare('SELECT schema_version, ros_distro FROM schema').get() as
          { schema_version: number; ros_distro: string } | undefined;
        this.schemaVersion = row?.schema_version ?? 3;
        rosDistro = row?.ros_distro ?? '';
      } else {
        this.schemaVersion = topicCols.has('offered_qos_profiles') ? 2 : 1;
      }
      const topics = db.prepare('SELECT * FROM topics ORDER BY id').all() as Record<string, unknown>[];
      for (const t of topics) {
        this.#topicsById.set(Number(t.id), {
          id: Number(t.id),
          name: String(t.name),
          type: String(t.type),
          serializationFormat: String(t.serialization_format ?? 'cdr'),
          qos: typeof t.offered_qos_profiles === 'string' ? t.offered_qos_profiles : '',
        });
      }
      if (tables.has('message_definitions')) {
        const defs = db
          .prepare('SELECT topic_type, encoding, encoded_message_definition FROM message_definitions')
          .all() as { topic_type: string; encoding: string; encoded_message_definition: string }[];
        for (const d of defs) {
          if (d.encoding === 'ros2msg' && d.encoded_message_definition) {
            this.#definitions.set(d.topic_type, d.encoded_message_definition);
          }
        }
      }
      const stats = db
        .prepare(
          'SELECT topic_id, COUNT(*) AS n, MIN(timestamp) AS t0, MAX(timestamp) AS t1 FROM messages GROUP BY topic_id',
        )
        .safeIntegers(true)
        .all() as { topic_id: bigint; n: bigint; t0: bigint; t1: bigint }[];
      const counts = new Map<number, number>();
      let start: bigint | undefined;
      let end: bigint | undefined;
      for (const s of stats) {
        counts.set(Number(s.topic_id), Number(s.n));
        if (start === undefined || s.t0 < start) start = s.t0;
        if (end === undefined || s.t1 > end) end = s.t1;
      }
      this.#info = buildBagInfo({
        path: filePath,
        storage: 'sqlite3',
        files: [filePath],
        profile: '',
        sqliteSchemaVersion: this.schemaVersion,
        rosDistro,
        topics: [...this.#topicsById.values()].map((t) => ({
          topic: t.name,
          type: t.type,
          serializationFormat: t.serializationFormat,
          offeredQosProfiles: t.qos,
          messageCount: counts.get(t.id) ?? 0,
        })),
        startNs: start ?? 0n,
        endNs: end ?? 0n,
      });
    } catch (e) {
      db.close();
      if (e instanceof BagError) throw e;
      throw new BagError(`cannot read sqlite3 bag: ${errorMessage(e)}`, { path: filePath, cause: e });
    }
  }

  /** Open a `.db3` file. Throws BagError (bad magic, missing tables). */
  static async open(filePath: string): Promise<Db3BagReader> {
    return new Db3BagReader(filePath);
  }

  info(): BagInfo {
    return this.#info;
  }

  #codecFor(t: ReaderTopic): MessageCodec {
    let c = this.#codecs.get(t.type);
    if (!c) {
      try {
        const text = this.#definitions.get(t.type);
        c = text !== undefined ? codecFromSchema(t.type, text) : getCodec(t.type);
      } catch (e) {
        c = new UnknownSchemaError(`no decoder for type '${t.type}': ${errorMessage(e)}`, {
          path: this.filePath,
          topic: t.name,
          field: 'type',
          cause: e,
        });
      }
      this.#codecs.set(t.type, c);
    }
    if (c instanceof BagError) throw c;
    return c;
  }

  async *messages(options: ReadOptions = {}): AsyncGenerator<BagMessage> {
    const where: string[] = [];
    const params: (bigint | number)[] = [];
    if (options.topics) {
      const ids = [...this.#topicsById.values()]
        .filter((t) => options.topics!.includes(t.name))
        .map((t) => t.id);
      if (ids.length === 0) return;
      where.push(`topic_id IN (${ids.map(() => '?').join(',')})`);
      params.push(...ids);
    }
    if (options.startNs !== undefined) {
      where.push('timestamp >= ?');
      params.push(options.startNs);
    }
    if (options.endNs !== undefined) {
      where.push('timestamp <= ?');
      params.push(options.endNs);
    }
    const sql =
      'SELECT id, topic_id, timestamp, data FROM messages' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ' ORDER BY timestamp, id';
    const stmt = this.#db.prepare(sql).safeIntegers(true);
    const iter = stmt.iterate(...params) as IterableIterator<{
      id: bigint;
      topic_id: bigint;
      timestamp: bigint;
      data: unknown;
    }>;
    try {
      yield* this.#rows(iter, options);
    } finally {
      iter.return?.();
    }
  }

  async *#rows(
    iter: IterableIterator<{ id: bigint; topic_id: bigint; timestamp: bigint; data: unknown }>,
    options: ReadOptions,
  ): AsyncGenerator<BagMessage> {
    let index = 0;
    while (true) {
      let next: IteratorResult<{ id: bigint; topic_id: bigint; timestamp: bigint; data: unknown }>;
      try {
        next = iter.next();
      } catch (e) {
        const err = new BagError(`sqlite3 read failed (${errorMessage(e)}); the database is corrupt`, {
          path: this.filePath,
          field: 'messages table',
          cause: e,
        });
        if (!options.skipBad) throw err;
        this.skipped++;
        this.skippedErrors.push(err);
        return;
      }
      if (next.done) return;
      const row = next.value;
      const topic = this.#topicsById.get(Number(row.topic_id));
      const bad = !topic
        ? `row references unknown topic_id ${row.topic_id}`
        : !(row.data instanceof Uint8Array)
          ? 'data column is not a BLOB'
          : undefined;
      if (bad || !topic) {
        const err = new BagError(`${bad}; use skipBad (--skip-bad) to skip such rows`, {
          path: this.filePath,
          offset: row.id,
          field: bad?.startsWith('row') ? 'topic_id' : 'data',
        });
        if (!options.skipBad) throw err;
        this.skipped++;
        this.skippedErrors.push(err);
        continue;
      }
      const buf = row.data as Uint8Array;
      const data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      const i = index++;
      const t = topic;
      yield {
        topic: t.name,
        type: t.type,
        logTimeNs: row.timestamp,
        publishTimeNs: row.timestamp,
        data,
        decode: () => {
          const codec = this.#codecFor(t);
          try {
            return codec.decode(data);
          } catch (e) {
            if (e instanceof DecodeError) {
              throw new DecodeError(e.message, {
                path: this.filePath,
                topic: t.name,
                index: i,
                offset: row.id,
                field: e.field,
                cause: e,
              });
            }
            throw e;
          }
        },
      };
    }
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
