/**
 * sensor_msgs/Image, CompressedImage and CameraInfo <-> typed arrays and core types.
 * Row `step` padding and `is_bigendian` are respected; output arrays are packed (no padding).
 */
import sharp from 'sharp';
import type { CameraIntrinsics, RgbImage } from '../types';
import { ImageFormatError, errorMessage, type BagErrorContext } from './errors';

/** std_msgs/Header as decoded. */
export interface HeaderMsg {
  stamp: { sec: number; nanosec: number };
  frame_id: string;
}

/** sensor_msgs/Image as decoded. */
export interface ImageMsg {
  header: HeaderMsg;
  height: number;
  width: number;
  encoding: string;
  is_bigendian: number;
  step: number;
  data: Uint8Array;
}

/** sensor_msgs/CompressedImage as decoded. */
export interface CompressedImageMsg {
  header: HeaderMsg;
  format: string;
  data: Uint8Array;
}

/** sensor_msgs/CameraInfo as decoded (fields this project uses). */
export interface CameraInfoMsg {
  header: HeaderMsg;
  height: number;
  width: number;
  distortion_model: string;
  d: ArrayLike<number>;
  k: ArrayLike<number>;
  r: ArrayLike<number>;
  p: ArrayLike<number>;
  binning_x: number;
  binning_y: number;
  roi: { x_offset: number; y_offset: number; height: number; width: number; do_rectify: boolean };
}

/** Supported encodings: channels and bytes per channel. */
export const IMAGE_ENCODINGS: Readonly<Record<string, { channels: number; bytesPerChannel: number }>> = {
  rgb8: { channels: 3, bytesPerChannel: 1 },
  bgr8: { channels: 3, bytesPerChannel: 1 },
  rgba8: { channels: 4, bytesPerChannel: 1 },
  bgra8: { channels: 4, bytesPerChannel: 1 },
  mono8: { channels: 1, bytesPerChannel: 1 },
  '8UC1': { channels: 1, bytesPerChannel: 1 },
  '16UC1': { channels: 1, bytesPerChannel: 2 },
  mono16: { channels: 1, bytesPerChannel: 2 },
  '32FC1': { channels: 1, bytesPerChannel: 4 },
};

/** Largest accepted width or height, pixels. */
export const MAX_IMAGE_DIM = 32768;
/** Largest accepted pixel count (256 Mpx). */
export const MAX_IMAGE_PIXELS = 1 << 28;
/**
 * Largest pixel count a CompressedImage may decode to (64 Mpx = 192 MB of rgb8). Checked from the jpeg/png
 * header before decoding, so a small file claiming huge dimensions never allocates.
 */
export const MAX_COMPRESSED_PIXELS = 1 << 26;

/** Header from a stamp in ns and a frame id. */
export function headerFromNs(stampNs: bigint, frameId: string): HeaderMsg {
  return {
    stamp: { sec: Number(stampNs / 1_000_000_000n), nanosec: Number(stampNs % 1_000_000_000n) },
    frame_id: frameId,
  };
}

/** Stamp ({sec, nanosec}) to ns. */
export function stampToNs(stamp: { sec: number; nanosec: number }): bigint {
  return BigInt(stamp.sec) * 1_000_000_000n + BigInt(stamp.nanosec);
}

function checkDims(
  width: number,
  height: number,
  ctx: BagErrorContext,
  maxPixels: number = MAX_IMAGE_PIXELS,
): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_IMAGE_DIM) {
      throw new ImageFormatError(
        `image ${name} ${v} is invalid (must be an integer in 0..${MAX_IMAGE_DIM})`,
        {
          ...ctx,
          field: name,
        },
      );
    }
  }
  if (width * height > maxPixels) {
    throw new ImageFormatError(`image of ${width}x${height} exceeds ${maxPixels} pixels`, {
      ...ctx,
      field: 'width',
    });
  }
}

/**
 * Validate an Image message's encoding, size, step and data length. Returns the layout.
 * Throws ImageFormatError naming the field.
 */
