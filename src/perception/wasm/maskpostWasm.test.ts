import { masksFromDenseFeatures, maskRuns, similarityLogits, type MaskOptions } from '../masks';
import { planResize, type ResizeOptions } from '../preprocess';
import { MaskFrame } from './maskpostWasm';

/** Deterministic uniform numbers in [-0.5, 0.5). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

interface Case {
  W: number;
  H: number;
  gh: number;
  gw: number;
  Q: number;
  B: number;
  piecewise: boolean;
  scale: number;
  opts: MaskOptions;
  resize?: Partial<ResizeOptions>;
}

function run(c: Case, seed: number, engine: 'wasm' | 'js') {
  const rnd = lcg(seed);
  const D = 16;
  const P = c.gh * c.gw;
  const protos = Array.from({ length: c.Q + 1 }, () => unit(new Float32Array(D).map(rnd)));
  const data = new Float32Array(P * D);
  for (let p = 0; p < P; p++) {
    const k = (p * 7) % (2 * c.Q + 3);
    data.set(c.piecewise ? protos[k < c.Q ? k : c.Q] : unit(new Float32Array(D).map(rnd)), p * D);
  }
  const q = new Float32Array(c.Q * D);
  for (let k = 0; k < c.Q; k++) q.set(protos[k], k * D);
  const bg = new Float32Array(c.B * D);
  for (let k = 0; k < c.B; k++) bg.set(k === 0 ? protos[c.Q] : unit(new Float32Array(D).map(rnd)), k * D);
  const plan = planResize(c.W, c.H, {
    policy: 'fixed',
    inputSize: [c.gh * 16, c.gw * 16],
    patchSize: 16,
    ...c.resize,
  });
  return masksFromDenseFeatures(
    { data, gridHeight: plan.gridHeight, gridWidth: plan.gridWidth, dim: D },
    Array.from({ length: c.Q }, (_, k) => `q${k}`),
    q,
    bg,
    c.scale,
    plan,
    { ...c.opts, engine },
  );
}

/** Planar re-sizing changes the grid; the cases below build the features from the plan's grid. */
function gridOf(c: Case): Case {
  const plan = planResize(c.W, c.H, {
    policy: 'fixed',
    inputSize: [c.gh * 16, c.gw * 16],
    patchSize: 16,
    ...c.resize,
  });
  return { ...c, gh: plan.gridHeight, gw: plan.gridWidth };
}

/** A frame of a few pixels over a 2x2 grid with random features. */
function tiny(W: number, H: number, Q: number, B: number, threshold: number): Case {
  return { W, H, gh: 2, gw: 2, Q, B, piecewise: false, scale: 10, opts: { threshold, minAreaPx: 1 } };
}

