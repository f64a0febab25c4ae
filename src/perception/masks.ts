/**
 * Dense features -> open-vocabulary masks: cosine similarity of L2-normalised dense features with text
 * embeddings, x logit scale, softmax over (queries + background prompts), bilinear upsampling to the frame
 * (undoing the resize / letterbox of the {@link ResizePlan}), threshold + argmax, connected components with a
 * minimum area, per-instance score and 2D box.
 */
import { PerceptionInputError } from './errors';
import type { ResizePlan } from './preprocess';

/** Dense feature map [h, w, D] row-major (one image), L2-normalised along D. */
export interface DenseFeatures {
  data: Float32Array;
  gridHeight: number;
  gridWidth: number;
  dim: number;
}

/**
 * logits[c][p] = scale * <f_p, t_c> for C class embeddings `text` [C, D]. Returns [C, h*w].
 * With normalised inputs the dot product is the cosine similarity.
 */
export function similarityLogits(
  f: DenseFeatures,
  text: Float32Array,
  nClasses: number,
  scale: number,
): Float32Array {
  const D = f.dim;
  const P = f.gridHeight * f.gridWidth;
  if (f.data.length !== P * D) {
    throw new PerceptionInputError(
      'dense_features',
      `length ${f.data.length} != ${f.gridHeight}*${f.gridWidth}*${D}`,
    );
  }
  if (text.length !== nClasses * D) {
    throw new PerceptionInputError(
      'text_embeddings',
      `length ${text.length} != ${nClasses}*${D}; feature_dim mismatch between encoders`,
    );
  }
  const out = new Float32Array(nClasses * P);
  for (let p = 0; p < P; p++) {
    const fo = p * D;
    for (let c = 0; c < nClasses; c++) {
      const to = c * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += f.data[fo + d] * text[to + d];
      out[c * P + p] = s * scale;
    }
  }
  return out;
}

/** In-place softmax over the class axis of [C, P] logits. */
export function softmaxClasses(logits: Float32Array, nClasses: number): Float32Array {
  const P = logits.length / nClasses;
  for (let p = 0; p < P; p++) {
    let m = -Infinity;
    for (let c = 0; c < nClasses; c++) m = Math.max(m, logits[c * P + p]);
    let sum = 0;
    for (let c = 0; c < nClasses; c++) {
      const e = Math.exp(logits[c * P + p] - m);
      logits[c * P + p] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let c = 0; c < nClasses; c++) logits[c * P + p] *= inv;
  }
  return logits;
}

/** Precomputed bilinear taps from frame pixels to feature-grid cells. */
export interface UpsampleTaps {
  x0: Int32Array;
  x1: Int32Array;
  fx: Float32Array;
  y0: Int32Array;
  y1: Int32Array;
  fy: Float32Array;
}

function axisTaps(srcLen: number, offset: number, contentLen: number, patch: number, gridLen: number) {
  const i0 = new Int32Array(srcLen);
  const i1 = new Int32Array(srcLen);
  const f = new Float32Array(srcLen);
  for (let x = 0; x < srcLen; x++) {
    // frame pixel centre -> network input coordinate -> grid cell coordinate (cell centres at k + 0.5)
    const net = offset + ((x + 0.5) * contentLen) / srcLen;
    let u = net / patch - 0.5;
    u = Math.min(Math.max(u, 0), gridLen - 1);
    const a = Math.floor(u);
    i0[x] = a;
    i1[x] = Math.min(a + 1, gridLen - 1);
    f[x] = u - a;
  }
  return { i0, i1, f };
}

/** Bilinear taps for a plan (frame size -> grid size), reusable for every map of the frame. */
export function upsampleTaps(plan: ResizePlan): UpsampleTaps {
  const tx = axisTaps(plan.srcWidth, plan.contentX, plan.contentWidth, plan.patchSize, plan.gridWidth);
  const ty = axisTaps(plan.srcHeight, plan.contentY, plan.contentHeight, plan.patchSize, plan.gridHeight);
  return { x0: tx.i0, x1: tx.i1, fx: tx.f, y0: ty.i0, y1: ty.i1, fy: ty.f };
}

