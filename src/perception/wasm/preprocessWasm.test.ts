import { planResize, preprocessImage, PreprocessScratch, RawImage } from '../preprocess';
import { SeededRng } from '../../geometry/rng';

const MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
const CHANNELS: Record<string, number> = { rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono8: 1 };

/** Random pixels, `pad` bytes of row padding (random too), and no padding after the last row. */
function noise(rng: SeededRng, w: number, h: number, encoding: string, pad: number): RawImage {
  const step = w * CHANNELS[encoding] + pad;
  const data = new Uint8Array(step * (h - 1) + w * CHANNELS[encoding]).map(() =>
    Math.floor(rng.next() * 256),
  );
  return { width: w, height: h, encoding, step, data };
}

describe('preprocess in WebAssembly SIMD (wasm/preprocess.wat)', () => {
  it('equals the TypeScript passes for every encoding, row padding, up / down scales and letterbox', () => {
    const rng = new SeededRng(3);
    const cases: [number, number, 'short_side' | 'long_side' | 'fixed', number, boolean][] = [
      [640, 480, 'short_side', 448, false], // 592x448, 3 taps
      [640, 480, 'fixed', 224, false], // 2.9x down: 7 taps
      [97, 61, 'short_side', 224, false], // upscale, odd sizes (a 4-pixel tail per row)
      [300, 170, 'long_side', 224, true], // letterbox
      [64, 48, 'fixed', 64, false], // 1 tap horizontally (64 -> 64), 2 vertically (48 -> 64)
    ];
    let compared = 0;
    for (const [w, h, policy, size, letterbox] of cases) {
      for (const encoding of Object.keys(CHANNELS)) {
        const img = noise(rng, w, h, encoding, encoding === 'rgb8' ? 5 : 0);
        const plan = planResize(w, h, { policy, inputSize: [size, size], patchSize: 16, letterbox });
        const wasm = preprocessImage(img, plan, MEAN, STD, {});
        const js = preprocessImage(img, plan, MEAN, STD, { engine: 'js' });
        expect(wasm.dims).toEqual(js.dims);
        let maxDiff = 0;
        for (let i = 0; i < js.pixels.length; i++)
          maxDiff = Math.max(maxDiff, Math.abs(wasm.pixels[i] - js.pixels[i]));
        // float32 sums in another order: values span about [-1.8, 2.2]
        expect([w, h, policy, encoding, maxDiff < 2e-5]).toEqual([w, h, policy, encoding, true]);
        compared += js.pixels.length;
      }
    }
    expect(compared).toBeGreaterThan(5 * 3 * 592 * 448);
  });

  it('reuses its memory across frames (the output view is the same), and a new plan gets a new kernel', () => {
    const rng = new SeededRng(4);
    const plan = planResize(64, 48, { policy: 'short_side', inputSize: [32, 32], patchSize: 16 });
    const scratch: PreprocessScratch = {};
    const a = noise(rng, 64, 48, 'rgb8', 0);
    const b = noise(rng, 64, 48, 'rgb8', 0);
    const ra = Float32Array.from(preprocessImage(a, plan, MEAN, STD, scratch).pixels);
    const kernel = scratch.kernel;
    const rb = preprocessImage(b, plan, MEAN, STD, scratch);
    expect(scratch.kernel).toBe(kernel);
    expect(Array.from(rb.pixels)).not.toEqual(Array.from(ra));
    expect(Array.from(preprocessImage(a, plan, MEAN, STD, scratch).pixels)).toEqual(Array.from(ra));
    const plan2 = planResize(64, 48, { policy: 'short_side', inputSize: [48, 48], patchSize: 16 });
    preprocessImage(a, plan2, MEAN, STD, scratch);
    expect(scratch.kernel).not.toBe(kernel);
  });
});