export function validateImage(
  msg: ImageMsg,
  ctx: BagErrorContext = {},
): { channels: number; bytesPerChannel: number; pixelBytes: number } {
  const enc = IMAGE_ENCODINGS[msg.encoding];
  if (!enc) {
    throw new ImageFormatError(
      `unsupported image encoding '${msg.encoding}' (supported: ${Object.keys(IMAGE_ENCODINGS).join(', ')})`,
      { ...ctx, field: 'encoding' },
    );
  }
  checkDims(msg.width, msg.height, ctx);
  const pixelBytes = enc.channels * enc.bytesPerChannel;
  if (!Number.isInteger(msg.step) || msg.step < msg.width * pixelBytes) {
    throw new ImageFormatError(
      `step ${msg.step} is smaller than width*bytesPerPixel = ${msg.width}*${pixelBytes}; ` +
        'set step to the row length in bytes (incl. padding)',
      { ...ctx, field: 'step' },
    );
  }
  const need = msg.step * (msg.height - 1) + msg.width * pixelBytes;
  if (msg.height > 0 && msg.data.length < need) {
    throw new ImageFormatError(
      `data holds ${msg.data.length} bytes but step*height needs ${msg.step * msg.height} ` +
        `(${msg.step}*${msg.height}); the image is truncated or step/height are wrong`,
      { ...ctx, field: 'data' },
    );
  }
  return { ...enc, pixelBytes };
}

function bytesOf(data: ArrayLike<number>): Uint8Array {
  return data instanceof Uint8Array ? data : Uint8Array.from(data);
}

/** Packed pixels of an Image message in native order. */
export interface ImageArray {
  width: number;
  height: number;
  channels: number;
  encoding: string;
  /** Uint8Array (8-bit), Uint16Array (16UC1/mono16) or Float32Array (32FC1), length width*height*channels. */
  data: Uint8Array | Uint16Array | Float32Array;
}

/** Image message -> packed typed array (row padding removed, byte order converted). */
export function imageToTypedArray(msg: ImageMsg, ctx: BagErrorContext = {}): ImageArray {
  const m = { ...msg, data: bytesOf(msg.data) };
  const { channels, bytesPerChannel, pixelBytes } = validateImage(m, ctx);
  const { width, height, step } = m;
  const n = width * height * channels;
  const src = m.data;
  if (bytesPerChannel === 1) {
    const out = new Uint8Array(n);
    const row = width * pixelBytes;
    for (let y = 0; y < height; y++) out.set(src.subarray(y * step, y * step + row), y * row);
    return { width, height, channels, encoding: m.encoding, data: out };
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const little = !m.is_bigendian;
  const perRow = width * channels;
  if (bytesPerChannel === 2) {
    const out = new Uint16Array(n);
    for (let y = 0; y < height; y++) {
      const base = y * step;
      for (let i = 0; i < perRow; i++) out[y * perRow + i] = view.getUint16(base + 2 * i, little);
    }
    return { width, height, channels, encoding: m.encoding, data: out };
  }
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const base = y * step;
    for (let i = 0; i < perRow; i++) out[y * perRow + i] = view.getFloat32(base + 4 * i, little);
  }
  return { width, height, channels, encoding: m.encoding, data: out };
}

/** Image message (rgb8, bgr8, rgba8, bgra8, mono8) -> packed rgb8 RgbImage. */
export function imageToRgb(msg: ImageMsg, ctx: BagErrorContext = {}): RgbImage {
  const a = imageToTypedArray(msg, ctx);
  if (!(a.data instanceof Uint8Array)) {
    throw new ImageFormatError(`encoding '${msg.encoding}' is not a colour image; use depthToMeters()`, {
      ...ctx,
      field: 'encoding',
    });
  }
  const src = a.data;
  const np = a.width * a.height;
  const c = a.channels;
  const swap = msg.encoding.startsWith('bgr');
  // rgb8: imageToTypedArray already made a fresh packed copy, which is the result (saves a per-pixel pass)
  if (c === 3 && !swap) return { width: a.width, height: a.height, data: src };
  const out = new Uint8Array(np * 3);
  for (let i = 0; i < np; i++) {
    if (c === 1) {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i];
    } else {
      out[3 * i] = src[c * i + (swap ? 2 : 0)];
      out[3 * i + 1] = src[c * i + 1];
      out[3 * i + 2] = src[c * i + (swap ? 0 : 2)];
    }
  }
  return { width: a.width, height: a.height, data: out };
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Depth Image (16UC1/mono16 = millimetres, 32FC1 = metres) -> metres, Float32Array (0 / NaN = invalid).
 * 32FC1 values that are not a usable depth (NaN, +-Inf as REP 118 uses them, negative) become NaN.
 */
