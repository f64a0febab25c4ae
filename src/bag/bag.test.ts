import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { McapIndexedReader, McapStreamReader, type McapTypes } from '@mcap/core';
import {
  BagError,
  DecodeError,
  UnknownSchemaError,
  createBagWriter,
  ensureZstd,
  getCodec,
  headerFromNs,
  mcapDecompressHandlers,
  openBag,
  parseMetadataYaml,
  type BagMessage,
  type CreateBagOptions,
} from './index';

const T0 = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-bag-'));
  await ensureZstd();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Written {
  topic: string;
  logTimeNs: bigint;
  data: Uint8Array;
}

/** 10 frames at 10 Hz: 64x48 rgb image + string + tf_static once. Returns what was written. */
async function writeSample(bagPath: string, options: CreateBagOptions): Promise<Written[]> {
  const w = await createBagWriter(bagPath, options);
  const written: Written[] = [];
  await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/chatter', 'std_msgs/String');
  await w.addTopic('/tf_static', 'tf2_msgs/msg/TFMessage');
  const tf = {
    transforms: [{ header: headerFromNs(T0, 'base_link'), child_frame_id: 'camera_link', transform: {} }],
  };
  await w.write('/tf_static', T0, tf);
  written.push({ topic: '/tf_static', logTimeNs: T0, data: getCodec('tf2_msgs/msg/TFMessage').encode(tf) });
  for (let i = 0; i < 10; i++) {
    const t = T0 + BigInt(i) * 100n * MS;
    const data = new Uint8Array(64 * 48 * 3).map((_, k) => (k * 31 + i * 17) % 256);
    const img = { header: headerFromNs(t, 'cam'), height: 48, width: 64, encoding: 'rgb8', step: 192, data };
    const bytes = getCodec('sensor_msgs/msg/Image').encode(img);
    await w.write('/camera/color/image_raw', t, bytes); // raw CDR path
    written.push({ topic: '/camera/color/image_raw', logTimeNs: t, data: bytes });
    const s = { data: `hello ${i}` };
    await w.write('/chatter', t + 5n * MS, s); // object path
    written.push({ topic: '/chatter', logTimeNs: t + 5n * MS, data: getCodec('std_msgs/String').encode(s) });
  }
  await w.close();
  await w.close(); // idempotent
  return written;
}

async function readAll(it: AsyncIterable<BagMessage>): Promise<BagMessage[]> {
  const out: BagMessage[] = [];
  for await (const m of it) out.push(m);
  return out;
}

function sortWritten(w: Written[]): Written[] {
  return [...w].sort((a, b) => (a.logTimeNs < b.logTimeNs ? -1 : a.logTimeNs > b.logTimeNs ? 1 : 0));
}

const STORAGES: [string, CreateBagOptions][] = [
  ['mcap', { storage: 'mcap', chunkSizeBytes: 20000 }],
  ['sqlite3 v3', { storage: 'sqlite3', sqliteSchema: 3 }],
  ['sqlite3 v4', { storage: 'sqlite3', sqliteSchema: 4 }],
];

