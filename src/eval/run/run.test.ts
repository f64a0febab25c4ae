/** @jest-environment ./src/perception/ort-jest-environment.ts */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { convertBop } from '../convert/bop';
import { convertReal275 } from '../convert/real275';
import { readPromptsFile } from '../convert/format';
import { synthEvalSequences, writeSynthBop, writeSynthNocs } from '../fixtures';
import { readPairRecordsFile } from '../protocol/jsonl';
import { runEvaluation } from './runner';
import type { EvalRunConfig } from './evaluator';

const ANALYTIC = path.join(__dirname, '../../../test/models/tiny-analytic');

/** tiny-analytic with a 96-px network input (its 8-px patches at the default 32 px are too coarse at 160x120). */
function analytic96(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(ANALYTIC)) fs.copyFileSync(path.join(ANALYTIC, f), path.join(dir, f));
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  mj.image.input_size = [96, 96];
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(mj));
  return dir;
}

describe('declip eval run end to end (synthetic BOP and NOCS datasets)', () => {
  let tmp: string;
  let bop: string;
  let nocs: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evalrun-'));
    const seqs = synthEvalSequences({ scenes: 2, framesPerScene: 2 });
    const b = await writeSynthBop(path.join(tmp, 'bop-src'), seqs);
    bop = path.join(tmp, 'bop');
    await convertBop({ srcDir: b.root, outDir: bop, dataset: 'toyl', prompts: readPromptsFile(b.prompts) });
    const n = await writeSynthNocs(path.join(tmp, 'nocs-src'), seqs, { pickles: true });
    nocs = path.join(tmp, 'nocs');
    await convertReal275({ srcDir: n.root, outDir: nocs, prompts: readPromptsFile(n.prompts) });
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const base = (bagsDir: string, over: Partial<EvalRunConfig> = {}): EvalRunConfig => ({
    bagsDir,
    protocol: 'oryon',
    pairs: 6,
    seed: 1,
    masks: 'oracle',
    vsd: true,
    maxModelPoints: 300,
    ...over,
  });

  it('Oryon, oracle masks (TOYL-like BOP): records, aggregate, report; resume adds nothing', async () => {
    const out = path.join(tmp, 'out-oracle');
    const s = await runEvaluation(base(bop, { dataset: 'toyl' }), { outDir: out, thumbnails: 2 });
    expect(s.tasks).toBe(6);
    expect(s.evaluated).toBe(6);
    const recs = readPairRecordsFile(s.resultsPath).records;
    expect(recs.length).toBe(6);
    for (const r of recs) {
      expect(r.iouAnchor).toBe(1);
      expect(r.pairId).toMatch(/->/);
    }
    expect(s.aggregate.mask.meanIou).toBe(1);
    expect(s.nocs).toBeNull(); // BOP data has no NOCS classes
    expect(s.aggregate.ar).toBeGreaterThanOrEqual(0);
    expect(s.aggregate.ar).toBeLessThanOrEqual(1);
    const html = fs.readFileSync(s.reportPath, 'utf8');
    expect(html).toContain('<svg');
    expect((html.match(/data:image\/png;base64/g) ?? []).length).toBe(4);
    // the report opens in a real browser: headless Chromium screenshot, not blank
    const png = path.join(out, 'report.png');
    execFileSync('bash', [
      path.join(__dirname, '../../../scripts/report-screenshot.sh'),
      s.reportPath,
      png,
      '1000',
      '1400',
    ]);
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(1000);
    let dark = 0;
    let blue = 0;
    for (let i = 0; i < data.length; i += 3) {
      if (data[i] + data[i + 1] + data[i + 2] < 300) dark++; // text, axes, thumbnails
      if (data[i + 2] > 150 && data[i] < 80 && data[i + 1] < 160) blue++; // plot bars/lines (#1f77b4)
    }
    expect(dark / (data.length / 3)).toBeGreaterThan(0.01);
    expect(blue).toBeGreaterThan(200);
    const again = await runEvaluation(base(bop, { dataset: 'toyl' }), { outDir: out, thumbnails: 0 });
    expect(again.resumed).toBe(6);
    expect(again.evaluated).toBe(0);
    expect(fs.readFileSync(s.resultsPath, 'utf8').trim().split('\n').length).toBe(6);
    await expect(runEvaluation(base(bop, { seed: 2 }), { outDir: out })).rejects.toThrow(
      /different settings \(seed\)/,
    );
  });

  it('Oryon, predicted masks by the node pipeline (REAL275-like NOCS), 2 worker processes', async () => {
    const out = path.join(tmp, 'out-pred');
    const model = analytic96(path.join(tmp, 'analytic96'));
    const s = await runEvaluation(base(nocs, { dataset: 'real275', masks: 'predicted', modelPath: model }), {
      outDir: out,
      workers: 2,
      thumbnails: 1,
    });
    expect(s.tasks).toBe(6);
    const recs = readPairRecordsFile(s.resultsPath).records;
    expect(new Set(recs.map((r) => r.pairId)).size).toBe(6);
    // predicted masks of the analytic colour model overlap the GT masks
    expect(s.aggregate.mask.meanIou).toBeGreaterThan(0.3);
    expect(s.aggregate.mask.meanIou).toBeLessThan(1);
    // REAL275 runs also report the NOCS category-level mAP
    expect(s.nocs?.iouThresholds).toEqual([0.25, 0.5]);
    const classes = s.nocs?.perClass.map((c) => c.name) ?? [];
    expect(classes.length).toBeGreaterThan(0);
    for (const c of classes) expect(['bottle', 'bowl', 'mug']).toContain(c);
    expect(fs.readFileSync(s.reportPath, 'utf8')).toContain('NOCS category-level mAP');
    // poses come from the node's anchor mode
    expect(recs.every((r) => r.extra?.pipeline === 'node')).toBe(true);
    // (with a 12x16 feature grid the node's anchor matcher finds few correspondences: failures are recorded
    // with the node's reason and count as failures)
    for (const r of recs) {
      if (r.status === 'missing') expect(String(r.extra?.failure)).toMatch(/[a-z-]+: /);
      else expect(r.errors?.reDeg).toBeGreaterThanOrEqual(0);
    }
  });

  it('Oryon on NOCS with oracle masks, and on BOP with node-predicted masks (the full variant matrix)', async () => {
    const o = await runEvaluation(base(nocs, { pairs: 3, vsd: false }), {
      outDir: path.join(tmp, 'out-nocs-oracle'),
      thumbnails: 0,
    });
    expect(o.aggregate.count).toBe(3);
    expect(o.aggregate.mask.meanIou).toBe(1);
    expect(o.nocs).not.toBeNull();
    const model = analytic96(path.join(tmp, 'analytic96-b'));
    const p = await runEvaluation(base(bop, { pairs: 3, vsd: false, masks: 'predicted', modelPath: model }), {
      outDir: path.join(tmp, 'out-bop-pred'),
      thumbnails: 0,
    });
    expect(p.aggregate.count).toBe(3);
    expect(p.aggregate.mask.meanIou).toBeGreaterThan(0.3);
  });

  it('Oryon, predicted masks by the Perceiver (inputSize override), in process', async () => {
    const out = path.join(tmp, 'out-pred-perceiver');
    const cfg = base(bop, {
      masks: 'predicted',
      predictedBy: 'perceiver',
      modelPath: ANALYTIC,
      inputSize: 96,
    });
    const s = await runEvaluation({ ...cfg, pairs: 3 }, { outDir: out, thumbnails: 0 });
    expect(s.tasks).toBe(3);
    expect(s.aggregate.mask.meanIou).toBeGreaterThan(0.3);
  });

  it('an abort (SIGINT in the CLI) stops after the task in progress, keeps the records and resumes', async () => {
    const out = path.join(tmp, 'out-abort');
    const signal = { aborted: false };
    const cfg = base(bop, { vsd: false, seed: 5 });
    const s = await runEvaluation(cfg, {
      outDir: out,
      thumbnails: 0,
      signal,
      onProgress: (p) => {
        if (p.done >= 2) signal.aborted = true;
      },
    });
    expect(s.interrupted).toBe(true);
    expect(s.aggregate.count).toBe(2);
    expect(fs.existsSync(s.reportPath)).toBe(true);
    const r = await runEvaluation(cfg, { outDir: out, thumbnails: 0 });
    expect(r.interrupted).toBe(false);
    expect(r.resumed).toBe(2);
    expect(r.evaluated).toBe(4);
  });

  it('BOP single-view protocol with models', async () => {
    const out = path.join(tmp, 'out-bop');
    const s = await runEvaluation(base(bop, { protocol: 'bop', pairs: 4, vsd: false }), {
      outDir: out,
      thumbnails: 1,
    });
    expect(s.tasks).toBe(4);
    const recs = readPairRecordsFile(s.resultsPath).records;
    expect(recs.every((r) => !r.pairId.includes('->'))).toBe(true);
    expect(s.aggregate.mssd).toBeGreaterThan(0); // model-mode registration on clean synthetic depth works
  });
});
