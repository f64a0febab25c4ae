import type { CameraIntrinsics, RgbImage } from '../types';
import { GeometryInputError } from './errors';
import type { PointCloud } from './pointcloud';

/** Converts integer depth (16UC1) to metres: mm by default, or any `unitsPerMeter` (YCB-Video uses 10000). */
export function depthUnitsToM(depth: Uint16Array | ArrayLike<number>, unitsPerMeter = 1000): Float32Array {
  if (!(unitsPerMeter > 0)) {
    throw new GeometryInputError('unitsPerMeter', `must be > 0 (1000 for millimetres), got ${unitsPerMeter}`);
  }
  const out = new Float32Array(depth.length);
  const s = 1 / unitsPerMeter;
  for (let i = 0; i < depth.length; i++) out[i] = depth[i] * s;
  return out;
}

/** Millimetre depth (16UC1, 0 = invalid) to metres. */
export function depthMmToM(depthMm: Uint16Array | ArrayLike<number>): Float32Array {
  return depthUnitsToM(depthMm, 1000);
}

/** True when the camera declares a plumb_bob / rational_polynomial distortion with a non-zero coefficient. */
export function hasDistortion(camera: CameraIntrinsics): boolean {
  return !!camera.d && camera.d.some((c) => c !== 0);
}

function coeffs(camera: CameraIntrinsics): number[] {
  const d = camera.d ?? [];
  const k = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < Math.min(8, d.length); i++) k[i] = d[i];
  return k; // k1 k2 p1 p2 k3 k4 k5 k6
}

/** Applies the plumb_bob (Brown-Conrady; rational_polynomial when 8 coefficients) model to normalised coordinates. */
export function distortNormalized(camera: CameraIntrinsics, x: number, y: number): [number, number] {
  const [k1, k2, p1, p2, k3, k4, k5, k6] = coeffs(camera);
  const r2 = x * x + y * y;
  const radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)));
  return [
    x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
    y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y,
  ];
}

/** Projects a camera-frame point (metres) to pixel coordinates, applying distortion. */
export function projectPoint(camera: CameraIntrinsics, x: number, y: number, z: number): [number, number] {
  let xn = x / z;
  let yn = y / z;
  if (hasDistortion(camera)) [xn, yn] = distortNormalized(camera, xn, yn);
  return [camera.fx * xn + camera.cx, camera.fy * yn + camera.cy];
}

/**
 * Undistorts a pixel to normalised image coordinates (x/z, y/z) by fixed-point iteration (as cv::undistortPoints).
 * Without distortion this is exactly ((u - cx) / fx, (v - cy) / fy).
 */
export function undistortPixel(
  camera: CameraIntrinsics,
  u: number,
  v: number,
  iterations = 20,
): [number, number] {
  const x0 = (u - camera.cx) / camera.fx;
  const y0 = (v - camera.cy) / camera.fy;
  if (!hasDistortion(camera)) return [x0, y0];
  const [k1, k2, p1, p2, k3, k4, k5, k6] = coeffs(camera);
  let x = x0;
  let y = y0;
  for (let i = 0; i < iterations; i++) {
    const r2 = x * x + y * y;
    const icdist = (1 + r2 * (k4 + r2 * (k5 + r2 * k6))) / (1 + r2 * (k1 + r2 * (k2 + r2 * k3)));
    const dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x);
    const dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
    x = (x0 - dx) * icdist;
    y = (y0 - dy) * icdist;
  }
  return [x, y];
}

const rayCache = new Map<string, Float32Array>();

/**
 * Per-pixel normalised ray table [x0, y0, x1, y1, ...] (length 2*w*h) with distortion removed.
 * Cached per distinct camera (small LRU of 8).
 */
export function normalizedRayTable(camera: CameraIntrinsics): Float32Array {
  validateCamera(camera);
  const key = [
    camera.width,
    camera.height,
    camera.fx,
    camera.fy,
    camera.cx,
    camera.cy,
    ...(camera.d ?? []),
  ].join(',');
  const hit = rayCache.get(key);
  if (hit) return hit;
  const { width: w, height: h } = camera;
  const table = new Float32Array(2 * w * h);
  for (let v = 0; v < h; v++) {
    for (let u = 0; u < w; u++) {
      const [x, y] = undistortPixel(camera, u, v);
      table[2 * (v * w + u)] = x;
      table[2 * (v * w + u) + 1] = y;
    }
  }
  if (rayCache.size >= 8) rayCache.delete(rayCache.keys().next().value as string);
  rayCache.set(key, table);
  return table;
}

/** Throws GeometryInputError unless the intrinsics are usable. */
export function validateCamera(camera: CameraIntrinsics): void {
  for (const f of ['width', 'height'] as const) {
    if (!Number.isInteger(camera[f]) || camera[f] <= 0) {
      throw new GeometryInputError(`camera.${f}`, `must be a positive integer, got ${camera[f]}`);
    }
  }
  for (const f of ['fx', 'fy'] as const) {
    if (!(camera[f] > 0) || !Number.isFinite(camera[f])) {
      throw new GeometryInputError(
        `camera.${f}`,
        `focal length must be finite and > 0 (from CameraInfo.k), got ${camera[f]}`,
      );
    }
  }
  for (const f of ['cx', 'cy'] as const) {
    if (!Number.isFinite(camera[f]))
      throw new GeometryInputError(`camera.${f}`, `must be finite, got ${camera[f]}`);
  }
}

