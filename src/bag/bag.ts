/**
 * Storage-independent entry points: openBag() for a rosbag2 directory (metadata.yaml), an `.mcap` file or a
 * `.db3` file, and createBagWriter() for either storage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BagError } from './errors';
import { mergeBagInfos } from './info';
import { McapBagReader, McapBagWriter, type McapWriteOptions } from './mcap';
import { metadataYaml, parseMetadataYaml } from './metadata';
import { Db3BagReader, Db3BagWriter } from './sqlite';
import type {
  BagInfo,
  BagMessage,
  BagReader,
  BagStorage,
  BagWriter,
  OpenOptions,
  ReadOptions,
  TopicOptions,
} from './types';

const MCAP_MAGIC = Buffer.from([0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);

function sniffStorage(file: string): BagStorage | undefined {
  if (file.endsWith('.mcap')) return 'mcap';
  if (file.endsWith('.db3')) return 'sqlite3';
  const head = Buffer.alloc(16);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.subarray(0, 8).equals(MCAP_MAGIC)) return 'mcap';
  if (head.toString('latin1') === 'SQLite format 3\0') return 'sqlite3';
  return undefined;
}

async function openFile(file: string, storage: BagStorage, options: OpenOptions): Promise<BagReader> {
  return storage === 'mcap' ? McapBagReader.open(file, options) : Db3BagReader.open(file);
}

/** Several storage files of one (split) bag read in sequence. */
class MultiFileBagReader implements BagReader {
  readonly #info: BagInfo;
  constructor(
    bagPath: string,
    private readonly readers: BagReader[],
  ) {
    this.#info = mergeBagInfos(
      bagPath,
      readers.map((r) => r.info()),
    );
  }
  info(): BagInfo {
    return this.#info;
  }
  get skipped(): number {
    return this.readers.reduce((s, r) => s + r.skipped, 0);
  }
  get skippedErrors(): BagError[] {
    return this.readers.flatMap((r) => r.skippedErrors);
  }
  async *messages(options?: ReadOptions): AsyncGenerator<BagMessage> {
    for (const r of this.readers) yield* r.messages(options);
  }
  async close(): Promise<void> {
    for (const r of this.readers) await r.close();
  }
}

/**
 * Open a rosbag2 bag: a directory with metadata.yaml (or containing .mcap / .db3 files), an `.mcap` file or
 * a `.db3` file. Throws BagError if the path is missing or not a bag.
 */
export async function openBag(bagPath: string, options: OpenOptions = {}): Promise<BagReader> {
  let st: fs.Stats;
  try {
    st = fs.statSync(bagPath);
  } catch {
    throw new BagError('bag not found: no such file or directory', { path: bagPath });
  }
  let files: { file: string; storage: BagStorage }[];
  if (st.isDirectory()) {
    const metaPath = path.join(bagPath, 'metadata.yaml');
    if (fs.existsSync(metaPath)) {
      const meta = parseMetadataYaml(fs.readFileSync(metaPath, 'utf8'), metaPath);
      if (meta.compressionMode !== '') {
        throw new BagError(
          `compressed bags (compression_mode ${meta.compressionMode}, ${meta.compressionFormat}) are not supported; ` +
            'decompress with `ros2 bag convert` first',
          { path: metaPath, field: 'compression_mode' },
        );
      }
      if (meta.storageIdentifier !== 'mcap' && meta.storageIdentifier !== 'sqlite3') {
        throw new BagError(`unsupported storage_identifier '${meta.storageIdentifier}' (mcap or sqlite3)`, {
          path: metaPath,
          field: 'storage_identifier',
        });
      }
      const storage = meta.storageIdentifier;
      files = meta.relativeFilePaths.map((f) => ({ file: path.join(bagPath, f), storage }));
      for (const f of files) {
        if (!fs.existsSync(f.file)) {
          throw new BagError('storage file listed in metadata.yaml is missing', {
            path: f.file,
            field: 'relative_file_paths',
          });
        }
      }
    } else {
      files = fs
        .readdirSync(bagPath)
        .filter((f) => f.endsWith('.mcap') || f.endsWith('.db3'))
        .sort()
        .map((f) => ({ file: path.join(bagPath, f), storage: f.endsWith('.mcap') ? 'mcap' : 'sqlite3' }));
    }
    if (files.length === 0) {
      throw new BagError('directory holds no metadata.yaml, .mcap or .db3 file; is it a rosbag2 bag?', {
        path: bagPath,
      });
    }
  } else {
    const storage = sniffStorage(bagPath);
    if (!storage) {
      throw new BagError('not a bag: neither MCAP nor sqlite3 magic found at the start of the file', {
        path: bagPath,
        offset: 0,
        field: 'magic',
      });
    }
    files = [{ file: bagPath, storage }];
  }
  const readers: BagReader[] = [];
  try {
    for (const f of files) readers.push(await openFile(f.file, f.storage, options));
  } catch (e) {
    for (const r of readers) await r.close();
    throw e;
  }
  return new MultiFileBagReader(bagPath, readers);
}

