/** Caption records for training: one JSON line per (image, visible instance). */
import * as fs from 'fs';
import * as path from 'path';
import { SynthExportError } from './errors';
import type { SynthFrame, SynthSequence } from './sequence';

/** One caption record (a JSON line). */
export interface CaptionRecord {
  /** Image path (relative to the dataset root, see imagePath). */
  image: string;
  instance_id: number;
  category: string;
  colour: string;
  texture: string;
  /** Visible bbox [x, y, w, h] in pixels. */
  bbox: [number, number, number, number];
  px_count: number;
  captions: string[];
}

/** Default image path: the BOP layout written by exportBop (`test/{scene:06d}/rgb/{im:06d}.png`, scenes from 1). */
export function bopImagePath(sequenceIndex: number, frame: SynthFrame): string {
  return `test/${String(sequenceIndex + 1).padStart(6, '0')}/rgb/${String(frame.index).padStart(6, '0')}.png`;
}

/** Caption records of all visible instances (at least `minPixels` visible pixels) of all frames. */
export function captionRecords(
  sequences: readonly SynthSequence[],
  imagePath: (sequenceIndex: number, frame: SynthFrame) => string = bopImagePath,
  minPixels = 50,
): CaptionRecord[] {
  const out: CaptionRecord[] = [];
  sequences.forEach((seq, s) => {
    for (const f of seq.frames) {
      for (const o of f.objects) {
        if (o.pxCountVisib < minPixels) continue;
        out.push({
          image: imagePath(s, f),
          instance_id: o.instanceId,
          category: o.category,
          colour: o.colour,
          texture: o.texture,
          bbox: o.bboxVisib,
          px_count: o.pxCountVisib,
          captions: o.captions,
        });
      }
    }
  });
  return out;
}

/** Writes caption records as JSON lines to `file`; returns the number of lines. */
export async function exportCaptions(
  file: string,
  sequences: readonly SynthSequence[],
  imagePath: (sequenceIndex: number, frame: SynthFrame) => string = bopImagePath,
  minPixels = 50,
): Promise<number> {
  const recs = captionRecords(sequences, imagePath, minPixels);
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(
      file,
      recs.map((r) => JSON.stringify(r)).join('\n') + (recs.length ? '\n' : ''),
    );
  } catch (e) {
    throw new SynthExportError(file, `cannot write captions (${(e as Error).message})`, e);
  }
  return recs.length;
}