export function depthToMeters(msg: ImageMsg, ctx: BagErrorContext = {}): Float32Array {
  const enc = msg.encoding;
  if (enc !== '16UC1' && enc !== 'mono16' && enc !== '32FC1') {
    throw new ImageFormatError(`encoding '${enc}' is not a depth encoding (16UC1 in mm or 32FC1 in m)`, {
      ...ctx,
      field: 'encoding',
    });
  }
  if (enc !== '32FC1' && !msg.is_bigendian && LITTLE_ENDIAN_HOST) {
    // 16-bit little-endian, aligned and unpadded (the RealSense case): read the bytes in place (same values)
    const b = bytesOf(msg.data);
    const n = msg.width * msg.height;
    if (msg.step === 2 * msg.width && b.byteOffset % 2 === 0 && b.byteLength >= 2 * n) {
      validateImage({ ...msg, data: b }, ctx);
      const mm = new Uint16Array(b.buffer, b.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = mm[i] * 0.001;
      return out;
    }
  }
  const a = imageToTypedArray(msg, ctx);
  if (a.data instanceof Float32Array) {
    const d = a.data;
    for (let i = 0; i < d.length; i++) if (!(d[i] >= 0 && d[i] < Infinity)) d[i] = NaN;
    return d;
  }
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * 0.001;
  return out;
}

/** Packed rgb8 image -> Image message (rgb8 or bgr8, step = width*3, no padding). */
export function rgbToImageMsg(
  rgb: RgbImage,
  header: HeaderMsg,
  encoding: 'rgb8' | 'bgr8' = 'rgb8',
): ImageMsg {
  checkDims(rgb.width, rgb.height, { field: 'rgb' });
  if (rgb.data.length !== rgb.width * rgb.height * 3) {
    throw new ImageFormatError(`rgb.data has ${rgb.data.length} bytes, expected width*height*3`, {
      field: 'data',
    });
  }
  let data = rgb.data;
  if (encoding === 'bgr8') {
    data = new Uint8Array(rgb.data.length);
    for (let i = 0; i < data.length; i += 3) {
      data[i] = rgb.data[i + 2];
      data[i + 1] = rgb.data[i + 1];
      data[i + 2] = rgb.data[i];
    }
  }
  return {
    header,
    height: rgb.height,
    width: rgb.width,
    encoding,
    is_bigendian: 0,
    step: rgb.width * 3,
    data,
  };
}

function packTyped(values: Uint16Array | Float32Array, bytes: number): Uint8Array {
  const out = new Uint8Array(values.length * bytes);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (bytes === 2) view.setUint16(2 * i, values[i], true);
    else view.setFloat32(4 * i, values[i], true);
  }
  return out;
}

/** Depth in millimetres (uint16, 0 = invalid) -> 16UC1 Image message (little-endian). */
export function depthMmToImageMsg(
  depthMm: Uint16Array,
  width: number,
  height: number,
  header: HeaderMsg,
): ImageMsg {
  checkDims(width, height, { field: 'depth' });
  if (depthMm.length !== width * height) {
    throw new ImageFormatError(`depthMm has ${depthMm.length} values, expected width*height`, {
      field: 'data',
    });
  }
  return {
    header,
    height,
    width,
    encoding: '16UC1',
    is_bigendian: 0,
    step: width * 2,
    data: packTyped(depthMm, 2),
  };
}

/** Depth in metres (float32) -> 32FC1 Image message (little-endian). */
export function depthMToImageMsg(
  depthM: Float32Array,
  width: number,
  height: number,
  header: HeaderMsg,
): ImageMsg {
  checkDims(width, height, { field: 'depth' });
  if (depthM.length !== width * height) {
    throw new ImageFormatError(`depthM has ${depthM.length} values, expected width*height`, {
      field: 'data',
    });
  }
  return {
    header,
    height,
    width,
    encoding: '32FC1',
    is_bigendian: 0,
    step: width * 4,
    data: packTyped(depthM, 4),
  };
}

/** 8-bit single-channel image (e.g. a mask) -> mono8 Image message. */
export function mono8ToImageMsg(
  data: Uint8Array,
  width: number,
  height: number,
  header: HeaderMsg,
): ImageMsg {
  checkDims(width, height, { field: 'mask' });
  if (data.length !== width * height) {
    throw new ImageFormatError(`mono8 data has ${data.length} bytes, expected width*height`, {
      field: 'data',
    });
  }
  return { header, height, width, encoding: 'mono8', is_bigendian: 0, step: width, data };
}

/** Encode an rgb8 image as a CompressedImage ('jpeg' or 'png') with sharp. */
export async function encodeCompressedImage(
  rgb: RgbImage,
  header: HeaderMsg,
  format: 'jpeg' | 'png' = 'jpeg',
  quality = 90,
): Promise<CompressedImageMsg> {
  checkDims(rgb.width, rgb.height, { field: 'rgb' });
  const img = sharp(Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength), {
    raw: { width: rgb.width, height: rgb.height, channels: 3 },
  });
  const buf = format === 'png' ? await img.png().toBuffer() : await img.jpeg({ quality }).toBuffer();
  return { header, format, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}

