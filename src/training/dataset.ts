/**
 * Training dataset directory written by `declip collect` and read by the Python trainer
 * (src/training/python/declip_torch/train_data.py):
 *
 *   DIR/dataset.json     header: format 'declip-frames', version, options, sources, frame count
 *   DIR/manifest.jsonl   one JSON object per frame (append-only; a torn last line is dropped on resume)
 *   DIR/images/ID.png    rgb8 frames
 *   DIR/masks/ID.png     optional 16-bit instance ids (0 = background)
 */
import * as fs from 'fs';
import * as path from 'path';

export const DATASET_FORMAT = 'declip-frames';
export const DATASET_VERSION = 1;
export const MANIFEST_FILE = 'manifest.jsonl';
export const HEADER_FILE = 'dataset.json';

/** Where a frame came from. */
export interface FrameSource {
  /** Bag path (absent for live collection). */
  bag?: string;
  topic: string;
  /** Header stamp (ns, decimal string). */
  stampNs: string;
  live?: boolean;
}

/** One line of manifest.jsonl. */
export interface ManifestEntry {
  id: string;
  image: string;
  width: number;
  height: number;
  mask?: string;
  split?: 'train' | 'val';
  source: FrameSource;
  /** Grey thumbnail of the frame (base64, THUMB_W x THUMB_H bytes): the dedup reference on resume. */
  thumb?: string;
}

export interface DatasetHeader {
  format: typeof DATASET_FORMAT;
  version: number;
  created: string;
  updated: string;
  frames: number;
  withMasks: number;
  options: Record<string, unknown>;
  sources: { bag?: string; topic: string; frames: number }[];
}

/** Typed error for dataset problems; the message names the file and the fix. */
export class DatasetError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'DatasetError';
  }
}

/**
 * Read manifest.jsonl. A torn last line (collector killed mid-write) is dropped and, with `repair`, cut from the
 * file so that appending continues cleanly. Any other bad line throws.
 */
export function readManifest(dir: string, repair = false): ManifestEntry[] {
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1; // bytes after the last newline are a torn write
  const out: ManifestEntry[] = [];
  text
    .slice(0, end)
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as ManifestEntry);
      } catch {
        throw new DatasetError(
          `line ${i + 1} is not JSON; delete the line (or the dataset) and collect again`,
          file,
        );
      }
    });
  if (repair && end < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  return out;
}

/** Read dataset.json (undefined when absent). */
export function readHeader(dir: string): DatasetHeader | undefined {
  const file = path.join(dir, HEADER_FILE);
  if (!fs.existsSync(file)) return undefined;
  const h = JSON.parse(fs.readFileSync(file, 'utf8')) as DatasetHeader;
  if (h.format !== DATASET_FORMAT) {
    throw new DatasetError(
      `format is '${String(h.format)}', not '${DATASET_FORMAT}'; pick another --out`,
      file,
    );
  }
  return h;
}

/** Write a file atomically: temp file, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