describe.each(STORAGES)('%s directory bag', (name, options) => {
  const dir = (): string => path.join(tmp, name.replace(/ /g, '_'));
  let written: Written[];
  beforeAll(async () => {
    written = await writeSample(dir(), options);
  });

  it('reads back every message with identical topic, time and payload', async () => {
    const bag = await openBag(dir());
    const msgs = await readAll(bag.messages());
    const expected = sortWritten(written);
    expect(msgs.length).toBe(21);
    expect(msgs.map((m) => [m.topic, m.logTimeNs])).toEqual(expected.map((m) => [m.topic, m.logTimeNs]));
    msgs.forEach((m, i) => expect(Buffer.from(m.data).equals(Buffer.from(expected[i].data))).toBe(true));
    const chatter = msgs.filter((m) => m.topic === '/chatter').map((m) => m.decode().data);
    expect(chatter).toEqual(Array.from({ length: 10 }, (_, i) => `hello ${i}`));
    const img = msgs.find((m) => m.topic === '/camera/color/image_raw')!.decode();
    expect(img.width).toBe(64);
    expect(img.header.frame_id).toBe('cam');
    await bag.close();
  });

  it('info() reports topics, types, counts, times and rates', async () => {
    const bag = await openBag(dir());
    const info = bag.info();
    expect(info.storage).toBe(options.storage);
    expect(info.messageCount).toBe(21);
    expect(info.startNs).toBe(T0);
    expect(info.endNs).toBe(T0 + 905n * MS);
    expect(info.durationS).toBeCloseTo(0.905, 9);
    const byTopic = Object.fromEntries(info.topics.map((t) => [t.topic, t]));
    expect(byTopic['/camera/color/image_raw'].type).toBe('sensor_msgs/msg/Image');
    expect(byTopic['/camera/color/image_raw'].messageCount).toBe(10);
    expect(byTopic['/camera/color/image_raw'].rateHz).toBeCloseTo(9 / 0.905, 6);
    expect(byTopic['/tf_static'].messageCount).toBe(1);
    expect(byTopic['/tf_static'].offeredQosProfiles).toContain('durability: 1');
    expect(byTopic['/chatter'].type).toBe('std_msgs/msg/String');
    if (options.storage === 'sqlite3') expect(info.sqliteSchemaVersion).toBe(options.sqliteSchema);
    else expect(info.profile).toBe('ros2');
    await bag.close();
  });

  it('writes a metadata.yaml that parses back to the same counts and exact times', () => {
    const meta = parseMetadataYaml(fs.readFileSync(path.join(dir(), 'metadata.yaml'), 'utf8'));
    expect(meta.storageIdentifier).toBe(options.storage);
    expect(meta.messageCount).toBe(21);
    expect(meta.startingTimeNs).toBe(T0);
    expect(meta.durationNs).toBe(905n * MS);
    const ext = options.storage === 'mcap' ? 'mcap' : 'db3';
    expect(meta.relativeFilePaths).toEqual([`${path.basename(dir())}_0.${ext}`]);
    expect(meta.topics.find((t) => t.topic === '/chatter')?.messageCount).toBe(10);
    expect(meta.topics.find((t) => t.topic === '/tf_static')?.offeredQosProfiles).toContain('durability: 1');
  });

  it('filters by topic and inclusive time range', async () => {
    const bag = await openBag(dir());
    const a = await readAll(bag.messages({ topics: ['/chatter'] }));
    expect(a.length).toBe(10);
    expect(a.every((m) => m.topic === '/chatter')).toBe(true);
    const b = await readAll(bag.messages({ startNs: T0 + 200n * MS, endNs: T0 + 400n * MS }));
    expect(b.map((m) => m.logTimeNs - T0)).toEqual([200n, 205n, 300n, 305n, 400n].map((x) => x * MS));
    const c = await readAll(
      bag.messages({ topics: ['/camera/color/image_raw'], startNs: T0 + 850n * MS, endNs: T0 + 2000n * MS }),
    );
    expect(c.map((m) => m.logTimeNs)).toEqual([T0 + 900n * MS]);
    expect(await readAll(bag.messages({ topics: ['/none'] }))).toEqual([]);
    await bag.close();
  });
});

