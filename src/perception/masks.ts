/**
 * Dense features -> open-vocabulary masks: cosine similarity of L2-normalised dense features with text
 * embeddings, x logit scale, softmax over (queries + background prompts), bilinear upsampling to the frame
 * (undoing the resize / letterbox of the {@link ResizePlan}), threshold + argmax, connected components with a
 * minimum area, per-instance score and 2D box.
 */
import { PerceptionInputError } from './errors';
import type { ResizePlan } from './preprocess';
import { rowDotProducts } from '../geometry/linalg';
import { MaskFrame, similarityLogitsWasm } from './wasm/maskpostWasm';

/** Dense feature map [h, w, D] row-major (one image), L2-normalised along D. */
export interface DenseFeatures {
  data: Float32Array;
  gridHeight: number;
  gridWidth: number;
  dim: number;
}

/**
 * logits[c][p] = scale * <f_p, t_c> for C class embeddings `text` [C, D]. Returns [C, h*w].
 * With normalised inputs the dot product is the cosine similarity. `engine` 'wasm' gives the same logits bit for
 * bit (maskpost.wat `dots`).
 */
export function similarityLogits(
  f: DenseFeatures,
  text: Float32Array,
  nClasses: number,
  scale: number,
  engine: 'wasm' | 'js' = 'js',
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
  if (engine === 'wasm') return similarityLogitsWasm(f.data, P, D, text, nClasses, scale);
  const out = new Float32Array(nClasses * P);
  const dots = rowDotProducts(f.data, text, D); // [P, C]
  for (let p = 0; p < P; p++)
    for (let c = 0; c < nClasses; c++) out[c * P + p] = dots[p * nClasses + c] * scale;
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

/**
 * The first, horizontal pass of {@link upsampleToFrame}: every grid row of `grid` [gh*gw] lerped to the frame
 * width, [gh*srcW]. `rowScratch` (gh*srcW) may be passed to avoid an allocation.
 */
export function upsampleRows(
  grid: Float32Array,
  plan: ResizePlan,
  taps: UpsampleTaps,
  rowScratch?: Float32Array,
): Float32Array {
  const W = plan.srcWidth;
  const gw = plan.gridWidth;
  const gh = plan.gridHeight;
  const rows = rowScratch && rowScratch.length >= gh * W ? rowScratch : new Float32Array(gh * W);
  const { x0, x1, fx } = taps;
  for (let gy = 0; gy < gh; gy++) {
    const g = gy * gw;
    const o = gy * W;
    for (let x = 0; x < W; x++) {
      const a = grid[g + x0[x]];
      rows[o + x] = a + (grid[g + x1[x]] - a) * fx[x];
    }
  }
  return rows;
}

/**
 * Bilinear upsampling of one grid map [gh*gw] to the frame [srcH*srcW]: first along x for every grid row, then a
 * lerp between two of those rows per frame row. `rowScratch` (gh*srcW) may be passed to avoid an allocation.
 */
export function upsampleToFrame(
  grid: Float32Array,
  plan: ResizePlan,
  taps = upsampleTaps(plan),
  out?: Float32Array,
  rowScratch?: Float32Array,
): Float32Array {
  const W = plan.srcWidth;
  const H = plan.srcHeight;
  const dst = out ?? new Float32Array(W * H);
  const rows = upsampleRows(grid, plan, taps, rowScratch);
  for (let y = 0; y < H; y++) {
    const r0 = taps.y0[y] * W;
    const r1 = taps.y1[y] * W;
    const f = taps.fy[y];
    const o = y * W;
    if (f === 0 || r0 === r1) {
      dst.set(rows.subarray(r0, r0 + W), o);
      continue;
    }
    for (let x = 0; x < W; x++) {
      const a = rows[r0 + x];
      dst[o + x] = a + (rows[r1 + x] - a) * f;
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
 * Connected components (8- or 4-connectivity) of `mask` (non-zero = on), by run-length labelling with
 * union-find. Components smaller than `minAreaPx` are dropped (label 0). Labels are 1-based, numbered in raster
 * order of each component's first pixel. Returns the labels image and the kept components.
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  minAreaPx = 1,
  connectivity: 4 | 8 = 8,
): { labels: Int32Array; components: Component[] } {
  const r = unionRuns(maskRuns(mask, width, height), width, height, minAreaPx, connectivity);
  const labels = new Int32Array(width * height);
  for (let k = 0, t = 0; k < r.nRuns; k++, t += 3) {
    const l = r.runLabel[k];
    const o = r.runs[t + 2] * width;
    if (l) labels.fill(l, o + r.runs[t], o + r.runs[t + 1]);
  }
  return { labels, components: r.components };
}

/** Horizontal runs of a mask with their component label (0 = dropped as too small). */
export interface LabelledRuns {
  nRuns: number;
  /** (start column, exclusive end column, row) per run, in raster order. */
  runs: Int32Array;
  runLabel: Int32Array;
  components: Component[];
}

/**
 * The horizontal runs of the non-zero pixels of `mask` in raster order, as (start, exclusive end, row) triples.
 * A 0/1 mask whose rows start on 4-byte boundaries is also read 4 pixels at a time (empty or full words).
 */
export function maskRuns(mask: Uint8Array, width: number, height: number): Int32Array {
  const n = width * height;
  if (mask.length !== n)
    throw new PerceptionInputError('mask', `length ${mask.length} != ${width}x${height}`);
  const out = new Int32Array(3 * Math.ceil(width / 2) * height);
  const words =
    mask.byteOffset % 4 === 0 && width % 4 === 0
      ? new Uint32Array(mask.buffer, mask.byteOffset, n >> 2)
      : null;
  let t = 0;
  for (let y = 0; y < height; y++) {
    const off = y * width;
    for (let x = 0; x < width;) {
      if (!mask[off + x]) {
        if (words && (x & 3) === 0) {
          // skip empty stretches 4 pixels per read
          let wi = (off + x) >> 2;
          const we = (off + width) >> 2;
          while (wi < we && words[wi] === 0) wi++;
          x = wi === (off + x) >> 2 ? x + 1 : (wi << 2) - off;
        } else x++;
        continue;
      }
      const s0 = x;
      while (x < width && mask[off + x]) {
        if (words && (x & 3) === 0 && x + 4 <= width && words[(off + x) >> 2] === 0x01010101) x += 4;
        else x++;
      }
      out[t] = s0;
      out[t + 1] = x;
      out[t + 2] = y;
      t += 3;
    }
  }
  return out.subarray(0, t);
}

/**
 * Connected components over the runs of a mask ((start, exclusive end, row) triples in raster order, as
 * {@link maskRuns} gives), by union-find between overlapping runs of consecutive rows (the core of
 * {@link connectedComponents}). Components smaller than `minAreaPx` get label 0. Labels are 1-based, numbered in
 * raster order of each component's first pixel.
 */
export function unionRuns(
  runs: Int32Array,
  width: number,
  height: number,
  minAreaPx = 1,
  connectivity: 4 | 8 = 8,
): LabelledRuns {
  const nRuns = runs.length / 3;
  const parent = new Int32Array(nRuns);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const slack = connectivity === 8 ? 1 : 0;
  let prevFirst = 0;
  let prevLast = 0; // runs of the previous row: [prevFirst, prevLast)
  let curFirst = 0; // the first run of the current row
  let row = -1;
  let j = 0;
  for (let r = 0; r < nRuns; r++) {
    const s0 = runs[3 * r];
    const e0 = runs[3 * r + 1];
    const y = runs[3 * r + 2];
    if (y !== row) {
      // a new row: its neighbours are the runs of row y - 1, if the last row with runs was that one
      prevFirst = y === row + 1 ? curFirst : r;
      prevLast = r;
      curFirst = r;
      row = y;
      j = prevFirst;
    }
    parent[r] = r;
    // previous-row runs overlapping [s0 - slack, e0 + slack)
    while (j < prevLast && runs[3 * j + 1] + slack <= s0) j++;
    for (let k = j; k < prevLast && runs[3 * k] < e0 + slack; k++) {
      const a = find(k);
      const b = find(r);
      if (a !== b) {
        if (a < b) parent[b] = a;
        else parent[a] = b;
      }
    }
  }
  const area = new Int32Array(nRuns);
  const x0 = new Int32Array(nRuns).fill(width);
  const y0 = new Int32Array(nRuns).fill(height);
  const x1 = new Int32Array(nRuns).fill(-1);
  const y1 = new Int32Array(nRuns).fill(-1);
  for (let r = 0; r < nRuns; r++) {
    const root = find(r);
    const s0 = runs[3 * r];
    const e0 = runs[3 * r + 1];
    const y = runs[3 * r + 2];
    area[root] += e0 - s0;
    if (s0 < x0[root]) x0[root] = s0;
    if (e0 - 1 > x1[root]) x1[root] = e0 - 1;
    if (y < y0[root]) y0[root] = y;
    if (y > y1[root]) y1[root] = y;
  }
  const labelOf = new Int32Array(nRuns);
  const components: Component[] = [];
  let next = 1;
  for (let r = 0; r < nRuns; r++) {
    if (parent[r] !== r) continue; // roots are the smallest run index, i.e. raster-first
    const label = next++;
    if (area[r] >= minAreaPx) {
      labelOf[r] = label;
      components.push({ label, areaPx: area[r], box: [x0[r], y0[r], x1[r], y1[r]] });
    }
  }
  const runLabel = new Int32Array(nRuns);
  for (let r = 0; r < nRuns; r++) runLabel[r] = labelOf[find(r)];
  return { nRuns, runs, runLabel, components };
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
  /** Row-major indices (y * width + x) of the instance's pixels, ascending. See {@link instanceMask}. */
  pixelIndices: Uint32Array;
}

/** Full-frame binary mask (1 = instance) of an instance. */
export function instanceMask(inst: Instance2d, width: number, height: number): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let i = 0; i < inst.pixelIndices.length; i++) m[inst.pixelIndices[i]] = 1;
  return m;
}

/** Options of {@link masksFromDenseFeatures}. */
export interface MaskOptions {
  /** Minimum score (softmax probability) for a pixel to belong to a query (default 0.5). */
  threshold?: number;
  /** Minimum instance area in frame pixels (default 64). */
  minAreaPx?: number;
  connectivity?: 4 | 8;
  /**
   * Skip the frame-size score map of a query whose best grid cell is below the threshold (default false): such a
   * query can have no mask pixel (upsampling interpolates, it never exceeds the grid maximum), and skipping it
   * cannot change another query's mask (where it would win, every other query is below it, so below threshold).
   * Its scoreMaps entry is then an empty array. Saves most of the cost when many queries are absent.
   */
  skipAbsentQueries?: boolean;
  /**
   * Added to every background prompt's logit before the softmax (default 0; negative = a weaker background). A
   * model's calibrated value comes from model.json `background_logit_offset`.
   */
  backgroundLogitOffset?: number;
  /**
   * Where the frame-size pass (upsampling, winner, mask runs) runs: 'wasm' (default; WebAssembly SIMD,
   * wasm/maskpost.wat) or 'js' (TypeScript, with a block shortcut). Both give the same score maps and masks, bit
   * for bit; frames under 4 pixels wide always take 'js'.
   */
  engine?: 'wasm' | 'js';
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
  if (Q > 127) throw new PerceptionInputError('queries', `${Q} queries; at most 127 per call`);
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
  const P = f.gridHeight * f.gridWidth;
  const engine = opts.engine ?? 'wasm';
  const logits = similarityLogits(f, text, C, logitScale, engine);
  const bgOffset = opts.backgroundLogitOffset ?? 0;
  if (!Number.isFinite(bgOffset)) {
    throw new PerceptionInputError('backgroundLogitOffset', `must be a finite number, got ${bgOffset}`);
  }
  if (bgOffset !== 0) for (let i = Q * P; i < C * P; i++) logits[i] += bgOffset;
  const probs = softmaxClasses(logits, C);
  const taps = upsampleTaps(plan);
  const W = plan.srcWidth;
  const H = plan.srcHeight;
  const gridScores: Float32Array[] = [];
  const absent: boolean[] = [];
  for (let q = 0; q < Q; q++) {
    const g = probs.slice(q * P, (q + 1) * P);
    gridScores.push(g);
    let gMax = 0;
    for (let p = 0; p < P; p++) if (g[p] > gMax) gMax = g[p];
    absent.push(opts.skipAbsentQueries === true && gMax < threshold);
  }
  const present: number[] = [];
  for (let q = 0; q < Q; q++) if (!absent[q]) present.push(q);
  const nP = present.length;
  // the best background prompt per grid cell
  let bgGrid: Float32Array | null = null;
  if (B > 0) {
    const bgMax = (bgGrid = new Float32Array(P));
    for (let c = Q; c < C; c++) for (let p = 0; p < P; p++) bgMax[p] = Math.max(bgMax[p], probs[c * P + p]);
  }
  const masks: Uint8Array[] = [];
  const scoreMaps: Float32Array[] = [];
  const instances2d: Instance2d[] = [];
  // The winning query of each pixel: max score, >= the best background prompt (ties go to the query; between
  // queries the first wins), then >= threshold. One pass over the frame, in WebAssembly (the same arithmetic,
  // bit for bit) or in TypeScript.
  let frame: MaskFrame | null = null;
  if (engine === 'wasm' && W >= 4 && nP > 0) {
    const { pairs, pairOfRow } = gridRowPairs(taps, plan.gridHeight);
    const mf = (frame = new MaskFrame(nP + (bgGrid ? 1 : 0), bgGrid !== null, W, H, pairs.length / 2));
    const off = bgGrid ? 1 : 0;
    const rowScratch = new Float32Array(plan.gridHeight * W);
    if (bgGrid) mf.fillPairs(0, upsampleRows(bgGrid, plan, taps, rowScratch), pairs);
    present.forEach((q, k) =>
      mf.fillPairs(off + k, upsampleRows(gridScores[q], plan, taps, rowScratch), pairs),
    );
    mf.setRowTaps(pairOfRow, taps.fy);
    mf.run(float32AtLeast(threshold));
    for (let q = 0, k = 0; q < Q; q++) {
      if (absent[q]) {
        scoreMaps.push(new Float32Array(0));
        masks.push(new Uint8Array(W * H));
      } else {
        scoreMaps.push(frame.scores(k).slice());
        masks.push(frame.masks(k++).slice());
      }
    }
  } else {
    const rowScratch = new Float32Array(plan.gridHeight * plan.srcWidth);
    for (let q = 0; q < Q; q++) {
      scoreMaps.push(
        absent[q] ? new Float32Array(0) : upsampleToFrame(gridScores[q], plan, taps, undefined, rowScratch),
      );
      masks.push(new Uint8Array(W * H));
    }
    // the best background prompt upsampled along x only: its frame rows are lerped on the fly in the winner pass
    // below (the same arithmetic as upsampleToFrame, rounded to float32 like a stored map)
    const bgRows = bgGrid ? upsampleRows(bgGrid, plan, taps) : null;
    const maps = present.map((q) => scoreMaps[q]);
    const outMasks = present.map((q) => masks[q]);
    // Per pixel (the reference rule):
    const pixelWinner = (y: number, xs: number, xe: number): void => {
      const r0 = taps.y0[y] * W;
      const r1 = taps.y1[y] * W;
      const fy = taps.fy[y];
      const o = y * W;
      for (let x = xs; x < xe; x++) {
        const i = o + x;
        let best = 0;
        if (bgRows) {
          const a = bgRows[r0 + x];
          best = Math.fround(a + (bgRows[r1 + x] - a) * fy);
        }
        let win = -1;
        for (let k = 0; k < nP; k++) {
          const v = maps[k][i];
          if (win < 0 ? v >= best : v > best) {
            best = v;
            win = k;
          }
        }
        if (win >= 0 && best >= threshold) outMasks[win][i] = 1;
      }
    };
    // Block shortcut: inside the frame block between four grid-cell centres every map is bilinear in the pixel
    // position, and so is the difference of two maps, whose extremes over the block are then at its corners. So
    // when one query beats the background, every other query and the threshold at all four corners (by a margin
    // far above float rounding), it wins the whole block; when no query can win at any corner the block is empty.
    // Only the remaining blocks are decided per pixel; the result is the same mask.
    const EPS = 1e-5;
    const gw = plan.gridWidth;
    const grids = present.map((q) => gridScores[q]);
    const segs = (i0: Int32Array, i1: Int32Array, n: number): number[] => {
      const out: number[] = []; // [start, end, cell0, cell1] per run of pixels sharing their two cells
      for (let a = 0; a < n;) {
        let e = a + 1;
        while (e < n && i0[e] === i0[a] && i1[e] === i1[a]) e++;
        out.push(a, e, i0[a], i1[a]);
        a = e;
      }
      return out;
    };
    const xSeg = segs(taps.x0, taps.x1, W);
    const ySeg = segs(taps.y0, taps.y1, H);
    const corner = new Int32Array(4);
    for (let sy = 0; sy < ySeg.length && nP > 0; sy += 4) {
      const ys = ySeg[sy];
      const ye = ySeg[sy + 1];
      for (let sx = 0; sx < xSeg.length; sx += 4) {
        const xs = xSeg[sx];
        const xe = xSeg[sx + 1];
        corner[0] = ySeg[sy + 2] * gw + xSeg[sx + 2];
        corner[1] = ySeg[sy + 2] * gw + xSeg[sx + 3];
        corner[2] = ySeg[sy + 3] * gw + xSeg[sx + 2];
        corner[3] = ySeg[sy + 3] * gw + xSeg[sx + 3];
        // the query that would win at the first corner, by the per-pixel rule on grid values
        let k0 = -1;
        let bv = bgGrid ? bgGrid[corner[0]] : 0;
        for (let k = 0; k < nP; k++) {
          const v = grids[k][corner[0]];
          if (k0 < 0 ? v >= bv : v > bv) {
            bv = v;
            k0 = k;
          }
        }
        let uniform = k0 >= 0;
        let empty = true;
        for (let c = 0; c < 4 && (uniform || empty); c++) {
          const g = corner[c];
          const bg = bgGrid ? bgGrid[g] : 0;
          if (uniform) {
            const v = grids[k0][g];
            if (!(v - bg > EPS && v - threshold > EPS)) uniform = false;
            for (let k = 0; k < nP && uniform; k++) if (k !== k0 && !(v - grids[k][g] > EPS)) uniform = false;
          }
        }
        if (!uniform) {
          // empty when every query is below the threshold at all corners or under the background at all corners
          for (let k = 0; k < nP && empty; k++) {
            let below = true;
            let under = true;
            for (let c = 0; c < 4; c++) {
              const v = grids[k][corner[c]];
              if (!(threshold - v > EPS)) below = false;
              if (!((bgGrid ? bgGrid[corner[c]] : 0) - v > EPS)) under = false;
            }
            if (!below && !under) empty = false;
          }
        } else empty = false;
        if (uniform) {
          const m = outMasks[k0];
          for (let y = ys; y < ye; y++) m.fill(1, y * W + xs, y * W + xe);
        } else if (!empty) {
          for (let y = ys; y < ye; y++) pixelWinner(y, xs, xe);
        }
      }
    }
  }
  for (let q = 0, k = 0; q < Q; q++) {
    if (absent[q]) continue;
    const s = scoreMaps[q];
    const m = masks[q];
    const runs = unionRuns(
      frame ? frame.runs(k++) : maskRuns(m, W, H),
      W,
      H,
      minArea,
      opts.connectivity ?? 8,
    );
    const slot = new Int32Array(runs.components.reduce((x, c) => Math.max(x, c.label), 0) + 1);
    runs.components.forEach((c, k) => (slot[c.label] = k));
    const sums = new Float64Array(runs.components.length);
    const fill = new Int32Array(runs.components.length);
    const pix = runs.components.map((c) => new Uint32Array(c.areaPx));
    for (let r = 0; r < runs.nRuns; r++) {
      const o = runs.runs[3 * r + 2] * W;
      const a = o + runs.runs[3 * r];
      const b = o + runs.runs[3 * r + 1];
      const l = runs.runLabel[r];
      if (l === 0) {
        m.fill(0, a, b);
        continue;
      }
      const k = slot[l];
      const dst = pix[k];
      let f = fill[k];
      let sum = 0;
      for (let i = a; i < b; i++) {
        sum += s[i];
        dst[f++] = i;
      }
      fill[k] = f;
      sums[k] += sum;
    }
    runs.components.forEach((c, k) => {
      instances2d.push({
        queryIndex: q,
        query: queries[q],
        score: sums[k] / c.areaPx,
        areaPx: c.areaPx,
        box: c.box,
        pixelIndices: pix[k],
      });
    });
  }
  return { width: W, height: H, scoreMaps, masks, instances2d, gridScores };
}

/**
 * The distinct (first, second) grid row pairs that the frame rows lerp between, as [r0, r1] per pair, and the pair
 * of each frame row.
 */
function gridRowPairs(taps: UpsampleTaps, gridHeight: number): { pairs: Int32Array; pairOfRow: Int32Array } {
  const H = taps.y0.length;
  const pairOfRow = new Int32Array(H);
  const ids = new Map<number, number>();
  const list: number[] = [];
  for (let y = 0; y < H; y++) {
    const key = taps.y0[y] * gridHeight + taps.y1[y];
    let j = ids.get(key);
    if (j === undefined) {
      ids.set(key, (j = list.length / 2));
      list.push(taps.y0[y], taps.y1[y]);
    }
    pairOfRow[y] = j;
  }
  return { pairs: Int32Array.from(list), pairOfRow };
}

/** The smallest float32 >= t (so that a float32 v >= it exactly when v >= t). */
function float32AtLeast(t: number): number {
  const f = Math.fround(t);
  if (f >= t || !Number.isFinite(f)) return f;
  const buf = new Float32Array([f]);
  const bits = new Int32Array(buf.buffer);
  bits[0] += f >= 0 ? 1 : -1; // f < t: one float32 step up (towards +inf)
  return f === 0 ? 1.401298464324817e-45 : buf[0];
}
