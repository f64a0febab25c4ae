/**
 * Fuzzing the perception front end (fast-check): resize planning and preprocessing with random sizes, steps,
 * encodings and data lengths (including huge and extreme-aspect frames), and the tokenizers with empty, long,
 * non-ASCII and broken-surrogate text. Property: a result of the advertised shape or a typed error, and no
 * allocation sized by a bad header.
 */
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { PerceptionInputError, TokenizerError } from './errors';
import { MAX_INPUT_AREA_FACTOR, planResize, preprocessImage, type ResizeOptions } from './preprocess';
import { ClipBpeTokenizer, WordTokenizer, type Tokenizer } from './tokenizer';

type ResizePolicy = ResizeOptions['policy'];

const SEED = 20261202;
const MEAN = [0.5, 0.5, 0.5] as const;
const STD = [0.25, 0.25, 0.25] as const;

const options = fc.record({
  policy: fc.constantFrom<ResizePolicy>('short_side', 'long_side', 'fixed'),
  side: fc.constantFrom(16, 32, 48),
  patchSize: fc.constantFrom(8, 16),
  letterbox: fc.boolean(),
  dynamicHw: fc.boolean(),
});

function resizeOptions(o: {
  policy: ResizePolicy;
  side: number;
  patchSize: number;
  letterbox: boolean;
  dynamicHw: boolean;
}): ResizeOptions {
  return {
    policy: o.policy,
    inputSize: [o.side, o.side],
    patchSize: o.patchSize,
    letterbox: o.letterbox,
    dynamicHw: o.dynamicHw,
  };
}

describe('planResize / preprocessImage under random frames', () => {
  it('plans are patch-aligned and bounded, or a PerceptionInputError naming image.width/height', () => {
    const size = fc.oneof(
      fc.integer({ min: 1, max: 64 }),
      fc.constantFrom(0, -4, 1.5, NaN, 20000, 32768, 32769, 2 ** 31),
    );
    fc.assert(
      fc.property(size, size, options, (w, h, o) => {
        const opts = resizeOptions(o);
        try {
          const p = planResize(w, h, opts);
          expect(p.dstWidth % p.patchSize).toBe(0);
          expect(p.dstHeight % p.patchSize).toBe(0);
          expect(p.gridWidth * p.patchSize).toBe(p.dstWidth);
          expect(p.dstWidth * p.dstHeight).toBeLessThanOrEqual(MAX_INPUT_AREA_FACTOR * o.side * o.side);
          expect(p.contentX + p.contentWidth).toBeLessThanOrEqual(p.dstWidth);
          expect(p.contentY + p.contentHeight).toBeLessThanOrEqual(p.dstHeight);
        } catch (e) {
          expect(e).toBeInstanceOf(PerceptionInputError);
          expect((e as PerceptionInputError).field).toMatch(/^image\./);
        }
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });

  it('an extreme aspect ratio is refused instead of allocating a huge input', () => {
    const o: ResizeOptions = { policy: 'short_side', inputSize: [448, 448], patchSize: 16 };
    expect(() => planResize(32768, 1, o)).toThrow(/aspect ratio is extreme/);
    expect(planResize(640, 480, o).dstWidth).toBe(592);
    expect(() => planResize(40000, 400, o)).toThrow(/exceeds 32768 pixels per side/);
  });

  it('preprocessImage: NCHW output of the plan size, or PerceptionInputError for bad step/data/encoding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.constantFrom('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '16UC1', 'yuv422', ''),
        fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
        fc.integer({ min: 0, max: 2400 }),
        options,
        (w, h, encoding, step, len, o) => {
          const data = new Uint8Array(len).map((_, i) => (i * 13) & 255);
          const img = { width: w, height: h, encoding, step, data };
          try {
            const plan = planResize(w, h, resizeOptions(o));
            const r = preprocessImage(img, plan, MEAN, STD);
            expect(r.pixels.length).toBe(3 * plan.dstWidth * plan.dstHeight);
            for (const v of r.pixels) {
              if (!Number.isFinite(v) || Math.abs(v) > 2.01) throw new Error(`bad normalised value ${v}`);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(PerceptionInputError);
            expect((e as PerceptionInputError).field).toMatch(
              /^(image\.(encoding|step|data|width\/height))$/,
            );
          }
        },
      ),
      { seed: SEED, numRuns: 600 },
    );
  });
});

describe('tokenizers under random text', () => {
  const tokenizers: [string, Tokenizer][] = [
    [
      'word',
      WordTokenizer.fromFile(path.resolve(__dirname, '../../test/models/tiny-random/vocab.txt'), {
        contextLength: 77,
        lowercase: true,
        sotId: 18,
        eotId: 19,
        unkId: 1,
        padId: 0,
      }),
    ],
  ];
  const bpe = path.resolve(__dirname, '../../../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  if (fs.existsSync(bpe)) tokenizers.push(['clip-bpe', ClipBpeTokenizer.fromFile(bpe)]);

  it.each(tokenizers)(
    '%s: empty, 10 kB, unicode and lone-surrogate text gives one context-length row or a TokenizerError',
    (_name, tok) => {
      const text = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.fullUnicodeString({ maxLength: 40 }),
        fc.constantFrom(
          '',
          ' ',
          'x'.repeat(10 * 1024),
          'ab '.repeat(3000),
          '\uD800',
          'a\uDFFFb',
          '\u0000\u0001',
        ),
      );
      fc.assert(
        fc.property(text, (t) => {
          try {
            const row = tok.tokenize(t);
            expect(row.ids).toHaveLength(77);
            expect(row.ids.every((i) => Number.isInteger(i) && i >= 0)).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(TokenizerError);
          }
        }),
        { seed: SEED, numRuns: 400 },
      );
    },
  );
});
