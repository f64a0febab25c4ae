/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ExecutionProviderError, ModelPackageError } from './errors';
import { loadModelPackage, loadTokenizer, sha256File, validateManifest } from './package';
import {
  OnnxModel,
  OrtSessionLike,
  PerceptionLogger,
  SessionFactory,
  ortSessionFactory,
  providerOrder,
} from './session';

const MODELS = path.resolve(__dirname, '../../test/models');
const TINY = path.join(MODELS, 'tiny-random');

function copyPackage(src = TINY): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pkg-'));
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
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
function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('loadModelPackage', () => {
  it('loads the tiny package with real sha256 and builds its word tokenizer', () => {
    const pkg = loadModelPackage(TINY);
    expect(pkg.manifest.name).toBe('tiny-random');
    expect(sha256File(pkg.paths.imageEncoder)).toBe(pkg.manifest.files.image_encoder.sha256);
    const tok = loadTokenizer(pkg);
    expect(tok.tokenize('red mug').ids.slice(0, 4)).toEqual([18, 2, 5, 19]);
  });

  it('names the missing ONNX file and says to re-export', () => {
    const dir = copyPackage();
    fs.unlinkSync(path.join(dir, 'text_encoder.onnx'));
    const e = errorOf(() => loadModelPackage(dir));
    expect(e).toBeInstanceOf(ModelPackageError);
    expect((e as ModelPackageError).file).toBe('text_encoder.onnx');
    expect(e.message).toMatch(/text_encoder\.onnx: missing .*re-export/);
  });

  it('detects a sha256 mismatch (modified file)', () => {
    const dir = copyPackage();
    const f = path.join(dir, 'image_encoder.onnx');
    const b = fs.readFileSync(f);
    b[b.length - 5] ^= 0xff;
    fs.writeFileSync(f, b);
    expect(() => loadModelPackage(dir)).toThrow(
      /the sha256 in model.json .* does not match image_encoder.onnx .*: the file was modified or truncated; re-download or re-export/,
    );
  });

  it('reports a missing model.json, a missing vocab and bad manifest fields by name', () => {
    const dir = copyPackage();
    fs.unlinkSync(path.join(dir, 'vocab.txt'));
    expect(() => loadModelPackage(dir)).toThrow(
      /vocab.txt \(tokenizer.vocab_file\): tokenizer vocabulary missing/,
    );
    fs.unlinkSync(path.join(dir, 'model.json'));
    expect(() => loadModelPackage(dir)).toThrow(/model.json: missing/);
    const m = JSON.parse(fs.readFileSync(path.join(TINY, 'model.json'), 'utf8'));
    expect(() => validateManifest({ ...m, image: { ...m.image, patch_size: 7 } })).toThrow(
      /image.input_size.*not a multiple of the patch size 7/,
    );
    expect(() => validateManifest({ ...m, architecture: 'vit' })).toThrow(/\(architecture\)/);
    expect(() => validateManifest({ ...m, architecture: 'proxyclip' })).toThrow(/\(files.vfm\): missing/);
    expect(() => validateManifest({ ...m, prompt_templates: ['no placeholder'] })).toThrow(
      /prompt_templates/,
    );
    expect(() => validateManifest({ ...m, background_logit_offset: 'low' })).toThrow(
      /\(background_logit_offset\): must be a finite number/,
    );
    expect(() => validateManifest({ ...m, background_logit_offset: -1.5 })).not.toThrow();
    expect(() =>
      validateManifest({
        ...m,
        files: { ...m.files, text_encoder: { ...m.files.text_encoder, sha256: 'xyz' } },
      }),
    ).toThrow(/files.text_encoder.sha256/);
  });
});

