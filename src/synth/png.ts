/** PNG writing/reading helpers over sharp (8-bit RGB / gray, 16-bit gray). */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { RgbImage } from '../types';
import { SynthExportError } from './errors';

async function ensureDir(file: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
}

async function run(file: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await ensureDir(file);
    await fn();
  } catch (e) {
    throw new SynthExportError(file, `cannot write PNG (${(e as Error).message})`, e);
  }
}

/** Writes an rgb8 image as PNG. */
export async function writeRgbPng(file: string, img: RgbImage): Promise<void> {
  await run(file, () =>
    sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
      raw: { width: img.width, height: img.height, channels: 3 },
    })
      .png({ compressionLevel: 6 })
      .toFile(file),
  );
}

/** Writes an 8-bit single-channel PNG. */
export async function writeGray8Png(
  file: string,
  data: Uint8Array,
  width: number,
  height: number,
): Promise<void> {
  await run(file, () =>
    sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 6 })
      .toFile(file),
  );
}

/** Writes a 16-bit single-channel PNG (e.g. depth in mm). */
export async function writeGray16Png(
  file: string,
  data: Uint16Array,
  width: number,
  height: number,
): Promise<void> {
  await run(file, () =>
    sharp(data, { raw: { width, height, channels: 1 } })
      .toColourspace('grey16')
      .png({ compressionLevel: 6 })
      .toFile(file),
  );
}

/** Reads a 16-bit single-channel PNG back as Uint16Array. */
export async function readGray16Png(
  file: string,
): Promise<{ data: Uint16Array; width: number; height: number }> {
  const { data, info } = await sharp(file)
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return {
    data: new Uint16Array(copy.buffer, 0, copy.byteLength / 2),
    width: info.width,
    height: info.height,
  };
}

/** Reads an 8-bit PNG's first channel as Uint8Array. */
export async function readGray8Png(
  file: string,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}