/** Bilinear upsampling of one grid map [gh*gw] to the frame [srcH*srcW]. */
export function upsampleToFrame(
  grid: Float32Array,
  plan: ResizePlan,
  taps = upsampleTaps(plan),
  out?: Float32Array,
): Float32Array {
  const W = plan.srcWidth;
  const H = plan.srcHeight;
  const gw = plan.gridWidth;
  const dst = out ?? new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const r0 = taps.y0[y] * gw;
    const r1 = taps.y1[y] * gw;
    const fy = taps.fy[y];
    const o = y * W;
    for (let x = 0; x < W; x++) {
      const a = taps.x0[x];
      const b = taps.x1[x];
      const fx = taps.fx[x];
      const top = grid[r0 + a] + (grid[r0 + b] - grid[r0 + a]) * fx;
      const bot = grid[r1 + a] + (grid[r1 + b] - grid[r1 + a]) * fx;
      dst[o + x] = top + (bot - top) * fy;
    }
  }
  return dst;
}

/** One connected component of a binary mask. */
export interface Component {
  /** Label in the labels image (1-based). */
  label: number;
  areaPx: number;
  /** Inclusive pixel box [x0, y0, x1, y1]. */
  box: [number, number, number, number];
}

/**
 * Connected components (8- or 4-connectivity) of `mask` (non-zero = on). Components smaller than `minAreaPx`
 * are removed from the labels (set to 0). Returns labels (Int32Array, 0 = none) and the kept components.
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  minAreaPx = 1,
  connectivity: 4 | 8 = 8,
): { labels: Int32Array; components: Component[] } {
  const n = width * height;
  if (mask.length !== n)
    throw new PerceptionInputError('mask', `length ${mask.length} != ${width}x${height}`);
  const labels = new Int32Array(n);
  const stack = new Int32Array(n);
  const components: Component[] = [];
  let next = 1;
  for (let s = 0; s < n; s++) {
    if (!mask[s] || labels[s]) continue;
    const label = next++;
    let top = 0;
    stack[top++] = s;
    labels[s] = label;
    let area = 0;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    const start = s;
    while (top > 0) {
      const p = stack[--top];
      area++;
      const y = (p / width) | 0;
      const x = p - y * width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (connectivity === 4 && dx !== 0 && dy !== 0)) continue;
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    if (area >= minAreaPx) {
      components.push({ label, areaPx: area, box: [x0, y0, x1, y1] });
    } else {
      // erase: flood again over this label
      let t = 0;
      stack[t++] = start;
      labels[start] = 0;
      while (t > 0) {
        const p = stack[--t];
        const y = (p / width) | 0;
        const x = p - y * width;
        for (let dy = -1; dy <= 1; dy++) {
          const ny = y + dy;
          if (ny < 0 || ny >= height) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const nx = x + dx;
            if (nx < 0 || nx >= width) continue;
            const q = ny * width + nx;
            if (labels[q] === label) {
              labels[q] = 0;
              stack[t++] = q;
            }
          }
        }
      }
    }
  }
  return { labels, components };
}

/** One 2D instance of a query. */
export interface Instance2d {
  queryIndex: number;
  query: string;
  /** Mean score of the query over the instance's pixels. */
  score: number;
  areaPx: number;
  /** Inclusive pixel box [x0, y0, x1, y1] in frame pixels. */
  box: [number, number, number, number];
  /** Binary mask over the whole frame (1 = instance), width*height. */
  mask: Uint8Array;
}

/** Options of {@link masksFromDenseFeatures}. */
export interface MaskOptions {
  /** Minimum score (softmax probability) for a pixel to belong to a query (default 0.5). */
  threshold?: number;
  /** Minimum instance area in frame pixels (default 64). */
  minAreaPx?: number;
  connectivity?: 4 | 8;
}

/** Output of {@link masksFromDenseFeatures}. */
export interface MaskResult {
  width: number;
  height: number;
  /** Per query: softmax probability over (queries + background), upsampled to the frame. */
  scoreMaps: Float32Array[];
  /** Per query: 1 where score >= threshold and the query is the argmax over all classes. */
  masks: Uint8Array[];
  instances2d: Instance2d[];
  /** Per query: probabilities on the feature grid (before upsampling), [h*w]. */
  gridScores: Float32Array[];
}

