/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * Model-package faults through the Perceiver: a damaged package fails at load with a ModelPackageError naming
 * the file and field (never later, at frame time), and a GPU provider that dies mid-run falls back to CPU with
 * a warning, keeps answering, and gives the CPU result.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ModelPackageError } from './errors';
import { sha256File } from './package';
import { Perceiver } from './perceiver';
import {
  ortSessionFactory,
  type OrtSessionLike,
  type PerceptionLogger,
  type SessionFactory,
} from './session';

const TINY = path.resolve(__dirname, '../../test/models/tiny-random');

function copyPackage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pkgfault-'));
  for (const f of fs.readdirSync(TINY)) fs.copyFileSync(path.join(TINY, f), path.join(dir, f));
  return dir;
}
function editManifest(dir: string, edit: (m: any) => void): void {
  const p = path.join(dir, 'model.json');
  const m = JSON.parse(fs.readFileSync(p, 'utf8'));
  edit(m);
  fs.writeFileSync(p, JSON.stringify(m));
}
function capture(): PerceptionLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
}
const image = () => ({
  width: 48,
  height: 32,
  encoding: 'rgb8',
  data: new Uint8Array(48 * 32 * 3).map((_, i) => (i * 37) & 255),
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('damaged model packages fail at load', () => {
  it('truncated ONNX (hash not updated): sha256 mismatch naming the file and field', async () => {
    const dir = copyPackage();
    dirs.push(dir);
    const f = path.join(dir, 'text_encoder.onnx');
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 1000));
    const err = await Perceiver.load(dir, { device: 'cpu', logger: capture() }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.file).toBe('text_encoder.onnx');
    expect(err.field).toBe('files.text_encoder.sha256');
    expect(err.message).toMatch(/modified or truncated/);
  });

  it('truncated ONNX (hash updated to match): onnxruntime parse error at load, naming the file', async () => {
    const dir = copyPackage();
    dirs.push(dir);
    const f = path.join(dir, 'text_encoder.onnx');
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 1000));
    editManifest(dir, (m) => (m.files.text_encoder.sha256 = sha256File(f)));
    const err = await Perceiver.load(dir, { device: 'cpu', logger: capture() }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toMatch(/text_encoder.onnx: onnxruntime cannot parse the file/);
  });

  it('wrong input names in model.json: rejected at load with the graph names', async () => {
    const dir = copyPackage();
    dirs.push(dir);
    editManifest(dir, (m) => (m.files.image_encoder.inputs = ['image']));
    const err = await Perceiver.load(dir, { device: 'cpu', logger: capture() }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.field).toBe('files.image_encoder.inputs');
    expect(err.message).toMatch(/graph inputs are \[pixels\] but model.json lists \[image\]/);
  });
});

describe('GPU execution provider failing at run time', () => {
  it('falls back to CPU with one warning, keeps segmenting, and matches a CPU-only run', async () => {
    let gpuBroken = false;
    let gpuRuns = 0;
    const factory: SessionFactory = async (model, device, options) => {
      const real = await ortSessionFactory(model, 'cpu', options);
      if (device === 'cpu') return real;
      const gpu: OrtSessionLike = {
        inputNames: real.inputNames,
        outputNames: real.outputNames,
        inputMetadata: real.inputMetadata,
        outputMetadata: real.outputMetadata,
        run: async (feeds) => {
          gpuRuns++;
          if (gpuBroken) throw new Error('injected: CUDA error 700 (illegal address)');
          return real.run(feeds);
        },
      };
      return gpu;
    };
    const log = capture();
    const p = await Perceiver.load(TINY, { device: 'cuda', logger: log, sessionFactory: factory });
    const cpu = await Perceiver.load(TINY, { device: 'cpu', logger: capture() });
    const before = await p.segment(image(), ['red mug']);
    expect(before.instances2d).toBeDefined();
    gpuBroken = true;
    const runsAtBreak = gpuRuns;
    const a = await p.segment(image(), ['red mug', 'blue bowl']);
    const b = await p.segment(image(), ['red mug', 'blue bowl']);
    const ref = await cpu.segment(image(), ['red mug', 'blue bowl']);
    const warns = log.lines.filter((l) => /falling back to cpu/.test(l));
    expect(warns.length).toBeGreaterThanOrEqual(1);
    expect(warns[0]).toMatch(/inference failed on cuda \(injected: CUDA error 700/);
    // after the fallback the broken provider is not tried again
    const runsAfterFirst = gpuRuns;
    await p.segment(image(), ['red mug']);
    expect(gpuRuns).toBe(runsAfterFirst);
    expect(runsAfterFirst).toBeGreaterThan(runsAtBreak);
    for (const r of [a, b]) {
      expect(Array.from(r.denseFeatures.data as Float32Array)).toEqual(
        Array.from(ref.denseFeatures.data as Float32Array),
      );
    }
  });
});