/** Decode a CompressedImage (jpeg / png, any colour type) to rgb8. Throws ImageFormatError. */
export async function decodeCompressedImage(
  msg: CompressedImageMsg,
  ctx: BagErrorContext = {},
): Promise<RgbImage> {
  const fmt = msg.format.toLowerCase();
  if (fmt.includes('compresseddepth')) {
    throw new ImageFormatError(`format '${msg.format}' (compressedDepth) is not a colour image`, {
      ...ctx,
      field: 'format',
    });
  }
  try {
    const data = bytesOf(msg.data);
    const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // Header first: reject huge dimensions before sharp allocates the decoded pixels.
    const meta = await sharp(input).metadata();
    if (meta.width === undefined || meta.height === undefined) {
      throw new ImageFormatError(`CompressedImage (format '${msg.format}') has no image size in its header`, {
        ...ctx,
        field: 'data',
      });
    }
    checkDims(meta.width, meta.height, ctx, MAX_COMPRESSED_PIXELS);
    const { data: raw, info } = await sharp(input, { limitInputPixels: MAX_COMPRESSED_PIXELS })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    checkDims(info.width, info.height, ctx);
    if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(raw) };
    const out = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) {
      for (let k = 0; k < 3; k++) out[3 * i + k] = raw[i * info.channels + Math.min(k, info.channels - 1)];
    }
    return { width: info.width, height: info.height, data: out };
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    throw new ImageFormatError(
      `CompressedImage (format '${msg.format}') does not decode: ${errorMessage(e)}`,
      {
        ...ctx,
        field: 'data',
        cause: e,
      },
    );
  }
}

/** CameraIntrinsics -> sensor_msgs/CameraInfo (R = identity, P = [K | 0]). */
export function cameraInfoFromIntrinsics(intr: CameraIntrinsics, header: HeaderMsg): CameraInfoMsg {
  validateIntrinsics(intr, {});
  const d = intr.d ?? [];
  return {
    header,
    height: intr.height,
    width: intr.width,
    distortion_model: intr.distortionModel ?? (d.length > 0 ? 'plumb_bob' : ''),
    d: [...d],
    k: [intr.fx, 0, intr.cx, 0, intr.fy, intr.cy, 0, 0, 1],
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [intr.fx, 0, intr.cx, 0, 0, intr.fy, intr.cy, 0, 0, 0, 1, 0],
    binning_x: 0,
    binning_y: 0,
    roi: { x_offset: 0, y_offset: 0, height: 0, width: 0, do_rectify: false },
  };
}

function validateIntrinsics(intr: CameraIntrinsics, ctx: BagErrorContext): void {
  checkDims(intr.width, intr.height, ctx);
  if (intr.width === 0 || intr.height === 0) {
    throw new ImageFormatError('camera width/height are 0; the camera is not configured', {
      ...ctx,
      field: 'width',
    });
  }
  for (const [name, v] of [
    ['fx', intr.fx],
    ['fy', intr.fy],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) {
      throw new ImageFormatError(
        `focal length ${name} = ${v} is not a positive finite number; the camera is uncalibrated (K all zero?) — ` +
          'calibrate it or publish a CameraInfo with a valid K',
        { ...ctx, field: `k (${name})` },
      );
    }
  }
  for (const [name, v] of [
    ['cx', intr.cx],
    ['cy', intr.cy],
  ] as const) {
    if (!Number.isFinite(v)) {
      throw new ImageFormatError(`principal point ${name} = ${v} is not finite`, {
        ...ctx,
        field: `k (${name})`,
      });
    }
  }
}

/** sensor_msgs/CameraInfo -> CameraIntrinsics. Throws ImageFormatError for zero/NaN focal lengths or size. */
export function intrinsicsFromCameraInfo(msg: CameraInfoMsg, ctx: BagErrorContext = {}): CameraIntrinsics {
  const k = msg.k;
  if (!k || k.length !== 9) {
    throw new ImageFormatError('CameraInfo.k must have 9 elements', { ...ctx, field: 'k' });
  }
  const intr: CameraIntrinsics = {
    width: msg.width,
    height: msg.height,
    fx: k[0],
    fy: k[4],
    cx: k[2],
    cy: k[5],
    distortionModel: msg.distortion_model,
    d: Array.from(msg.d ?? []),
  };
  validateIntrinsics(intr, ctx);
  return intr;
}
