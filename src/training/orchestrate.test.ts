import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createBagWriter } from '../bag';
import { depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../bag/image';
import { runCli } from '../cli/main';
import type { RgbImage } from '../types';
import { readManifest } from './dataset';
import { runTraining, TrainingError, validateTrainOptions, type TrainOptions } from './orchestrate';
import { checkPython, PythonEnvError, type PyEvent } from './python';
import { lineChartSvg, readMetrics } from './report';

const W = 80;
const H = 60;

/** Coloured discs and boxes that move between frames, with their instance mask. */
function scene(i: number): { rgb: RgbImage; mask: Uint16Array } {
  const data = new Uint8Array(W * H * 3);
  const mask = new Uint16Array(W * H);
  const objs = [
    { cx: 20 + 3 * i, cy: 20, r: 10, c: [220, 40, 40] },
    { cx: 55, cy: 38 - 2 * i, r: 12, c: [40, 60, 220] },
  ];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = 3 * (y * W + x);
      data[k] = 90 + ((x * 3 + i * 7) % 40);
      data[k + 1] = 120 + ((y * 5) % 30);
      data[k + 2] = 70;
      objs.forEach((o, j) => {
        const inside =
          j === 0
            ? (x - o.cx) ** 2 + (y - o.cy) ** 2 < o.r ** 2
            : Math.abs(x - o.cx) < o.r && Math.abs(y - o.cy) < o.r;
        if (inside) {
          data.set(o.c, k);
          mask[y * W + x] = j + 1;
        }
      });
    }
  }
  return { rgb: { width: W, height: H, data }, mask };
}

let tmp: string;
let data: string;
const TRAINER = {
  steps: 6,
  batch_size: 2,
  student_min_size: 64,
  student_max_size: 80,
  crop_size: 32,
  max_crops: 4,
  checkpoint_every: 3,
  threads: 1,
  lr: 1e-3,
  eval_max_frames: 4,
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-train-'));
  const bag = path.join(tmp, 'scenes');
  const w = await createBagWriter(bag);
  await w.addTopic('/camera/color/image_raw', 'sensor_msgs/msg/Image');
  await w.addTopic('/ground_truth/instance_mask', 'sensor_msgs/msg/Image');
  for (let i = 0; i < 8; i++) {
    const ns = 1_700_000_000_000_000_000n + BigInt(i) * 500_000_000n;
    const hdr = headerFromNs(ns, 'cam');
    const s = scene(i);
    await w.write('/camera/color/image_raw', ns, rgbToImageMsg(s.rgb, hdr));
    await w.write('/ground_truth/instance_mask', ns, depthMmToImageMsg(s.mask, W, H, hdr));
  }
  await w.close();
  data = path.join(tmp, 'data');
  const code = await runCli(['collect', '--bag', bag, '--out', data, '--every', '0.5', '--json']);
  expect(code).toBe(0);
  fs.writeFileSync(path.join(tmp, 'words.txt'), 'red\nblue\ndisc\nbox\n');
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function opts(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data,
    out,
    backbone: 'tiny',
    randomInit: true,
    vfmBackbone: 'tiny-dinov2-reg',
    vfmRandomInit: true,
    device: 'cpu',
    trainer: TRAINER,
    wordVocab: path.join(tmp, 'words.txt'),
    ...extra,
  };
}