/**
 * The full mask path for Q queries with embeddings `queryEmb` [Q, D] against B background embeddings `bgEmb`
 * [B, D] (B may be 0): similarity x logitScale -> softmax over Q+B -> upsample -> threshold & argmax -> components.
 */
export function masksFromDenseFeatures(
  f: DenseFeatures,
  queries: readonly string[],
  queryEmb: Float32Array,
  bgEmb: Float32Array,
  logitScale: number,
  plan: ResizePlan,
  opts: MaskOptions = {},
): MaskResult {
  const Q = queries.length;
  const D = f.dim;
  const B = bgEmb.length / D;
  if (!Number.isInteger(B))
    throw new PerceptionInputError(
      'background embeddings',
      `length ${bgEmb.length} is not a multiple of ${D}`,
    );
  if (f.gridHeight !== plan.gridHeight || f.gridWidth !== plan.gridWidth) {
    throw new PerceptionInputError(
      'dense_features',
      `grid ${f.gridHeight}x${f.gridWidth} != plan ${plan.gridHeight}x${plan.gridWidth}; the encoder's patch size differs from model.json`,
    );
  }
  const threshold = opts.threshold ?? 0.5;
  const minArea = opts.minAreaPx ?? 64;
  const C = Q + B;
  const text = new Float32Array(C * D);
  text.set(queryEmb.subarray(0, Q * D), 0);
  text.set(bgEmb, Q * D);
  const probs = softmaxClasses(similarityLogits(f, text, C, logitScale), C);
  const P = f.gridHeight * f.gridWidth;
  const taps = upsampleTaps(plan);
  const W = plan.srcWidth;
  const H = plan.srcHeight;
  const gridScores: Float32Array[] = [];
  const scoreMaps: Float32Array[] = [];
  for (let q = 0; q < Q; q++) {
    const g = probs.slice(q * P, (q + 1) * P);
    gridScores.push(g);
    scoreMaps.push(upsampleToFrame(g, plan, taps));
  }
  let bgUp: Float32Array | null = null;
  if (B > 0) {
    const bgMax = new Float32Array(P);
    for (let c = Q; c < C; c++) for (let p = 0; p < P; p++) bgMax[p] = Math.max(bgMax[p], probs[c * P + p]);
    bgUp = upsampleToFrame(bgMax, plan, taps);
  }
  const masks: Uint8Array[] = [];
  const instances2d: Instance2d[] = [];
  for (let q = 0; q < Q; q++) {
    const s = scoreMaps[q];
    const m = new Uint8Array(W * H);
    for (let i = 0; i < W * H; i++) {
      const v = s[i];
      if (v < threshold || (bgUp && bgUp[i] > v)) continue;
      let best = true;
      for (let k = 0; k < Q; k++) {
        if (k !== q && scoreMaps[k][i] > v) {
          best = false;
          break;
        }
      }
      if (best) m[i] = 1;
    }
    const cc = connectedComponents(m, W, H, minArea, opts.connectivity ?? 8);
    m.fill(0);
    const byLabel = new Map<number, { sum: number; mask: Uint8Array }>();
    for (const c of cc.components) byLabel.set(c.label, { sum: 0, mask: new Uint8Array(W * H) });
    for (let i = 0; i < W * H; i++) {
      const l = cc.labels[i];
      if (l === 0) continue;
      m[i] = 1;
      const e = byLabel.get(l)!;
      e.sum += s[i];
      e.mask[i] = 1;
    }
    masks.push(m);
    for (const c of cc.components) {
      const e = byLabel.get(c.label)!;
      instances2d.push({
        queryIndex: q,
        query: queries[q],
        score: e.sum / c.areaPx,
        areaPx: c.areaPx,
        box: c.box,
        mask: e.mask,
      });
    }
  }
  return { width: W, height: H, scoreMaps, masks, instances2d, gridScores };
}
