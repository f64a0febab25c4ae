/**
 * Image preprocessing for the image encoder: decode any ROS image encoding (rgb8, bgr8, rgba8, bgra8, mono8, with
 * row padding), resize (separable bilinear, antialiased when downscaling, like PIL / torchvision antialias=True) to
 * a size that is a multiple of the patch, and mean/std normalise into a planar NCHW Float32Array — in two passes
 * over typed arrays. The {@link ResizePlan} records how to map feature-grid coordinates back to the frame.
 */
import { PerceptionInputError } from './errors';
import type { ModelManifest, ResizePolicy } from './manifest';
import { ResizeKernel } from './wasm/preprocessWasm';

export type ImageEncoding = 'rgb8' | 'bgr8' | 'rgba8' | 'bgra8' | 'mono8';

/** A raw image as it comes from sensor_msgs/Image (step = bytes per row, >= width * channels). */
export interface RawImage {
  width: number;
  height: number;
  encoding: string;
  /** Bytes per row; defaults to width * channels. */
  step?: number;
  data: Uint8Array;
}

/** Channel layout of each supported encoding: bytes per pixel and offsets of r, g, b. */
export const ENCODINGS: Record<ImageEncoding, { channels: number; r: number; g: number; b: number }> = {
  rgb8: { channels: 3, r: 0, g: 1, b: 2 },
  bgr8: { channels: 3, r: 2, g: 1, b: 0 },
  rgba8: { channels: 4, r: 0, g: 1, b: 2 },
  bgra8: { channels: 4, r: 2, g: 1, b: 0 },
  mono8: { channels: 1, r: 0, g: 0, b: 0 },
};

/** How the frame maps to the network input (stretch or letterbox) and to the feature grid. */
export interface ResizePlan {
  srcWidth: number;
  srcHeight: number;
  /** Network input size (multiples of the patch). */
  dstWidth: number;
  dstHeight: number;
  /** Region of the network input that holds the image (the rest is letterbox padding, filled with the mean). */
  contentX: number;
  contentY: number;
  contentWidth: number;
  contentHeight: number;
  patchSize: number;
  /** Feature grid size. */
  gridWidth: number;
  gridHeight: number;
}

/** Options of {@link planResize}. */
export interface ResizeOptions {
  policy: ResizePolicy;
  /** [H, W] for 'fixed'; [S, ...] for short_side / long_side. */
  inputSize: [number, number];
  patchSize: number;
  /** For 'fixed': keep the aspect ratio and pad (true) or stretch (false, default). */
  letterbox?: boolean;
  /** Whether the graph accepts other sizes than inputSize; when false every policy becomes 'fixed'. */
  dynamicHw?: boolean;
}

function roundToPatch(v: number, p: number): number {
  return Math.max(p, Math.round(v / p) * p);
}