/** Options of createBagWriter(). */
export interface CreateBagOptions extends McapWriteOptions {
  /** Storage plugin; default from the file extension, else 'mcap'. */
  storage?: BagStorage;
  /** sqlite3 schema version: 3 (Humble, default) or 4 (Jazzy). */
  sqliteSchema?: 3 | 4;
  /** Replace an existing bag at the path (default false: throw). */
  overwrite?: boolean;
}

/** Writer for a directory bag: one storage file plus metadata.yaml written on close. */
class DirectoryBagWriter implements BagWriter {
  #closed = false;
  constructor(
    private readonly dir: string,
    private readonly fileName: string,
    private readonly storage: BagStorage,
    private readonly inner: McapBagWriter | Db3BagWriter,
  ) {}
  addTopic(topic: string, type: string, options?: TopicOptions): Promise<void> {
    return this.inner.addTopic(topic, type, options);
  }
  write(topic: string, logTimeNs: bigint, message: unknown, publishTimeNs?: bigint): Promise<void> {
    return this.inner.write(topic, logTimeNs, message, publishTimeNs);
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.inner.close();
    const s = this.inner.summary();
    const count = s.topics.reduce((n, t) => n + t.messageCount, 0);
    const yaml = metadataYaml(this.storage, [
      { path: this.fileName, startNs: s.startNs, endNs: s.endNs, messageCount: count, topics: s.topics },
    ]);
    fs.writeFileSync(path.join(this.dir, 'metadata.yaml'), yaml);
  }
}

/**
 * Create a bag. A path ending in `.mcap` or `.db3` gives a single storage file; any other path gives a
 * rosbag2 directory bag (`<dir>/<name>_0.mcap|db3` + metadata.yaml, written by close()).
 */
export async function createBagWriter(bagPath: string, options: CreateBagOptions = {}): Promise<BagWriter> {
  const ext = bagPath.endsWith('.mcap') ? 'mcap' : bagPath.endsWith('.db3') ? 'sqlite3' : undefined;
  if (ext && options.storage && options.storage !== ext) {
    throw new BagError(`storage '${options.storage}' does not match the file extension; use .mcap or .db3`, {
      path: bagPath,
      field: 'storage',
    });
  }
  const storage: BagStorage = ext ?? options.storage ?? 'mcap';
  if (fs.existsSync(bagPath)) {
    if (!options.overwrite) {
      throw new BagError('output bag already exists; delete it or pass overwrite: true', { path: bagPath });
    }
    fs.rmSync(bagPath, { recursive: true, force: true });
  }
  const open = (file: string): Promise<McapBagWriter | Db3BagWriter> =>
    storage === 'mcap'
      ? McapBagWriter.create(file, options)
      : Db3BagWriter.create(file, { schemaVersion: options.sqliteSchema ?? 3 });
  if (ext) return open(bagPath);
  fs.mkdirSync(bagPath, { recursive: true });
  const fileName = `${path.basename(path.resolve(bagPath))}_0.${storage === 'mcap' ? 'mcap' : 'db3'}`;
  return new DirectoryBagWriter(bagPath, fileName, storage, await open(path.join(bagPath, fileName)));
}
