import {
  connectedComponents,
  masksFromDenseFeatures,
  similarityLogits,
  softmaxClasses,
  upsampleToFrame,
} from './masks';
import { planResize } from './preprocess';

function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] && b[k]) i++;
    if (a[k] || b[k]) u++;
  }
  return u ? i / u : 1;
}

describe('similarity and softmax', () => {
  it('computes scaled cosine logits and a softmax that sums to 1', () => {
    const f = { data: new Float32Array([1, 0, 0, 1]), gridHeight: 1, gridWidth: 2, dim: 2 };
    const l = similarityLogits(f, new Float32Array([1, 0, Math.SQRT1_2, Math.SQRT1_2]), 2, 10);
    expect(Array.from(l)).toEqual([10, 0, expect.closeTo(7.0710678, 4), expect.closeTo(7.0710678, 4)]);
    const p = softmaxClasses(l, 2);
    expect(p[0] + p[2]).toBeCloseTo(1, 6);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(7.0710678 - 10)), 5);
  });
});

describe('upsampleToFrame', () => {
  it('maps grid cell centres to frame pixels and is constant on constant maps', () => {
    const plan = planResize(32, 16, { policy: 'fixed', inputSize: [16, 32], patchSize: 8 });
    const up = upsampleToFrame(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), plan);
    expect(up.length).toBe(32 * 16);
    expect(up[0]).toBe(0); // clamped before the first centre
    expect(up[12]).toBeCloseTo(1.0625, 6); // x=12.5 -> u = 12.5/8 - 0.5 = 1.0625; y clamped to row 0
    expect(up[15 * 32 + 31]).toBe(7);
    const c = upsampleToFrame(new Float32Array(8).fill(0.3), plan);
    expect(c.every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
  });
});

describe('connectedComponents', () => {
  it('labels 8-connected blobs, drops small ones and reports boxes', () => {
    const w = 6;
    const m = new Uint8Array([1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    const { components, labels } = connectedComponents(m, w, 4, 1, 8);
    expect(components.map((c) => [c.areaPx, c.box])).toEqual([
      [4, [0, 0, 1, 2]],
      [3, [4, 1, 5, 3]],
    ]);
    const four = connectedComponents(m, w, 4, 1, 4);
    expect(four.components.length).toBe(4);
    const big = connectedComponents(m, w, 4, 4, 8);
    expect(big.components.length).toBe(1);
    expect(big.labels[10]).toBe(0);
    expect(labels[10]).toBe(2);
  });
});

function floodFillReference(m: Uint8Array, w: number, h: number, conn: 4 | 8): number[][] {
  const seen = new Uint8Array(w * h);
  const out: number[][] = [];
  for (let s = 0; s < w * h; s++) {
    if (!m[s] || seen[s]) continue;
    const comp: number[] = [];
    const st = [s];
    seen[s] = 1;
    while (st.length) {
      const p = st.pop()!;
      comp.push(p);
      const x = p % w;
      const y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          if ((!dx && !dy) || (conn === 4 && dx && dy)) continue;
          const nx = x + dx;
          const ny = y + dy;
          const q = ny * w + nx;
          if (nx >= 0 && ny >= 0 && nx < w && ny < h && m[q] && !seen[q]) {
            seen[q] = 1;
            st.push(q);
          }
        }
    }
    out.push(comp.sort((a, b) => a - b));
  }
  return out;
}

describe('connectedComponents vs a flood-fill reference', () => {
  it('gives the same partition on 40 seeded random masks (4- and 8-connectivity)', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 40; t++) {
      const w = 5 + Math.floor(rnd() * 30);
      const h = 5 + Math.floor(rnd() * 30);
      const density = 0.2 + rnd() * 0.5;
      const m = new Uint8Array(w * h).map(() => (rnd() < density ? 1 : 0));
      for (const conn of [4, 8] as const) {
        const ref = floodFillReference(m, w, h, conn);
        const { labels, components } = connectedComponents(m, w, h, 1, conn);
        expect(components.length).toBe(ref.length);
        ref.forEach((comp, k) => {
          const l = labels[comp[0]];
          expect(l).toBe(components[k].label);
          expect(comp.every((p) => labels[p] === l)).toBe(true);
          expect(components[k].areaPx).toBe(comp.length);
        });
      }
    }
  });
});