/** Computes the network input size for a frame per the manifest's resize policy. */
export function planResize(srcWidth: number, srcHeight: number, o: ResizeOptions): ResizePlan {
  checkSize(srcWidth, srcHeight);
  const p = o.patchSize;
  const policy: ResizePolicy = o.dynamicHw === false ? 'fixed' : o.policy;
  let dstW: number;
  let dstH: number;
  let cx = 0;
  let cy = 0;
  let cw: number;
  let ch: number;
  if (policy === 'fixed') {
    dstH = o.inputSize[0];
    dstW = o.inputSize[1] ?? o.inputSize[0];
    if (dstH % p || dstW % p) {
      throw new PerceptionInputError(
        'image.input_size',
        `${dstH}x${dstW} is not a multiple of the patch ${p}`,
      );
    }
    if (o.letterbox) {
      const s = Math.min(dstW / srcWidth, dstH / srcHeight);
      cw = Math.max(1, Math.round(srcWidth * s));
      ch = Math.max(1, Math.round(srcHeight * s));
      cx = Math.floor((dstW - cw) / 2);
      cy = Math.floor((dstH - ch) / 2);
    } else {
      cw = dstW;
      ch = dstH;
    }
  } else {
    const side = o.inputSize[0];
    const s =
      side / (policy === 'short_side' ? Math.min(srcWidth, srcHeight) : Math.max(srcWidth, srcHeight));
    dstW = roundToPatch(srcWidth * s, p);
    dstH = roundToPatch(srcHeight * s, p);
    cw = dstW;
    ch = dstH;
  }
  const limit = maxInputPixels(o);
  if (dstW * dstH > limit) {
    throw new PerceptionInputError(
      'image.width/height',
      `a ${srcWidth}x${srcHeight} frame would need a ${dstW}x${dstH} network input (over ${limit} pixels); ` +
        'the aspect ratio is extreme: crop or rescale the image upstream',
    );
  }
  return {
    srcWidth,
    srcHeight,
    dstWidth: dstW,
    dstHeight: dstH,
    contentX: cx,
    contentY: cy,
    contentWidth: cw,
    contentHeight: ch,
    patchSize: p,
    gridWidth: dstW / p,
    gridHeight: dstH / p,
  };
}

/** Resize options from a manifest. */
export function resizeOptionsFromManifest(m: ModelManifest, letterbox = false): ResizeOptions {
  return {
    policy: m.image.resize,
    inputSize: m.image.input_size,
    patchSize: m.image.patch_size,
    dynamicHw: m.image.dynamic_hw,
    letterbox,
  };
}

/** Largest accepted source width or height, pixels (as the bag/ROS adapters accept). */
export const MAX_SOURCE_DIM = 32768;
/** Largest network input for short_side / long_side resizing, as a multiple of input_size[0]^2 (aspect 16:1). */
export const MAX_INPUT_AREA_FACTOR = 16;

/** Pixel bound on the network input a plan may ask for (so an extreme aspect ratio cannot allocate gigabytes). */
function maxInputPixels(o: ResizeOptions): number {
  const side = o.inputSize[0];
  const fixed = side * (o.inputSize[1] ?? side);
  return o.dynamicHw === false || o.policy === 'fixed' ? fixed : MAX_INPUT_AREA_FACTOR * side * side;
}

function checkSize(w: number, h: number): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new PerceptionInputError(
      'image.width/height',
      `${w}x${h} is not a positive integer size; drop empty frames upstream`,
    );
  }
  if (w > MAX_SOURCE_DIM || h > MAX_SOURCE_DIM) {
    throw new PerceptionInputError(
      'image.width/height',
      `${w}x${h} exceeds ${MAX_SOURCE_DIM} pixels per side; downscale the image upstream`,
    );
  }
}

/** Validates a raw image and returns its layout. */
export function checkRawImage(img: RawImage): { enc: (typeof ENCODINGS)[ImageEncoding]; step: number } {
  checkSize(img.width, img.height);
  const enc = ENCODINGS[img.encoding as ImageEncoding];
  if (!enc) {
    throw new PerceptionInputError(
      'image.encoding',
      `'${img.encoding}' is not supported; use one of ${Object.keys(ENCODINGS).join(', ')} (convert depth / 16-bit / bayer images first)`,
    );
  }
  const step = img.step ?? img.width * enc.channels;
  if (step < img.width * enc.channels) {
    throw new PerceptionInputError(
      'image.step',
      `${step} is less than width*channels = ${img.width * enc.channels} for ${img.encoding}`,
    );
  }
  if (img.data.length < step * (img.height - 1) + img.width * enc.channels) {
    throw new PerceptionInputError(
      'image.data',
      `${img.data.length} bytes is too short for ${img.height} rows of step ${step} (${img.encoding}); check step and height`,
    );
  }
  return { enc, step };
}