describe('OnnxModel (CPU-only machine)', () => {
  const pkg = loadModelPackage(TINY);

  it('auto ends on cpu and records why cuda and webgpu failed', async () => {
    const log = capture();
    const m = await OnnxModel.load(
      pkg.paths.imageEncoder,
      pkg.manifest.files.image_encoder,
      'image_encoder',
      { device: 'auto', logger: log, intraOpThreads: 1 },
    );
    expect(m.device).toBe('cpu');
    expect(m.attempts.map((a) => [a.device, a.ok])).toEqual([
      ['cuda', false],
      ['webgpu', false],
      ['cpu', true],
    ]);
    expect(m.attempts[0].reason).toMatch(/Cuda|CUDA|shared library/);
    expect(m.attempts[1].reason).toMatch(/WebGPU|adapter|webgpu/i);
    expect(
      log.lines.some((l) => l.startsWith('warn image_encoder.onnx: running on cpu; cuda unavailable')),
    ).toBe(true);
    const out = await m.run({ pixels: { data: new Float32Array(3 * 16 * 24), dims: [1, 3, 16, 24] } });
    expect(out.dense_features.dims).toEqual([1, 2, 3, 16]);
    expect(out.global_embedding.dims).toEqual([1, 16]);
    await m.release();
  });

  it('an explicit unavailable device fails with the reason and a hint', async () => {
    await expect(
      OnnxModel.load(pkg.paths.imageEncoder, pkg.manifest.files.image_encoder, 'image_encoder', {
        device: 'cuda',
        logger: capture(),
      }),
    ).rejects.toThrow(ExecutionProviderError);
    await expect(
      OnnxModel.load(pkg.paths.imageEncoder, pkg.manifest.files.image_encoder, 'image_encoder', {
        device: 'webgpu',
        logger: capture(),
      }),
    ).rejects.toThrow(/webgpu: .*try --device auto or --device cpu/);
    expect(() => providerOrder('tpu' as never)).toThrow(/device: "tpu" is not one of/);
  });

  it('a truncated ONNX file whose hash was updated fails at load, naming the file', async () => {
    const dir = copyPackage();
    const f = path.join(dir, 'image_encoder.onnx');
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 3000));
    editManifest(dir, (m) => (m.files.image_encoder.sha256 = sha256File(f)));
    const p = loadModelPackage(dir);
    const err = await OnnxModel.load(p.paths.imageEncoder, p.manifest.files.image_encoder, 'image_encoder', {
      device: 'cpu',
      logger: capture(),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toMatch(/image_encoder.onnx: onnxruntime cannot parse the file .*truncated/);
  });

  it('rejects graph input names, dtypes and ranks that differ from model.json', async () => {
    const spec = pkg.manifest.files.image_encoder;
    const load = (
      s: typeof spec,
      role: 'image_encoder' | 'text_encoder' = 'image_encoder',
      file = pkg.paths.imageEncoder,
    ) => OnnxModel.load(file, s, role, { device: 'cpu', logger: capture() }).catch((e) => e);
    const e1 = await load({ ...spec, inputs: ['image'] });
    expect(e1).toBeInstanceOf(ModelPackageError);
    expect(e1.message).toMatch(
      /image_encoder.onnx \(files.image_encoder.inputs\): graph inputs are \[pixels\] but model.json lists \[image\]/,
    );
    const e2 = await load({ ...spec, dtype: 'float16' });
    expect(e2.message).toMatch(/input 'pixels' is float32 but model.json says float16/);
    const e3 = await load(
      {
        ...pkg.manifest.files.text_encoder,
        inputs: ['pixels'],
        outputs: ['dense_features', 'global_embedding'],
      },
      'text_encoder',
    );
    expect(e3.message).toMatch(/rank 4 .*needs rank 2/);
  });

  it('converts fp16 graphs at the edges (float32 in and out) close to the fp32 graph', async () => {
    const p16 = loadModelPackage(path.join(MODELS, 'tiny-random-fp16'));
    const opts = { device: 'cpu' as const, logger: capture() };
    const m32 = await OnnxModel.load(
      pkg.paths.imageEncoder,
      pkg.manifest.files.image_encoder,
      'image_encoder',
      opts,
    );
    const m16 = await OnnxModel.load(
      p16.paths.imageEncoder,
      p16.manifest.files.image_encoder,
      'image_encoder',
      opts,
    );
    const px = new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
    const a = await m32.run({ pixels: { data: px, dims: [1, 3, 32, 32] } });
    const b = await m16.run({ pixels: { data: px, dims: [1, 3, 32, 32] } });
    expect(b.dense_features.data).toBeInstanceOf(Float32Array);
    let maxDiff = 0;
    for (let i = 0; i < a.dense_features.data.length; i++) {
      maxDiff = Math.max(
        maxDiff,
        Math.abs((a.dense_features.data[i] as number) - (b.dense_features.data[i] as number)),
      );
    }
    expect(maxDiff).toBeLessThan(0.02);
    const t16 = await OnnxModel.load(
      p16.paths.textEncoder,
      p16.manifest.files.text_encoder,
      'text_encoder',
      opts,
    );
    const ids = new Int32Array(77);
    ids.set([18, 2, 19]);
    const t = await t16.run({ input_ids: { data: ids, dims: [1, 77] } });
    expect(t.text_embeddings.dims).toEqual([1, 16]);
    const n = Math.hypot(...Array.from(t.text_embeddings.data as Float32Array));
    expect(Math.abs(n - 1)).toBeLessThan(0.005);
  });

  it('falls back to cpu with a warning when the GPU provider fails during run()', async () => {
    const log = capture();
    let gpuRuns = 0;
    const factory: SessionFactory = async (model, device, options) => {
      if (device === 'cuda') throw new Error('injected: CUDA driver missing');
      const real = await ortSessionFactory(model, 'cpu', options);
      if (device === 'cpu') return real;
      const fake: OrtSessionLike = {
        inputNames: real.inputNames,
        outputNames: real.outputNames,
        inputMetadata: real.inputMetadata,
        outputMetadata: real.outputMetadata,
        run: async () => {
          gpuRuns++;
          throw new Error('injected: device lost');
        },
      };
      return fake;
    };
    const m = await OnnxModel.load(
      pkg.paths.imageEncoder,
      pkg.manifest.files.image_encoder,
      'image_encoder',
      { device: 'auto', logger: log, sessionFactory: factory },
    );
    expect(m.device).toBe('webgpu');
    const out = await m.run({ pixels: { data: new Float32Array(3 * 16 * 16), dims: [1, 3, 16, 16] } });
    expect(gpuRuns).toBe(1);
    expect(m.device).toBe('cpu');
    expect(out.dense_features.dims).toEqual([1, 2, 2, 16]);
    expect(
      log.lines.some((l) =>
        /warn image_encoder.onnx: inference failed on webgpu \(injected: device lost\); falling back to cpu/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(m.attempts.map((a) => `${a.device}:${a.ok}`)).toEqual([
      'cuda:false',
      'webgpu:true',
      'webgpu:false',
      'cpu:true',
    ]);
  });
});
