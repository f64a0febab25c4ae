/**
 * Per-pair JSON-lines results: one {@link PairRecord} per line, appended as pairs finish, so a run can be
 * resumed. The reader tolerates a truncated last line (a crash mid-write) and de-duplicates pair ids.
 */
import * as fs from 'fs';
import { EvalInputError } from '../metrics/errors';
import type { PairRecord } from './oryon';

/** One record as a JSON line (with the trailing newline). */
export function serializePairRecord(record: PairRecord): string {
  return JSON.stringify(record) + '\n';
}

export interface ParsedRecords {
  /** Unique by pairId, in first-seen order; a later line for the same id replaces the earlier one. */
  records: PairRecord[];
  /** True when the last line was incomplete and was ignored. */
  truncatedTail: boolean;
  /** Number of lines whose pairId had already been seen. */
  duplicates: number;
}

/**
 * Parses JSON-lines records. Blank lines are skipped. An unparsable LAST line without a trailing newline is
 * treated as truncated and dropped; an unparsable line anywhere else raises EvalInputError naming the line.
 */
export function parsePairRecordsJsonl(text: string): ParsedRecords {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  const byId = new Map<string, PairRecord>();
  let truncatedTail = false;
  let duplicates = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const isLast = i === lines.length - 1;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      if (isLast && !endsWithNewline) {
        truncatedTail = true;
        return;
      }
      throw new EvalInputError(
        `line ${i + 1}`,
        'is not valid JSON; remove or fix it, or delete the file to start over',
      );
    }
    const r = rec as PairRecord;
    if (!r || typeof r !== 'object' || typeof r.pairId !== 'string' || !r.scores) {
      throw new EvalInputError(`line ${i + 1}`, 'is not a pair record (needs "pairId" and "scores")');
    }
    if (byId.has(r.pairId)) duplicates++;
    byId.set(r.pairId, r); // Map.set keeps the first-seen position
  });
  return { records: [...byId.values()], truncatedTail, duplicates };
}

/** Reads a results file; a missing file is an empty result. */
export function readPairRecordsFile(path: string): ParsedRecords {
  if (!fs.existsSync(path)) return { records: [], truncatedTail: false, duplicates: 0 };
  return parsePairRecordsJsonl(fs.readFileSync(path, 'utf8'));
}

/** Cuts an incomplete last line off a results file so that appending can resume. Returns bytes removed. */
export function repairTruncatedTail(path: string): number {
  if (!fs.existsSync(path)) return 0;
  const buf = fs.readFileSync(path);
  if (buf.length === 0 || buf[buf.length - 1] === 0x0a) return 0;
  const keep = buf.lastIndexOf(0x0a) + 1;
  fs.truncateSync(path, keep);
  return buf.length - keep;
}

/** Appends one record to a results file. */
export function appendPairRecord(path: string, record: PairRecord): void {
  fs.appendFileSync(path, serializePairRecord(record));
}

/** The pairs that still have no record (for resuming), in their original order. */
export function pendingPairs<P extends { pairId: string }>(
  pairs: readonly P[],
  done: readonly PairRecord[],
): P[] {
  const ids = new Set(done.map((r) => r.pairId));
  return pairs.filter((p) => !ids.has(p.pairId));
}
