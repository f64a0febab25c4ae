/**
 * Perception benchmarks (not tests). Run from the repo root:
 *   npx tsc -p tsconfig.json --outDir /tmp/pb && NODE_PATH=$PWD/node_modules node /tmp/pb/bench/perception.bench.js
 * Prints median wall times in ms (single JS thread; onnxruntime with 1 intra-op thread unless noted).
 * Targets (issue 3): preprocess 640x480 rgb8 <= 3 ms; mask post-processing, 3 queries at 28x28 -> 640x480 <= 5 ms.
 */
import * as path from 'path';
import sharp from 'sharp';
import { masksFromDenseFeatures } from '../src/perception/masks';
import { Perceiver } from '../src/perception/perceiver';
import { planResize, preprocessImage, PreprocessScratch } from '../src/perception/preprocess';
import { ClipBpeTokenizer } from '../src/perception/tokenizer';

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function time(label: string, reps: number, fn: () => unknown): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    await fn();
    ts.push(now() - t);
  }
  const m = median(ts);
  console.log(`${label.padEnd(64)} ${m.toFixed(3)} ms`);
  return m;
}

async function main(): Promise<void> {
  const W = 640;
  const H = 480;
  const rgb = new Uint8Array(W * H * 3).map((_, i) => (i * 2654435761) >>> 24);
  const mean: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
  const std: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
  const img = { width: W, height: H, encoding: 'rgb8', data: rgb };

  for (const [policy, size] of [
    ['short_side', 448],
    ['fixed', 224],
  ] as const) {
    const plan = planResize(W, H, { policy, inputSize: [size, size], patchSize: 16 });
    const scratch: PreprocessScratch = {};
    await time(
      `preprocess WebAssembly SIMD ${policy} ${size} -> ${plan.dstWidth}x${plan.dstHeight}`,
      50,
      () => preprocessImage(img, plan, mean, std, scratch),
    );
    const jsScratch: PreprocessScratch = { engine: 'js' };
    await time(`preprocess typed-array ${policy} ${size} -> ${plan.dstWidth}x${plan.dstHeight}`, 50, () =>
      preprocessImage(img, plan, mean, std, jsScratch),
    );
    const out = new Float32Array(3 * plan.dstWidth * plan.dstHeight);
    await time(`preprocess sharp resize + JS normalise ${plan.dstWidth}x${plan.dstHeight}`, 50, async () => {
      const { data } = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
        .resize(plan.dstWidth, plan.dstHeight, { fit: 'fill', kernel: 'linear' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      const plane = plan.dstWidth * plan.dstHeight;
      for (let i = 0; i < plane; i++) {
        out[i] = (data[i * 3] / 255 - mean[0]) / std[0];
        out[plane + i] = (data[i * 3 + 1] / 255 - mean[1]) / std[1];
        out[2 * plane + i] = (data[i * 3 + 2] / 255 - mean[2]) / std[2];
      }
    });
  }

  // Mask post-processing: 3 queries + 4 background prompts, 28x28 grid, D = 512, upsampled to 640x480.
  const plan = planResize(W, H, { policy: 'fixed', inputSize: [448, 448], patchSize: 16 });
  const D = 512;
  const P = 28 * 28;
  const feats = new Float32Array(P * D).map(() => Math.random() - 0.5);
  for (let p = 0; p < P; p++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += feats[p * D + d] ** 2;
    for (let d = 0; d < D; d++) feats[p * D + d] /= Math.sqrt(s);
  }
  const q = new Float32Array(3 * D).map(() => Math.random() - 0.5);
  const bg = new Float32Array(4 * D).map(() => Math.random() - 0.5);
  for (const engine of ['wasm', 'js'] as const) {
    await time(
      `mask post-processing 3 queries + 4 bg, 28x28x512 -> 640x480 (random features), ${engine}`,
      30,
      () =>
        masksFromDenseFeatures(
          { data: feats, gridHeight: 28, gridWidth: 28, dim: D },
          ['a', 'b', 'c'],
          q,
          bg,
          100,
          plan,
          { threshold: 0.3, minAreaPx: 64, engine },
        ),
    );
  }

  // Realistic case: piecewise-constant features (3 objects + background), as a trained model gives.
  const proto = [0, 1, 2, 3].map(() => {
    const v = new Float32Array(D).map(() => Math.random() - 0.5);
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  });
  const smooth = new Float32Array(P * D);
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const k =
        x > 3 && x < 10 && y > 5 && y < 15
          ? 0
          : x > 14 && x < 22 && y > 3 && y < 9
            ? 1
            : x > 15 && y > 18
              ? 2
              : 3;
      smooth.set(proto[k], (y * 28 + x) * D);
    }
  const qs = new Float32Array(3 * D);
  [0, 1, 2].forEach((k) => qs.set(proto[k], k * D));
  const bgs = new Float32Array(4 * D);
  for (let k = 0; k < 4; k++) bgs.set(proto[3], k * D);
  for (const engine of ['wasm', 'js'] as const) {
    await time(`mask post-processing, 3 objects (piecewise-constant features), ${engine}`, 30, () =>
      masksFromDenseFeatures(
        { data: smooth, gridHeight: 28, gridWidth: 28, dim: D },
        ['a', 'b', 'c'],
        qs,
        bgs,
        100,
        plan,
        { threshold: 0.5, minAreaPx: 64, engine },
      ),
    );
  }

  const bpe = ClipBpeTokenizer.fromFile(
    path.resolve(process.cwd(), '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz'),
  );
  let k = 0;
  await time('CLIP BPE tokenize (uncached words, ~8 tokens)', 200, () =>
    bpe.tokenize(`a photo of a red mug number ${k++} zx${k}q`),
  );

  const pkg = path.resolve(process.cwd(), 'test/models/tiny-random');
  const perceiver = await Perceiver.load(pkg, {
    device: 'cpu',
    intraOpThreads: 1,
    logger: { info: () => {}, warn: () => {} },
  });
  await time('Perceiver.segment tiny-random 640x480, 3 queries (cached text)', 20, () =>
    perceiver.segment({ width: W, height: H, data: rgb }, ['red mug', 'blue box', 'bottle']),
  );
  const r = await perceiver.segment({ width: W, height: H, data: rgb }, ['red mug', 'blue box', 'bottle']);
  console.log(
    '  stages (ms):',
    JSON.stringify(Object.fromEntries(Object.entries(r.timings).map(([a, b]) => [a, +b.toFixed(2)]))),
  );
  await perceiver.release();
}

void main();
