/**
 * Depth sensor model (stereo / structured-light style) applied to a noise-free depth image:
 * range limits, missing pixels at depth discontinuities, on dark and on specular-highlight surfaces, random
 * dropouts, depth-dependent Gaussian noise (sigma = noiseRel * z + noiseQuadPerM * z^2), disparity quantisation,
 * and millimetre quantisation to uint16 (0 = invalid).
 */
import type { CameraIntrinsics } from '../types';
import { SynthOptionError } from './errors';
import { Rng } from './rng';

/** Sensor model parameters (all optional; defaults resemble a RealSense D4xx at VGA). */
export interface SensorOptions {
  /** Linear noise term: sigma += noiseRel * z (default 0.001, i.e. 1 mm at 1 m). */
  noiseRel?: number;
  /** Quadratic noise term per metre: sigma += noiseQuadPerM * z^2 (default 0.0015). */
  noiseQuadPerM?: number;
  /** Disparity quantisation step in pixels (default 0.08; 0 = off). */
  disparityStepPx?: number;
  /** Stereo baseline in metres for the disparity quantisation (default 0.05). */
  baselineM?: number;
  /** A pixel is on a depth edge when a 4-neighbour differs by more than edgeRel * z + 0.005 m (default 0.03). */
  edgeRel?: number;
  /** Half-width in pixels of the band around depth edges that can go missing (default 1). */
  edgeBandPx?: number;
  /** Probability that a pixel in an edge band is missing (default 0.85). */
  edgeDropProb?: number;
  /** Pixels darker than this luma (0..255) are unreliable (default 40). */
  darkLuma?: number;
  /** Probability that a dark pixel is missing (default 0.6). */
  darkDropProb?: number;
  /** Probability that a specular-highlight pixel is missing (default 0.9). */
  specularDropProb?: number;
  /** Probability that any pixel is missing (default 0.002). */
  randomDropProb?: number;
  /** Valid range in metres (default 0.15 .. 4.0). */
  minRangeM?: number;
  maxRangeM?: number;
}

/** Fills defaults and validates. */
export function resolveSensorOptions(o: SensorOptions = {}): Required<SensorOptions> {
  const r: Required<SensorOptions> = {
    noiseRel: o.noiseRel ?? 0.001,
    noiseQuadPerM: o.noiseQuadPerM ?? 0.0015,
    disparityStepPx: o.disparityStepPx ?? 0.08,
    baselineM: o.baselineM ?? 0.05,
    edgeRel: o.edgeRel ?? 0.03,
    edgeBandPx: o.edgeBandPx ?? 1,
    edgeDropProb: o.edgeDropProb ?? 0.85,
    darkLuma: o.darkLuma ?? 40,
    darkDropProb: o.darkDropProb ?? 0.6,
    specularDropProb: o.specularDropProb ?? 0.9,
    randomDropProb: o.randomDropProb ?? 0.002,
    minRangeM: o.minRangeM ?? 0.15,
    maxRangeM: o.maxRangeM ?? 4.0,
  };
  for (const [k, v] of Object.entries(r)) {
    if (!Number.isFinite(v) || v < 0)
      throw new SynthOptionError(`sensor.${k}`, `must be a finite number >= 0, got ${v}`);
  }
  for (const k of ['edgeDropProb', 'darkDropProb', 'specularDropProb', 'randomDropProb'] as const) {
    if (r[k] > 1)
      throw new SynthOptionError(`sensor.${k}`, `is a probability, must be in [0, 1], got ${r[k]}`);
  }
  if (r.disparityStepPx > 0 && !(r.baselineM > 0))
    throw new SynthOptionError('sensor.baselineM', 'must be > 0 when disparityStepPx > 0');
  if (!(r.maxRangeM > r.minRangeM))
    throw new SynthOptionError('sensor.maxRangeM', `must exceed minRangeM (${r.minRangeM})`);
  if (!Number.isInteger(r.edgeBandPx))
    throw new SynthOptionError('sensor.edgeBandPx', `must be an integer, got ${r.edgeBandPx}`);
  return r;
}

/** Noise-free depth (metres, 0 = nothing) -> uint16 millimetres (0 = invalid), no sensor effects. */
export function quantiseDepthMm(depthM: Float32Array): Uint16Array {
  const out = new Uint16Array(depthM.length);
  for (let i = 0; i < depthM.length; i++) {
    const z = depthM[i];
    if (z > 0) {
      const mm = Math.round(z * 1000);
      out[i] = mm > 65535 ? 0 : mm;
    }
  }
  return out;
}

/**
 * Applies the sensor model. `depthM` is noise-free camera z (0 = nothing), `rgb` the rendered rgb8 image (for
 * dark-surface dropouts), `specularFlags` 1 where a specular highlight was rendered (or null).
 */
export function applySensorModel(
  depthM: Float32Array,
  rgb: Uint8Array,
  specularFlags: Uint8Array | null,
  camera: CameraIntrinsics,
  options: SensorOptions,
  rng: Rng,
): Uint16Array {
  const o = resolveSensorOptions(options);
  const W = camera.width;
  const H = camera.height;
  const n = W * H;
  // 1. Edge map (both sides of a discontinuity, and pixels next to holes).
  const edge = new Uint8Array(n);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const z = depthM[i];
      if (!(z > 0)) continue;
      const thr = o.edgeRel * z + 0.005;
      if (x + 1 < W) {
        const zr = depthM[i + 1];
        if (!(zr > 0) || Math.abs(zr - z) > thr) {
          edge[i] = 1;
          if (zr > 0) edge[i + 1] = 1;
        }
      }
      if (y + 1 < H) {
        const zd = depthM[i + W];
        if (!(zd > 0) || Math.abs(zd - z) > thr) {
          edge[i] = 1;
          if (zd > 0) edge[i + W] = 1;
        }
      }
    }
  }
  // 2. Dilate the edge map by edgeBandPx (separable max filter).
  let band = edge;
  const b = o.edgeBandPx;
  if (b > 0) {
    const tmp = new Uint8Array(n);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!edge[i]) continue;
        for (let k = Math.max(0, x - b); k <= Math.min(W - 1, x + b); k++) tmp[y * W + k] = 1;
      }
    }
    band = new Uint8Array(n);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!tmp[i]) continue;
        for (let k = Math.max(0, y - b); k <= Math.min(H - 1, y + b); k++) band[k * W + x] = 1;
      }
    }
  }
  // 3. Per-pixel dropouts, noise, quantisation.
  const out = new Uint16Array(n);
  const fb = camera.fx * o.baselineM;
  const step = o.disparityStepPx;
  for (let i = 0; i < n; i++) {
    let z = depthM[i];
    if (!(z > 0)) continue;
    if (z < o.minRangeM || z > o.maxRangeM) continue;
    if (band[i] && rng.next() < o.edgeDropProb) continue;
    if (o.randomDropProb > 0 && rng.next() < o.randomDropProb) continue;
    if (o.darkDropProb > 0) {
      const luma = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
      if (luma < o.darkLuma && rng.next() < o.darkDropProb) continue;
    }
    if (specularFlags !== null && specularFlags[i] && rng.next() < o.specularDropProb) continue;
    const sigma = o.noiseRel * z + o.noiseQuadPerM * z * z;
    z += sigma * rng.normal();
    if (step > 0 && z > 0) {
      const d = fb / z;
      const dq = Math.round(d / step) * step;
      if (dq <= 0) continue;
      z = fb / dq;
    }
    const mm = Math.round(z * 1000);
    if (mm <= 0 || mm > 65535) continue;
    out[i] = mm;
  }
  return out;
}