describe('connectedComponents on word-aligned blocky masks (4-pixel fast path)', () => {
  it('matches the flood-fill reference with long empty and full stretches, values 1 and 255', () => {
    let seed = 777;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 20; t++) {
      const w = 4 * (4 + Math.floor(rnd() * 20));
      const h = 8 + Math.floor(rnd() * 30);
      const m = new Uint8Array(w * h);
      for (let r = 0; r < 6; r++) {
        const x0 = Math.floor(rnd() * w);
        const y0 = Math.floor(rnd() * h);
        const x1 = Math.min(w, x0 + 1 + Math.floor(rnd() * w * 0.6));
        const y1 = Math.min(h, y0 + 1 + Math.floor(rnd() * h * 0.6));
        const v = t % 2 ? 255 : 1;
        for (let y = y0; y < y1; y++) m.fill(v, y * w + x0, y * w + x1);
      }
      for (const conn of [4, 8] as const) {
        const ref = floodFillReference(m, w, h, conn);
        const { labels, components } = connectedComponents(m, w, h, 1, conn);
        expect(components.length).toBe(ref.length);
        ref.forEach((comp, k) => {
          expect(comp.every((p) => labels[p] === components[k].label)).toBe(true);
          expect(components[k].areaPx).toBe(comp.length);
        });
      }
    }
  });
});