describe('declip train (end to end, tiny)', () => {
  it('trains, exports a package with parity and training provenance, writes the report, resumes', async () => {
    expect(readManifest(data)).toHaveLength(8);
    const out = path.join(tmp, 'run');
    const events: PyEvent[] = [];
    const r = await runTraining(
      opts(out, { contextTeachers: ['vfm', 'mask-affinity,weight=0.1'], onEvent: (e) => events.push(e) }),
    );
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('start');
    expect(kinds.filter((k) => k === 'step')).toHaveLength(6);
    expect(kinds.filter((k) => k === 'checkpoint')).toHaveLength(2);
    expect(kinds).toEqual(expect.arrayContaining(['eval', 'done', 'export']));
    const step = events.find((e) => e.event === 'step')!;
    expect(Object.keys(step.terms as object).sort()).toEqual([
      'content',
      'context[mask-affinity,weight=0.1]',
      'context[vfm]',
      'region',
    ]);
    expect(typeof step.its).toBe('number');
    // package: ONNX files, parity passed, provenance with the training record
    const manifest = JSON.parse(fs.readFileSync(path.join(r.packageDir!, 'model.json'), 'utf8'));
    expect(manifest.architecture).toBe('declip-csa');
    expect(manifest.provenance.parity.image_encoder.passed).toBe(true);
    expect(manifest.provenance.teachers).toEqual(['vfm:tiny-dinov2-reg', 'mask-affinity']);
    expect(manifest.provenance.data).toBe(path.resolve(data));
    expect(manifest.provenance.training).toMatchObject({ steps: 6, frames: 8, arch: 'declip-csa' });
    expect(fs.existsSync(path.join(r.packageDir!, 'image_encoder.onnx'))).toBe(true);
    // report: loss curves and before/after evaluation (masks exist, so mask mIoU is reported)
    const rep = JSON.parse(fs.readFileSync(r.report.json, 'utf8'));
    expect(rep.curves.step).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Object.keys(rep.curves.terms)).toContain('content');
    expect(rep.eval.before.mask_miou).toBeGreaterThan(0);
    expect(rep.eval.after.corr_agreement).toBeGreaterThan(-1);
    const html = fs.readFileSync(r.report.html, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('mask mIoU');
    expect(readMetrics(out)).toHaveLength(6);
    // re-running the finished run resumes from its last checkpoint and trains no further step
    const again: PyEvent[] = [];
    const r2 = await runTraining(
      opts(out, {
        contextTeachers: ['vfm', 'mask-affinity,weight=0.1'],
        export: false,
        onEvent: (e) => again.push(e),
      }),
    );
    expect(again[0]).toMatchObject({ event: 'start', resumed: true, step: 6 });
    expect(again.filter((e) => e.event === 'step')).toHaveLength(0);
    expect(r2.steps).toBe(6);
    // ... and refuses another configuration in the same directory
    await expect(
      runTraining(opts(out, { export: false, trainer: { ...TRAINER, lr: 5e-3 } })),
    ).rejects.toMatchObject({
      code: 'checkpoint-mismatch',
    });
  });

  it('fails early with errors that say how to fix them', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    fs.writeFileSync(path.join(empty, 'manifest.jsonl'), '');
    expect(() => validateTrainOptions(opts(path.join(tmp, 'x'), { data: empty }))).toThrow(
      /empty[\s\S]*declip collect/,
    );
    const pkg = path.join(tmp, 'pkg');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'model.json'), '{}');
    let err: unknown;
    try {
      validateTrainOptions(opts(path.join(tmp, 'x'), { randomInit: false, base: pkg }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as TrainingError).code).toBe('onnx-base');
    expect((err as Error).message).toMatch(/original PyTorch checkpoint/);
    expect(() => validateTrainOptions(opts(path.join(tmp, 'x'), { wordVocab: undefined }))).toThrow(
      /--bpe-vocab|--no-export/,
    );
    expect(() => checkPython('/nonexistent/python3')).toThrow(PythonEnvError);
    expect(() => checkPython('/nonexistent/python3')).toThrow(
      /apt-get install python3-torch[\s\S]*setup-python\.sh/,
    );
    if (!checkPython().cuda) {
      await expect(runTraining(opts(path.join(tmp, 'y'), { device: 'cuda' }))).rejects.toMatchObject({
        code: 'cuda-unavailable',
      });
    }
    // through the CLI: exit code 3 (bad input) and nothing trained
    expect(
      await runCli([
        'train',
        '--data',
        empty,
        '--out',
        path.join(tmp, 'z'),
        '--random-init',
        '--backbone',
        'tiny',
        '--no-export',
      ]),
    ).toBe(3);
    expect(fs.existsSync(path.join(tmp, 'z'))).toBe(false);
  });

  it('draws loss curves as SVG', () => {
    const svg = lineChartSvg('loss', [1, 2, 3], { a: [3, 2, 1], b: [1, NaN, 2] }, { smoothWindow: 2 });
    expect(svg).toMatch(/^<svg/);
    expect((svg.match(/<polyline/g) ?? []).length).toBe(4);
    expect(lineChartSvg('empty', [], {})).toContain('no data');
  });
});