/** Per-axis resampling weights: for output i, taps start at `start[i]`, count `count[i]`, weights at i*maxTaps. */
interface AxisWeights {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/** Triangle-filter (bilinear) weights with support scaled by the downscale factor (antialiasing). */
export function axisWeights(srcLen: number, dstLen: number): AxisWeights {
  const scale = srcLen / dstLen;
  const support = Math.max(1, scale); // filter radius in source pixels
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dstLen);
  const count = new Int32Array(dstLen);
  const weights = new Float32Array(dstLen * maxTaps);
  for (let i = 0; i < dstLen; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(srcLen, Math.floor(center + support + 0.5));
    let sum = 0;
    let n = 0;
    let first = -1;
    for (let j = lo; j < hi && n < maxTaps; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / support));
      if (w === 0 && n === 0) continue; // skip leading zero taps
      if (first < 0) first = j;
      weights[i * maxTaps + n++] = w;
      sum += w;
    }
    while (n > 1 && weights[i * maxTaps + n - 1] === 0) n--; // and trailing ones
    if (sum > 0) for (let k = 0; k < n; k++) weights[i * maxTaps + k] /= sum;
    start[i] = first < 0 ? lo : first;
    count[i] = n;
  }
  return { start, count, weights, maxTaps };
}

/** Reusable scratch for {@link preprocessImage} (avoid per-frame allocation). */
export interface PreprocessScratch {
  /**
   * 'wasm' (default): the passes run in WebAssembly SIMD (wasm/preprocess.wat); 'js': the TypeScript passes
   * (the reference the WebAssembly path is tested against).
   */
  engine?: 'wasm' | 'js';
  kernel?: ResizeKernel;
  rows?: Float32Array;
  out?: Float32Array;
  key?: string;
  wx?: AxisWeights;
  wy?: AxisWeights;
  fx?: FixedTaps;
  fy?: FixedTaps;
}

/** Taps padded to a fixed count T (zero weights), with element offsets precomputed (index * stride). */
interface FixedTaps {
  T: number;
  off: Int32Array;
  w: Float32Array;
}

function fixedTaps(aw: AxisWeights, stride: number): FixedTaps {
  const n = aw.start.length;
  let T = 1;
  for (let i = 0; i < n; i++) T = Math.max(T, aw.count[i]);
  const off = new Int32Array(n * T);
  const w = new Float32Array(n * T);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < T; k++) {
      const valid = k < aw.count[i];
      off[i * T + k] = (aw.start[i] + (valid ? k : 0)) * stride;
      w[i * T + k] = valid ? aw.weights[i * aw.maxTaps + k] : 0;
    }
  }
  return { T, off, w };
}

/** Horizontal pass with at most 3 taps (the common case: downscale < 2x or any upscale), unrolled. */
function horizontal3(
  src: Uint8Array,
  rows: Float32Array,
  height: number,
  step: number,
  cw: number,
  fx: FixedTaps,
  oR: number,
  oG: number,
  oB: number,
): void {
  const off = fx.off;
  const wt = fx.w;
  const T = fx.T;
  for (let y = 0; y < height; y++) {
    const rowOff = y * step;
    let d = y * cw * 3;
    for (let x = 0; x < cw; x++) {
      const t = x * T;
      const p0 = rowOff + off[t];
      const w0 = wt[t];
      if (T === 1) {
        rows[d++] = w0 * src[p0 + oR];
        rows[d++] = w0 * src[p0 + oG];
        rows[d++] = w0 * src[p0 + oB];
        continue;
      }
      const p1 = rowOff + off[t + 1];
      const w1 = wt[t + 1];
      if (T === 2) {
        rows[d++] = w0 * src[p0 + oR] + w1 * src[p1 + oR];
        rows[d++] = w0 * src[p0 + oG] + w1 * src[p1 + oG];
        rows[d++] = w0 * src[p0 + oB] + w1 * src[p1 + oB];
        continue;
      }
      const p2 = rowOff + off[t + 2];
      const w2 = wt[t + 2];
      rows[d++] = w0 * src[p0 + oR] + w1 * src[p1 + oR] + w2 * src[p2 + oR];
      rows[d++] = w0 * src[p0 + oG] + w1 * src[p1 + oG] + w2 * src[p2 + oG];
      rows[d++] = w0 * src[p0 + oB] + w1 * src[p1 + oB] + w2 * src[p2 + oB];
    }
  }
}

