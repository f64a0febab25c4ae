/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * Evaluation interrupted mid-run (issue 11): the JSON-lines results end with a half-written line, as after a
 * kill -9 during a write. Re-running resumes from the complete lines: only the missing pairs are computed, no
 * pair is duplicated, and the records and aggregate equal those of an uninterrupted run.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertBop } from '../convert/bop';
import { readPromptsFile } from '../convert/format';
import { synthEvalSequences, writeSynthBop } from '../fixtures';
import { readPairRecordsFile } from '../protocol/jsonl';
import { runEvaluation } from './runner';
import type { EvalRunConfig } from './evaluator';

describe('declip eval run: resume after an interruption', () => {
  let tmp: string;
  let bop: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evalresume-'));
    const seqs = synthEvalSequences({ scenes: 2, framesPerScene: 2 });
    const b = await writeSynthBop(path.join(tmp, 'bop-src'), seqs);
    bop = path.join(tmp, 'bop');
    await convertBop({ srcDir: b.root, outDir: bop, dataset: 'toyl', prompts: readPromptsFile(b.prompts) });
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const cfg = (): EvalRunConfig => ({
    bagsDir: bop,
    dataset: 'toyl',
    protocol: 'oryon',
    pairs: 6,
    seed: 3,
    masks: 'oracle',
    vsd: false,
    maxModelPoints: 200,
  });

  it('a half-written last line is dropped, the missing pairs are computed once, results equal a clean run', async () => {
    const clean = await runEvaluation(cfg(), { outDir: path.join(tmp, 'clean'), thumbnails: 0 });
    expect(clean.evaluated).toBe(6);
    const cleanRecs = readPairRecordsFile(clean.resultsPath).records;

    const out = path.join(tmp, 'cut');
    const first = await runEvaluation(cfg(), { outDir: out, thumbnails: 0 });
    // simulate a kill mid-run: keep 2 complete lines and half of the third
    const lines = fs.readFileSync(first.resultsPath, 'utf8').split('\n');
    fs.writeFileSync(
      first.resultsPath,
      `${lines[0]}\n${lines[1]}\n${lines[2].slice(0, lines[2].length >> 1)}`,
    );
    const parsed = readPairRecordsFile(first.resultsPath);
    expect(parsed.truncatedTail).toBe(true);
    expect(parsed.records).toHaveLength(2);

    const again = await runEvaluation(cfg(), { outDir: out, thumbnails: 0 });
    expect(again.resumed).toBe(2);
    expect(again.evaluated).toBe(4);
    const text = fs.readFileSync(again.resultsPath, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const recs = readPairRecordsFile(again.resultsPath);
    expect(recs.duplicates).toBe(0);
    expect(recs.truncatedTail).toBe(false);
    expect(text.trim().split('\n')).toHaveLength(6);
    const byId = (rs: typeof cleanRecs) => Object.fromEntries(rs.map((r) => [r.pairId, r.scores]));
    expect(byId(recs.records)).toEqual(byId(cleanRecs));
    expect(again.aggregate).toEqual(clean.aggregate);
  });
});