describe('MCAP files', () => {
  it('a single .mcap file is byte-identical when written twice (deterministic)', async () => {
    const a = path.join(tmp, 'det_a.mcap');
    const b = path.join(tmp, 'det_b.mcap');
    await writeSample(a, { chunkSizeBytes: 20000 });
    await writeSample(b, { chunkSizeBytes: 20000 });
    const ba = fs.readFileSync(a);
    expect(ba.length).toBeGreaterThan(1000);
    expect(ba.equals(fs.readFileSync(b))).toBe(true);
  });

  it('a directory bag (mcap + metadata.yaml) is byte-identical when written twice', async () => {
    const a = path.join(tmp, 'detdir_a');
    const b = path.join(tmp, 'detdir_b');
    await writeSample(a, {});
    await writeSample(b, {});
    const fa = fs.readFileSync(path.join(a, 'detdir_a_0.mcap'));
    expect(fa.equals(fs.readFileSync(path.join(b, 'detdir_b_0.mcap')))).toBe(true);
    const ya = fs.readFileSync(path.join(a, 'metadata.yaml'), 'utf8').replace(/detdir_a/g, 'X');
    expect(ya).toBe(fs.readFileSync(path.join(b, 'metadata.yaml'), 'utf8').replace(/detdir_b/g, 'X'));
  });

  it('is accepted by @mcap/core McapStreamReader (validateCrcs) and McapIndexedReader', async () => {
    const file = path.join(tmp, 'valid.mcap');
    await writeSample(file, { chunkSizeBytes: 20000 });
    const bytes = new Uint8Array(fs.readFileSync(file));
    const stream = new McapStreamReader({ validateCrcs: true, decompressHandlers: mcapDecompressHandlers() });
    stream.append(bytes);
    const counts: Record<string, number> = {};
    let schemaText = '';
    const chunks: McapTypes.TypedMcapRecords['Chunk'][] = [];
    const reader = new McapStreamReader({
      validateCrcs: true,
      includeChunks: true,
      decompressHandlers: mcapDecompressHandlers(),
    });
    reader.append(bytes);
    for (let r; (r = reader.nextRecord());) {
      counts[r.type] = (counts[r.type] ?? 0) + 1;
      if (r.type === 'Chunk') chunks.push(r);
      if (r.type === 'Header') {
        expect(r.profile).toBe('ros2');
      }
      if (r.type === 'Schema' && r.name === 'tf2_msgs/msg/TFMessage') {
        expect(r.encoding).toBe('ros2msg');
        schemaText = new TextDecoder().decode(r.data);
      }
      if (r.type === 'Channel') expect(r.messageEncoding).toBe('cdr');
    }
    expect(reader.done()).toBe(true);
    expect(counts.Message).toBe(21);
    expect(counts.Footer).toBe(1);
    expect(counts.Statistics).toBe(1);
    expect(counts.ChunkIndex).toBe(chunks.length);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.compression === 'zstd' && c.uncompressedCrc !== 0)).toBe(true);
    expect(schemaText.startsWith('geometry_msgs/TransformStamped[] transforms\n')).toBe(true);
    expect(schemaText).toContain('\nMSG: geometry_msgs/TransformStamped\n');
    expect(schemaText).toContain('\nMSG: builtin_interfaces/Time\n');

    const fh = await fs.promises.open(file, 'r');
    const size = BigInt((await fh.stat()).size);
    const indexed = await McapIndexedReader.Initialize({
      readable: {
        size: async () => size,
        read: async (offset: bigint, len: bigint) => {
          const buf = new Uint8Array(Number(len));
          await fh.read(buf, 0, buf.length, Number(offset));
          return buf;
        },
      },
      decompressHandlers: mcapDecompressHandlers(),
    });
    expect(indexed.statistics?.messageCount).toBe(21n);
    expect(indexed.statistics?.channelCount).toBe(3);
    expect(indexed.statistics?.messageStartTime).toBe(T0);
    expect(indexed.chunkIndexes.length).toBe(chunks.length);
    expect(indexed.dataSectionCrc).not.toBe(0);
    let n = 0;
    for await (const m of indexed.readMessages({ validateCrcs: true })) {
      expect(m.logTime).toBeGreaterThanOrEqual(T0);
      n++;
    }
    expect(n).toBe(21);
    await fh.close();
  });

  it('truncated file without footer: clear BagError; skipBad reads the records before the truncation', async () => {
    const file = path.join(tmp, 'full.mcap');
    await writeSample(file, { chunkSizeBytes: 20000 });
    const bytes = fs.readFileSync(file);
    // cut inside the last chunk
    const reader = new McapStreamReader({
      includeChunks: true,
      decompressHandlers: mcapDecompressHandlers(),
    });
    reader.append(new Uint8Array(bytes));
    let last: McapTypes.TypedMcapRecords['Chunk'] | undefined;
    for (let r; (r = reader.nextRecord());) if (r.type === 'Chunk') last = r;
    const at = bytes.indexOf(Buffer.from(last!.records.subarray(0, 32)));
    expect(at).toBeGreaterThan(0);
    const cut = path.join(tmp, 'cut.mcap');
    fs.writeFileSync(cut, bytes.subarray(0, at + 100));
    await expect(openBag(cut)).rejects.toThrow(BagError);
    await expect(openBag(cut)).rejects.toThrow(/truncated.*skipBad/);
    const bag = await openBag(cut, { skipBad: true });
    const msgs = await readAll(bag.messages({ skipBad: true }));
    expect(msgs.length).toBeGreaterThan(3);
    expect(msgs.length).toBeLessThan(21);
    expect(msgs.every((m) => m.decode() !== undefined)).toBe(true);
    expect(bag.skipped).toBe(1);
    expect(bag.skippedErrors[0].message).toMatch(/offset/);
    expect(bag.info().messageCount).toBe(msgs.length);
    // Without skipBad on read, the truncation is an error after the good records.
    await expect(readAll(bag.messages())).rejects.toThrow(/without a footer/);
    await bag.close();
  });

  it('bad magic is a BagError naming offset 0 and the magic', async () => {
    const file = path.join(tmp, 'bad.mcap');
    fs.writeFileSync(file, Buffer.from('this is not an mcap file at all'));
    await expect(openBag(file)).rejects.toThrow(/bad magic.*offset 0.*field 'magic'/);
  });

  it('corrupt chunk: BagError with its offset; skipBad skips that chunk and reads the rest', async () => {
    const file = path.join(tmp, 'crc.mcap');
    await writeSample(file, { chunkSizeBytes: 20000, compression: 'none' });
    const bytes = new Uint8Array(fs.readFileSync(file));
    const ok = await openBag(file);
    const all = await readAll(ok.messages());
    await ok.close();
    // find the second chunk and flip a byte in the middle of its records
    const reader = new McapStreamReader({ includeChunks: true, validateCrcs: true });
    reader.append(bytes);
    const chunks: McapTypes.TypedMcapRecords['Chunk'][] = [];
    for (let r; (r = reader.nextRecord());) if (r.type === 'Chunk') chunks.push(r);
    const idx = Buffer.from(bytes).indexOf(Buffer.from(chunks[1].records.subarray(0, 64)));
    expect(idx).toBeGreaterThan(0);
    bytes[idx + 2000] ^= 0xff;
    const bad = path.join(tmp, 'crc_bad.mcap');
    fs.writeFileSync(bad, bytes);
    const bag = await openBag(bad);
    await expect(readAll(bag.messages())).rejects.toThrow(/corrupt chunk.*CRC.*offset \d+/);
    const rest = await readAll(bag.messages({ skipBad: true }));
    expect(bag.skipped).toBe(1);
    expect(rest.length).toBeLessThan(all.length);
    expect(rest.length).toBeGreaterThan(0);
    await bag.close();
  });

  it('CDR garbage in a message: decode() throws DecodeError naming the topic', async () => {
    const file = path.join(tmp, 'garbage.mcap');
    const w = await createBagWriter(file);
    await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
    await w.write('/camera/color/image_raw', T0, new Uint8Array([0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f, 1]));
    await w.close();
    const bag = await openBag(file);
    const [m] = await readAll(bag.messages());
    expect(() => m.decode()).toThrow(DecodeError);
    expect(() => m.decode()).toThrow(/topic \/camera\/color\/image_raw/);
    await bag.close();
  });

  it('close() after a failed write still finalises a readable file', async () => {
    const file = path.join(tmp, 'errpath.mcap');
    const w = await createBagWriter(file);
    await w.addTopic('/chatter', 'std_msgs/msg/String');
    await w.write('/chatter', T0, { data: 'a' });
    await expect(w.write('/unknown', T0, { data: 'b' })).rejects.toThrow(/addTopic/);
    await w.close();
    const bag = await openBag(file);
    expect(bag.info().messageCount).toBe(1);
    await bag.close();
  });
});