/** Vertical pass + normalisation with at most 3 taps: whole-row lerps into the three output planes. */
function vertical3(
  rows: Float32Array,
  out: Float32Array,
  ch: number,
  cw: number,
  W: number,
  plane: number,
  contentX: number,
  contentY: number,
  fy: FixedTaps,
  scale: readonly number[],
  offset: readonly number[],
): void {
  const T = fy.T;
  const [sr, sg, sb] = scale;
  const [orr, og, ob] = offset;
  for (let y = 0; y < ch; y++) {
    const t = y * T;
    const a = fy.off[t];
    const b = T > 1 ? fy.off[t + 1] : a;
    const c = T > 2 ? fy.off[t + 2] : a;
    const w0 = fy.w[t];
    const w1 = T > 1 ? fy.w[t + 1] : 0;
    const w2 = T > 2 ? fy.w[t + 2] : 0;
    let o = (y + contentY) * W + contentX;
    for (let x = 0, q = 0; x < cw; x++, q += 3, o++) {
      out[o] = (w0 * rows[a + q] + w1 * rows[b + q] + w2 * rows[c + q]) * sr - orr;
      out[plane + o] = (w0 * rows[a + q + 1] + w1 * rows[b + q + 1] + w2 * rows[c + q + 1]) * sg - og;
      out[2 * plane + o] = (w0 * rows[a + q + 2] + w1 * rows[b + q + 2] + w2 * rows[c + q + 2]) * sb - ob;
    }
  }
}

/** Result of {@link preprocessImage}: NCHW pixels [1,3,H,W] and the plan. */
export interface PreprocessResult {
  pixels: Float32Array;
  dims: [1, 3, number, number];
  plan: ResizePlan;
}

/**
 * Decodes, resizes and normalises a raw image into NCHW float32: out = (v/255 - mean) / std. Letterbox padding
 * holds 0 (the normalised mean). Pass the same `scratch` object every frame to reuse buffers.
 */
