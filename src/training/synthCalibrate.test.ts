/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { calibrateBackground, subsets, writeCalibration } from './synthCalibrate';
import { writeSynthDataset } from './synthData';
import { evaluateSynthMasks } from './synthDataEval';
import { Perceiver } from '../perception';

const MODEL = path.resolve(__dirname, '..', '..', 'models', 'tiny-synth');
const quiet = { info: () => undefined, warn: () => undefined };

describe('background calibration on training frames', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calib-'));
    writeSynthDataset({
      out: path.join(dir, 'data'),
      seed: 5,
      trainScenes: 3,
      viewsPerScene: 1,
      evalScenes: 1,
      trainWidth: 160,
      trainHeight: 120,
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('subsets lists every subset once, the empty one first', () => {
    const s = subsets(['a', 'b', 'c']);
    expect(s.length).toBe(8);
    expect(s[0]).toEqual([]);
    expect(new Set(s.map((x) => x.join(','))).size).toBe(8);
  });

  test('scores every setting with the runtime mask path; the current one equals evaluateSynthMasks; the written package loads and uses it', async () => {
    const data = path.join(dir, 'data');
    const r = await calibrateBackground(MODEL, data, {
      maxFrames: 3,
      perceiver: { device: 'cpu', logger: quiet },
    });
    expect(r.split).toBe('train');
    expect(r.frames).toBe(3);
    expect(r.queries).toBeGreaterThan(3);
    expect(r.grid.length).toBe(16 * 9);
    for (let i = 1; i < r.grid.length; i++) expect(r.grid[i - 1].miou).toBeGreaterThanOrEqual(r.grid[i].miou);
    expect(r.best).toEqual(r.grid[0]);
    // the package's own setting, scored by the calibration, equals the evaluation's single-query mIoU
    const m = JSON.parse(fs.readFileSync(path.join(MODEL, 'model.json'), 'utf8'));
    expect(r.current.backgroundPrompts).toEqual(m.background_prompts);
    expect(r.current.backgroundLogitOffset).toBe(m.background_logit_offset ?? 0);
    const ev = await evaluateSynthMasks(MODEL, data, {
      split: 'train',
      maxFrames: 3,
      modes: ['single'],
      perceiver: { device: 'cpu', logger: quiet },
    });
    expect(ev.single.all.queries).toBe(r.queries);
    expect(r.current.miou).toBeCloseTo(ev.single.all.miou, 9);
    expect(r.best.miou).toBeGreaterThanOrEqual(r.current.miou);
    // written into a copy of the package: it validates, and Perceiver.segment applies it
    const pkg = path.join(dir, 'pkg');
    fs.cpSync(MODEL, pkg, { recursive: true });
    const forced = { ...r, best: { backgroundPrompts: ['table'], backgroundLogitOffset: 40, miou: 0 } };
    writeCalibration(pkg, forced);
    const w = JSON.parse(fs.readFileSync(path.join(pkg, 'model.json'), 'utf8'));
    expect(w.background_prompts).toEqual(['table']);
    expect(w.background_logit_offset).toBe(40);
    expect(w.provenance.background_calibration.settings_tried).toBe(144);
    const p = await Perceiver.load(pkg, { device: 'cpu', logger: quiet });
    try {
      const img = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(200) };
      // an offset of 40 logits: the background wins every pixel
      const seg = await p.segment(img, ['red mug']);
      expect(seg.masks[0].reduce((a, b) => a + b, 0)).toBe(0);
      const seg2 = await p.segment(img, ['red mug'], { backgroundLogitOffset: -40 });
      expect(seg2.masks[0].reduce((a, b) => a + b, 0)).toBe(64 * 48);
    } finally {
      await p.release();
    }
  });
});