describe('sqlite3 files', () => {
  it('a .db3 without a messages table is a BagError naming the table', async () => {
    const Database = (await import('better-sqlite3')).default;
    const file = path.join(tmp, 'nomsg.db3');
    const db = new Database(file);
    db.exec('CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT, type TEXT)');
    db.close();
    await expect(openBag(file)).rejects.toThrow(/'messages' table is missing/);
    await expect(openBag(file)).rejects.toBeInstanceOf(BagError);
  });

  it('rows with an unknown topic_id are errors, skipped and counted with skipBad', async () => {
    const file = path.join(tmp, 'rows.db3');
    const w = await createBagWriter(file, { sqliteSchema: 4 });
    await w.addTopic('/chatter', 'std_msgs/msg/String');
    for (let i = 0; i < 3; i++) await w.write('/chatter', T0 + BigInt(i), { data: `m${i}` });
    await w.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(file);
    db.prepare('INSERT INTO messages (topic_id, timestamp, data) VALUES (99, ?, ?)').run(
      T0 + 1n,
      Buffer.from([0]),
    );
    db.close();
    const bag = await openBag(file);
    expect(bag.info().sqliteSchemaVersion).toBe(4);
    await expect(readAll(bag.messages())).rejects.toThrow(/unknown topic_id 99/);
    const msgs = await readAll(bag.messages({ skipBad: true }));
    expect(msgs.map((m) => m.decode().data)).toEqual(['m0', 'm1', 'm2']);
    expect(bag.skipped).toBe(1);
    await bag.close();
  });

  it('v3 has no type_description_hash; v4 stores ros2msg definitions and schema version', async () => {
    const Database = (await import('better-sqlite3')).default;
    const cols = (file: string): string[] => {
      const d = new Database(file, { readonly: true });
      const names = (d.prepare('PRAGMA table_info(topics)').all() as { name: string }[]).map((c) => c.name);
      d.close();
      return names;
    };
    const v3 = path.join(tmp, 'schema_v3.db3');
    const v4 = path.join(tmp, 'schema_v4.db3');
    await writeSample(v3, { sqliteSchema: 3 });
    await writeSample(v4, { sqliteSchema: 4 });
    expect(cols(v3)).not.toContain('type_description_hash');
    expect(cols(v4)).toContain('type_description_hash');
    const db = new Database(v4, { readonly: true });
    const def = db
      .prepare(
        'SELECT encoding, encoded_message_definition AS d FROM message_definitions WHERE topic_type = ?',
      )
      .get('tf2_msgs/msg/TFMessage') as { encoding: string; d: string };
    expect(def.encoding).toBe('ros2msg');
    expect(def.d).toContain('MSG: geometry_msgs/TransformStamped');
    expect(db.prepare('SELECT schema_version, ros_distro FROM schema').get()).toEqual({
      schema_version: 4,
      ros_distro: 'jazzy',
    });
    db.close();
  });

  it('a topic of unknown type reads raw but decode() throws UnknownSchemaError naming the topic', async () => {
    const file = path.join(tmp, 'unknown.db3');
    const w = await createBagWriter(file);
    await w.addTopic('/chatter', 'std_msgs/msg/String');
    await w.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(file);
    db.prepare(
      "INSERT INTO topics (id, name, type, serialization_format, offered_qos_profiles) VALUES (7, '/x', 'foo_msgs/msg/Bar', 'cdr', '')",
    ).run();
    db.prepare('INSERT INTO messages (topic_id, timestamp, data) VALUES (7, 1, ?)').run(
      Buffer.from([0, 1, 0, 0]),
    );
    db.close();
    const bag = await openBag(file);
    const [m] = await readAll(bag.messages({ topics: ['/x'] }));
    expect(m.type).toBe('foo_msgs/msg/Bar');
    expect(() => m.decode()).toThrow(UnknownSchemaError);
    expect(() => m.decode()).toThrow(/foo_msgs\/msg\/Bar.*topic \/x/);
    await bag.close();
  });

  it('a missing path and a non-bag file are BagErrors', async () => {
    await expect(openBag(path.join(tmp, 'nope'))).rejects.toThrow(/bag not found/);
    const f = path.join(tmp, 'text.bin');
    fs.writeFileSync(f, 'hello world, not a bag');
    await expect(openBag(f)).rejects.toThrow(/neither MCAP nor sqlite3/);
  });
});