describe('masksFromDenseFeatures block shortcut', () => {
  it('gives the same masks as the per-pixel rule on upsampled maps (random and piecewise features)', () => {
    let seed = 99;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5;
    const D = 16;
    const unit = (v: Float32Array) => {
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    for (const [W, H, gh, gw, piecewise, B, thr, scale] of [
      [64, 48, 6, 8, true, 2, 0.3, 20],
      [64, 48, 6, 8, false, 2, 0.3, 20],
      [50, 37, 5, 7, true, 0, 0.5, 20],
      [80, 60, 4, 4, true, 1, 0.05, 20],
      [96, 72, 6, 8, true, 2, 0.3, 3],
      [96, 72, 6, 8, false, 1, 0.26, 3],
    ] as const) {
      const plan = planResize(W, H, { policy: 'fixed', inputSize: [gh * 16, gw * 16], patchSize: 16 });
      const protos = [0, 1, 2, 3].map(() => unit(new Float32Array(D).map(rnd)));
      const data = new Float32Array(gh * gw * D);
      for (let p = 0; p < gh * gw; p++)
        data.set(
          piecewise ? protos[(p * 7) % 11 < 4 ? (p * 7) % 11 : 3] : unit(new Float32Array(D).map(rnd)),
          p * D,
        );
      const q = new Float32Array(3 * D);
      [0, 1, 2].forEach((k) => q.set(protos[k], k * D));
      const bg = new Float32Array(B * D);
      for (let k = 0; k < B; k++) bg.set(protos[3], k * D);
      const res = masksFromDenseFeatures(
        { data, gridHeight: gh, gridWidth: gw, dim: D },
        ['a', 'b', 'c'],
        q,
        bg,
        scale,
        plan,
        {
          threshold: thr,
          minAreaPx: 1,
        },
      );
      // reference: the documented per-pixel rule on full-resolution maps
      const C = 3 + B;
      const text = new Float32Array(C * D);
      text.set(q, 0);
      text.set(bg, 3 * D);
      const probs = softmaxClasses(
        similarityLogits({ data, gridHeight: gh, gridWidth: gw, dim: D }, text, C, scale),
        C,
      );
      const P = gh * gw;
      const up = [0, 1, 2].map((k) => upsampleToFrame(probs.slice(k * P, (k + 1) * P), plan));
      const bgMax = new Float32Array(P);
      for (let c = 3; c < C; c++) for (let p = 0; p < P; p++) bgMax[p] = Math.max(bgMax[p], probs[c * P + p]);
      const bgUp = upsampleToFrame(bgMax, plan);
      let inside = 0;
      for (let i = 0; i < W * H; i++) {
        let best = B > 0 ? bgUp[i] : 0;
        let win = -1;
        for (let k = 0; k < 3; k++) {
          if (win < 0 ? up[k][i] >= best : up[k][i] > best) {
            best = up[k][i];
            win = k;
          }
        }
        for (let k = 0; k < 3; k++) {
          const want = win === k && best >= thr ? 1 : 0;
          if (res.masks[k][i] !== want)
            throw new Error(
              `pixel ${i} query ${k}: ${res.masks[k][i]} != ${want} (case ${W}x${H}, scale ${scale})`,
            );
          inside += want;
        }
      }
      expect(inside).toBeGreaterThan(0);
    }
  });
});

describe('masksFromDenseFeatures (synthetic features with a known answer)', () => {
  it('recovers the region whose features match each query (IoU > 0.9) and leaves background empty', () => {
    // 8x8 grid, D = 4: a "mug" block at grid x 1..3, y 1..4, a "box" block at x 4..6, y 5..7, background elsewhere.
    const gh = 8;
    const gw = 8;
    const D = 4;
    const data = new Float32Array(gh * gw * D);
    const truthGrid = (x: number, y: number) =>
      x >= 1 && x <= 3 && y >= 1 && y <= 4 ? 0 : x >= 4 && x <= 6 && y >= 5 && y <= 7 ? 1 : 3;
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) data[(y * gw + x) * D + truthGrid(x, y)] = 1;
    const plan = planResize(128, 128, { policy: 'fixed', inputSize: [64, 64], patchSize: 8 });
    const queryEmb = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]);
    const bgEmb = new Float32Array([0, 0, 0.6, 0.8, 0, 0, 0, 1]);
    const r = masksFromDenseFeatures(
      { data, gridHeight: gh, gridWidth: gw, dim: D },
      ['mug', 'box'],
      queryEmb,
      bgEmb,
      50,
      plan,
      {
        threshold: 0.5,
        minAreaPx: 16,
      },
    );
    expect(r.scoreMaps.length).toBe(2);
    expect(r.masks[0].length).toBe(128 * 128);
    for (const [q, id] of [
      [0, 0],
      [1, 1],
    ]) {
      const truth = new Uint8Array(128 * 128);
      for (let y = 0; y < 128; y++)
        for (let x = 0; x < 128; x++) truth[y * 128 + x] = truthGrid(x >> 4, y >> 4) === id ? 1 : 0;
      expect(iou(r.masks[q], truth)).toBeGreaterThan(0.9);
    }
    expect(r.instances2d.map((i) => [i.query, i.box])).toEqual([
      ['mug', [expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)]],
      ['box', expect.any(Array)],
    ]);
    const mug = r.instances2d[0];
    expect(Math.abs(mug.box[0] - 16)).toBeLessThanOrEqual(8);
    expect(Math.abs(mug.box[2] - 63)).toBeLessThanOrEqual(8);
    expect(mug.score).toBeGreaterThan(0.8); // edge pixels are interpolated, so the mean is < 1
    expect(r.scoreMaps[0][127 * 128 + 127]).toBeLessThan(0.01);
  });
});