export function preprocessImage(
  img: RawImage,
  plan: ResizePlan,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
  scratch: PreprocessScratch = {},
): PreprocessResult {
  const { enc, step } = checkRawImage(img);
  if (plan.srcWidth !== img.width || plan.srcHeight !== img.height) {
    throw new PerceptionInputError(
      'plan',
      `made for ${plan.srcWidth}x${plan.srcHeight}, image is ${img.width}x${img.height}`,
    );
  }
  const W = plan.dstWidth;
  const H = plan.dstHeight;
  const cw = plan.contentWidth;
  const ch = plan.contentHeight;
  const key = `${img.encoding}:${img.width}x${img.height}->${cw}x${ch}@${W}x${H}`;
  if (scratch.key !== key) {
    scratch.key = key;
    scratch.wx = axisWeights(img.width, cw);
    scratch.wy = axisWeights(img.height, ch);
    scratch.fx = fixedTaps(scratch.wx, enc.channels);
    scratch.fy = fixedTaps(scratch.wy, cw * 3);
    scratch.kernel = undefined;
    scratch.rows = undefined;
    scratch.out = undefined;
  }
  const plane = H * W;
  const sr = 1 / (255 * std[0]);
  const sg = 1 / (255 * std[1]);
  const sb = 1 / (255 * std[2]);
  const orr = mean[0] / std[0];
  const og = mean[1] / std[1];
  const ob = mean[2] / std[2];
  if (scratch.engine !== 'js') {
    const fx = scratch.fx!;
    const fy = scratch.fy!;
    scratch.kernel ??= new ResizeKernel({
      srcWidth: img.width,
      srcHeight: img.height,
      step,
      cw,
      ch,
      W,
      H,
      contentX: plan.contentX,
      contentY: plan.contentY,
      xT: fx.T,
      xOff: fx.off,
      xW: fx.w,
      yT: fy.T,
      yRow: fy.off.map((o) => o / (cw * 3)),
      yW: fy.w,
    });
    // the letterbox border is never written: it stays 0 (the normalised mean)
    const pixels = scratch.kernel.run(img.data, enc.r, enc.g, enc.b, [sr, sg, sb], [orr, og, ob]);
    return { pixels, dims: [1, 3, H, W], plan };
  }
  scratch.rows ??= new Float32Array(img.height * cw * 3);
  scratch.out ??= new Float32Array(3 * H * W);
  const wx = scratch.wx!;
  const wy = scratch.wy!;
  const rows = scratch.rows!;
  const out = scratch.out!;
  const src = img.data;
  const C = enc.channels;
  const oR = enc.r;
  const oG = enc.g;
  const oB = enc.b;
  const xStart = wx.start;
  const xCount = wx.count;
  const xW = wx.weights;
  const xTaps = wx.maxTaps;
  const fx = scratch.fx!;
  const fy = scratch.fy!;
  const fast = fx.T <= 3 && fy.T <= 3;
  // Pass 1: horizontal resample of every source row into rows[y][x][rgb] (still 0..255).
  if (fast) horizontal3(src, rows, img.height, step, cw, fx, oR, oG, oB);
  for (let y = 0; y < (fast ? 0 : img.height); y++) {
    const rowOff = y * step;
    let d = y * cw * 3;
    for (let x = 0; x < cw; x++) {
      const n = xCount[x];
      let wo = x * xTaps;
      let p = rowOff + xStart[x] * C;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < n; k++, wo++, p += C) {
        const w = xW[wo];
        r += w * src[p + oR];
        g += w * src[p + oG];
        b += w * src[p + oB];
      }
      rows[d++] = r;
      rows[d++] = g;
      rows[d++] = b;
    }
  }
  // Pass 2: vertical resample + normalise into planar NCHW.
  if (plan.contentWidth !== W || plan.contentHeight !== H) out.fill(0);
  const rowLen = cw * 3;
  if (fast) {
    vertical3(rows, out, ch, cw, W, plane, plan.contentX, plan.contentY, fy, [sr, sg, sb], [orr, og, ob]);
    return { pixels: out, dims: [1, 3, H, W], plan };
  }
  for (let y = 0; y < ch; y++) {
    const s0 = wy.start[y];
    const n = wy.count[y];
    const wo = y * wy.maxTaps;
    const outRow = (y + plan.contentY) * W + plan.contentX;
    if (n === 1) {
      const base = s0 * rowLen;
      for (let x = 0, p = base; x < cw; x++, p += 3) {
        const o = outRow + x;
        out[o] = rows[p] * sr - orr;
        out[plane + o] = rows[p + 1] * sg - og;
        out[2 * plane + o] = rows[p + 2] * sb - ob;
      }
      continue;
    }
    for (let x = 0; x < cw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, p = s0 * rowLen + x * 3; k < n; k++, p += rowLen) {
        const w = wy.weights[wo + k];
        r += w * rows[p];
        g += w * rows[p + 1];
        b += w * rows[p + 2];
      }
      const o = outRow + x;
      out[o] = r * sr - orr;
      out[plane + o] = g * sg - og;
      out[2 * plane + o] = b * sb - ob;
    }
  }
  return { pixels: out, dims: [1, 3, H, W], plan };
}

/** Wraps a packed rgb8 {@link RgbImage}-like object as a RawImage. */
export function rawFromRgb(img: { width: number; height: number; data: Uint8Array }): RawImage {
  return { width: img.width, height: img.height, encoding: 'rgb8', step: img.width * 3, data: img.data };
}