describe('mask post-processing in WebAssembly (wasm/maskpost.wat)', () => {
  const cases: Case[] = [
    { W: 64, H: 48, gh: 6, gw: 8, Q: 3, B: 2, piecewise: true, scale: 20, opts: { threshold: 0.3 } },
    { W: 64, H: 48, gh: 6, gw: 8, Q: 3, B: 2, piecewise: false, scale: 20, opts: { threshold: 0.3 } },
    { W: 50, H: 37, gh: 5, gw: 7, Q: 3, B: 0, piecewise: true, scale: 20, opts: { threshold: 0.5 } },
    tiny(5, 9, 2, 1, 0.2),
    tiny(4, 4, 1, 0, 0.0),
    tiny(3, 7, 2, 1, 0.1),
    {
      W: 97,
      H: 61,
      gh: 6,
      gw: 6,
      Q: 9,
      B: 4,
      piecewise: false,
      scale: 3,
      opts: { threshold: 0.12, minAreaPx: 5, connectivity: 4 },
    },
    {
      W: 160,
      H: 90,
      gh: 7,
      gw: 7,
      Q: 3,
      B: 2,
      piecewise: true,
      scale: 30,
      opts: { threshold: 0.4, skipAbsentQueries: true, backgroundLogitOffset: -0.5 },
      resize: { letterbox: true },
    },
    {
      W: 120,
      H: 80,
      gh: 5,
      gw: 5,
      Q: 4,
      B: 3,
      piecewise: false,
      scale: 8,
      opts: { threshold: 0.3, minAreaPx: 20 },
      resize: { policy: 'short_side', inputSize: [80, 80] },
    },
    // absent queries skipped: every cell is the first query's prototype, so the second is absent
    {
      W: 64,
      H: 64,
      gh: 4,
      gw: 4,
      Q: 2,
      B: 1,
      piecewise: true,
      scale: 40,
      opts: { threshold: 0.9, skipAbsentQueries: true },
    },
  ];

  it.each(cases.map((c, i) => [i, c] as const))(
    'case %i gives the TypeScript path score maps, masks and instances bit for bit',
    (i, c0) => {
      const c = gridOf(c0);
      for (const seed of [1, 2, 3]) {
        const a = run(c, seed * 31 + i, 'wasm');
        const b = run(c, seed * 31 + i, 'js');
        expect(a.scoreMaps.length).toBe(b.scoreMaps.length);
        a.scoreMaps.forEach((s, k) => {
          expect(s.length).toBe(b.scoreMaps[k].length);
          expect(
            Buffer.from(s.buffer, s.byteOffset, s.byteLength).equals(Buffer.from(b.scoreMaps[k].buffer)),
          ).toBe(true);
        });
        a.masks.forEach((m, k) => expect(Buffer.from(m).equals(Buffer.from(b.masks[k]))).toBe(true));
        expect(a.instances2d).toEqual(b.instances2d);
        expect(a.gridScores).toEqual(b.gridScores);
      }
    },
  );

  it('masks are not all empty or all full in the cases (the comparison is not vacuous)', () => {
    let on = 0;
    let total = 0;
    for (const c0 of cases.slice(0, 3)) {
      const r = run(gridOf(c0), 5, 'wasm');
      for (const m of r.masks) {
        total += m.length;
        for (let i = 0; i < m.length; i++) on += m[i];
      }
    }
    expect(on).toBeGreaterThan(0.05 * total);
    expect(on).toBeLessThan(0.95 * total);
  });

  it('ties go to the query: a background prompt equal to a query, and two equal queries', () => {
    const D = 8;
    const rnd = lcg(4);
    const W = 40;
    const H = 30;
    const plan = planResize(W, H, { policy: 'fixed', inputSize: [48, 64], patchSize: 16 });
    const P = plan.gridHeight * plan.gridWidth;
    const protos = [0, 1].map(() => unit(new Float32Array(D).map(rnd)));
    const data = new Float32Array(P * D);
    for (let p = 0; p < P; p++) data.set(p % 3 === 0 ? protos[1] : protos[0], p * D);
    // queries 0 and 1 are the same text; the background is the same text too
    const q = new Float32Array(3 * D);
    q.set(protos[0], 0);
    q.set(protos[0], D);
    q.set(protos[1], 2 * D);
    const bg = Float32Array.from(protos[0]);
    const go = (engine: 'wasm' | 'js') =>
      masksFromDenseFeatures(
        { data, gridHeight: plan.gridHeight, gridWidth: plan.gridWidth, dim: D },
        ['a', 'b', 'c'],
        q,
        bg,
        5,
        plan,
        {
          threshold: 0.05,
          minAreaPx: 1,
          engine,
        },
      );
    const a = go('wasm');
    const b = go('js');
    a.masks.forEach((m, k) => expect(Buffer.from(m).equals(Buffer.from(b.masks[k]))).toBe(true));
    const on = (m: Uint8Array) => m.reduce((s, v) => s + v, 0);
    // query 0 wins its ties with the background and with query 1
    expect(on(a.masks[0])).toBeGreaterThan(0.3 * W * H);
    expect(on(a.masks[1])).toBe(0);
  });

  it('the threshold is exact for float32 scores (0.3 is not a float32)', () => {
    // one query, no background: every score is 1, so a threshold just above 1 (not a float32) empties the mask
    const c: Case = {
      W: 8,
      H: 8,
      gh: 2,
      gw: 2,
      Q: 1,
      B: 0,
      piecewise: true,
      scale: 1,
      opts: { minAreaPx: 1 },
    };
    for (const t of [1, 1 + 1e-12, 0.3]) {
      const a = run(c, 1, 'wasm');
      const w = run({ ...c, opts: { ...c.opts, threshold: t } }, 1, 'wasm');
      const j = run({ ...c, opts: { ...c.opts, threshold: t } }, 1, 'js');
      expect(a.scoreMaps[0][0]).toBe(1);
      expect(Buffer.from(w.masks[0]).equals(Buffer.from(j.masks[0]))).toBe(true);
      expect(w.masks[0][0]).toBe(t <= 1 ? 1 : 0);
    }
  });

  it('similarity logits equal the TypeScript ones bit for bit (odd pixel counts, 1 to 17 classes, D = 512)', () => {
    const rnd = lcg(12);
    for (const [gh, gw, D, C] of [
      [3, 5, 512, 7],
      [1, 1, 8, 1],
      [4, 4, 33, 9],
      [2, 3, 64, 17],
    ]) {
      const f = { data: new Float32Array(gh * gw * D).map(rnd), gridHeight: gh, gridWidth: gw, dim: D };
      const text = new Float32Array(C * D).map(rnd);
      const a = similarityLogits(f, text, C, 37.5, 'wasm');
      const b = similarityLogits(f, text, C, 37.5, 'js');
      expect(a.length).toBe(C * gh * gw);
      expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer))).toBe(true);
    }
  });

  it('the run scan gives maskRuns on random and blocky masks of odd widths', () => {
    const rnd = lcg(9);
    for (const [W, H] of [
      [17, 5],
      [64, 3],
      [33, 33],
      [4, 1],
    ]) {
      const f = new MaskFrame(1, false, W, H, 1);
      const m = f.masks(0);
      for (const density of [0.02, 0.5, 0.98]) {
        for (let i = 0; i < m.length; i++) m[i] = rnd() + 0.5 < density ? 1 : 0;
        // blocks: long runs across the 16-byte steps
        if (density === 0.5) for (let i = 0; i < m.length; i++) m[i] = Math.floor(i / 23) % 2;
        const want = maskRuns(m.slice(), W, H);
        expect(Array.from(f.runs(0))).toEqual(Array.from(want));
      }
    }
  });
});