export interface DepthToPointsOptions {
  /** Depths below this are invalid (default 0: only 0/NaN are invalid). */
  minDepthM?: number;
  /** Depths above this are invalid (default Infinity). */
  maxDepthM?: number;
  /** Organised output (w*h points, NaN for invalid) instead of only the valid points. Default false. */
  organized?: boolean;
  /** Attach colours from this image (same size as the depth). */
  rgb?: RgbImage;
  /** Keep only pixels where mask[i] != 0 (length w*h). */
  mask?: ArrayLike<number>;
  /** Sample every `stride`-th pixel in u and v (default 1). Ignored for organised output. */
  stride?: number;
}

/** Point cloud lifted from depth; `pixelIndices[i]` is the pixel (v*w+u) of point i. */
export interface LiftedCloud extends PointCloud {
  pixelIndices: Uint32Array;
}

/**
 * Pinhole back-projection of a metric depth image: p = depth * (x_n, y_n, 1) with (x_n, y_n) the undistorted
 * normalised ray of the pixel. Invalid pixels: 0, NaN, or outside [minDepthM, maxDepthM].
 */
export function depthToPointCloud(
  depthM: Float32Array,
  camera: CameraIntrinsics,
  options: DepthToPointsOptions = {},
): LiftedCloud {
  validateCamera(camera);
  const { width: w, height: h } = camera;
  if (depthM.length !== w * h) {
    throw new GeometryInputError(
      'depthM',
      `length ${depthM.length} must equal camera width*height (${w * h})`,
    );
  }
  const minD = options.minDepthM ?? 0;
  const maxD = options.maxDepthM ?? Infinity;
  const mask = options.mask;
  if (mask && mask.length !== w * h) {
    throw new GeometryInputError('options.mask', `length ${mask.length} must equal width*height (${w * h})`);
  }
  const rgb = options.rgb;
  if (rgb && (rgb.width !== w || rgb.height !== h || rgb.data.length !== w * h * 3)) {
    throw new GeometryInputError('options.rgb', `must be ${w}x${h} rgb8 aligned to the depth image`);
  }
  const stride = Math.max(1, Math.floor(options.stride ?? 1));
  const distorted = hasDistortion(camera);
  const rays = distorted ? normalizedRayTable(camera) : null;
  const ifx = 1 / camera.fx;
  const ify = 1 / camera.fy;
  const { cx, cy } = camera;

  if (options.organized) {
    const pts = new Float32Array(3 * w * h).fill(NaN);
    const col = rgb ? new Uint8Array(3 * w * h) : undefined;
    const pix = new Uint32Array(w * h);
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) {
        const i = v * w + u;
        pix[i] = i;
        if (col) {
          col[3 * i] = rgb!.data[3 * i];
          col[3 * i + 1] = rgb!.data[3 * i + 1];
          col[3 * i + 2] = rgb!.data[3 * i + 2];
        }
        const z = depthM[i];
        if (!(z > 0) || z < minD || z > maxD || (mask && !mask[i])) continue;
        const xn = rays ? rays[2 * i] : (u - cx) * ifx;
        const yn = rays ? rays[2 * i + 1] : (v - cy) * ify;
        pts[3 * i] = xn * z;
        pts[3 * i + 1] = yn * z;
        pts[3 * i + 2] = z;
      }
    }
    return { points: pts, colors: col, width: w, height: h, pixelIndices: pix };
  }

  // count first to allocate exactly
  let n = 0;
  for (let v = 0; v < h; v += stride) {
    for (let u = 0; u < w; u += stride) {
      const i = v * w + u;
      const z = depthM[i];
      if (z > 0 && z >= minD && z <= maxD && (!mask || mask[i])) n++;
    }
  }
  const pts = new Float32Array(3 * n);
  const col = rgb ? new Uint8Array(3 * n) : undefined;
  const pix = new Uint32Array(n);
  let k = 0;
  for (let v = 0; v < h; v += stride) {
    for (let u = 0; u < w; u += stride) {
      const i = v * w + u;
      const z = depthM[i];
      if (!(z > 0) || z < minD || z > maxD || (mask && !mask[i])) continue;
      const xn = rays ? rays[2 * i] : (u - cx) * ifx;
      const yn = rays ? rays[2 * i + 1] : (v - cy) * ify;
      pts[3 * k] = xn * z;
      pts[3 * k + 1] = yn * z;
      pts[3 * k + 2] = z;
      if (col) {
        col[3 * k] = rgb!.data[3 * i];
        col[3 * k + 1] = rgb!.data[3 * i + 1];
        col[3 * k + 2] = rgb!.data[3 * i + 2];
      }
      pix[k++] = i;
    }
  }
  return { points: pts, colors: col, pixelIndices: pix };
}