describe('masksFromDenseFeatures backgroundLogitOffset', () => {
  it('shifts the background logits: p = 1 / (1 + exp(l_bg + offset - l_q)); a non-finite offset names the field', () => {
    const f = { data: new Float32Array([1, 0, 0.6, 0.8]), gridHeight: 1, gridWidth: 2, dim: 2 };
    const plan = planResize(16, 8, { policy: 'fixed', inputSize: [8, 16], patchSize: 8 });
    const q = new Float32Array([1, 0]);
    const bg = new Float32Array([0, 1]);
    const scale = 5;
    for (const off of [-2, 0, 0.5, 3]) {
      const r = masksFromDenseFeatures(f, ['a'], q, bg, scale, plan, {
        backgroundLogitOffset: off,
        minAreaPx: 1,
      });
      // cell 0: l_q = 5, l_bg = 0; cell 1: l_q = 3, l_bg = 4
      expect(r.gridScores[0][0]).toBeCloseTo(1 / (1 + Math.exp(0 + off - 5)), 6);
      expect(r.gridScores[0][1]).toBeCloseTo(1 / (1 + Math.exp(4 + off - 3)), 6);
    }
    // cell 1 is background at offset 0 and the query's at offset -2 (p = 0.73)
    const on = masksFromDenseFeatures(f, ['a'], q, bg, scale, plan, {
      backgroundLogitOffset: -2,
      minAreaPx: 1,
    });
    expect(on.masks[0][15]).toBe(1);
    const off0 = masksFromDenseFeatures(f, ['a'], q, bg, scale, plan, { minAreaPx: 1 });
    expect(off0.masks[0][15]).toBe(0);
    expect(() =>
      masksFromDenseFeatures(f, ['a'], q, bg, scale, plan, { backgroundLogitOffset: NaN }),
    ).toThrow(/backgroundLogitOffset/);
  });
});

describe('masksFromDenseFeatures skipAbsentQueries', () => {
  it('gives identical masks and instances on random features with many absent queries, and skips their maps', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const gh = 10;
    const gw = 12;
    const D = 8;
    const plan = planResize(96, 80, { policy: 'fixed', inputSize: [80, 96], patchSize: 8 });
    let totalSkipped = 0;
    let totalInstances = 0;
    for (let trial = 0; trial < 20; trial++) {
      // features live in dims 0..5; queries 6..11 point along dims 6..7, so they score 0 everywhere (absent)
      const data = Float32Array.from({ length: gh * gw * D }, (_, i) => (i % D < 6 ? rand() : 0));
      const Q = 12;
      const queryEmb = Float32Array.from({ length: Q * D }, (_, i) =>
        i < 6 * D ? (i % D < 6 ? rand() : 0) : i % D >= 6 ? rand() : 0,
      );
      const bgEmb = Float32Array.from({ length: 2 * D }, rand);
      const f = { data, gridHeight: gh, gridWidth: gw, dim: D };
      const names = Array.from({ length: Q }, (_, i) => `q${i}`);
      const opts = { threshold: 0.4, minAreaPx: 4 };
      const a = masksFromDenseFeatures(f, names, queryEmb, bgEmb, 8, plan, opts);
      const b = masksFromDenseFeatures(f, names, queryEmb, bgEmb, 8, plan, {
        ...opts,
        skipAbsentQueries: true,
      });
      for (let q = 0; q < Q; q++) expect(Buffer.from(b.masks[q]).equals(Buffer.from(a.masks[q]))).toBe(true);
      expect(b.instances2d.map((i) => [i.query, i.areaPx, i.score])).toEqual(
        a.instances2d.map((i) => [i.query, i.areaPx, i.score]),
      );
      const skipped = b.scoreMaps.filter((m) => m.length === 0).length;
      const absent = a.gridScores.filter((g) => Math.max(...g) < 0.4).length;
      expect(skipped).toBe(absent);
      totalSkipped += skipped;
      totalInstances += a.instances2d.length;
    }
    // the case is only meaningful when some queries are absent and some are found
    expect(totalSkipped).toBeGreaterThan(20);
    expect(totalInstances).toBeGreaterThan(5);
  });
});
