import type { CameraIntrinsics, Pose } from '../types';
import { GeometryInputError } from '../geometry/errors';
import { validateFeatureMap, type AnchorView, type DenseFeatureMap } from './anchor';

/** A stored anchor for anchor mode: one RGB-D view of the object, its mask, dense features and its pose. */
export interface AnchorRecord {
  /** Query text the anchor was captured for. */
  label: string;
  camera: CameraIntrinsics;
  /** Object pose in the anchor view (identity when the user defines the anchor as the object frame). */
  pose: Pose;
  depthM: Float32Array;
  mask: Uint8Array;
  features: DenseFeatureMap;
}

const MAGIC = 'DCANCHR1';

/**
 * Serialises an anchor: 8-byte magic "DCANCHR1", uint32 LE header length, JSON header (label, camera, pose,
 * feature grid), zero padding to 4 bytes, then float32 LE depth (w*h), float32 LE features (gridH*gridW*dim),
 * and uint8 mask (w*h).
 */
export function encodeAnchor(rec: AnchorRecord): Uint8Array {
  const { width: w, height: h } = rec.camera;
  if (rec.depthM.length !== w * h) throw new GeometryInputError('anchor.depthM', `length must be ${w * h}`);
  if (rec.mask.length !== w * h) throw new GeometryInputError('anchor.mask', `length must be ${w * h}`);
  validateFeatureMap(rec.features, 'anchor.features');
  const header = new TextEncoder().encode(
    JSON.stringify({
      label: rec.label,
      camera: rec.camera,
      pose: { R: Array.from(rec.pose.R), tM: Array.from(rec.pose.tM) },
      features: { gridH: rec.features.gridH, gridW: rec.features.gridW, dim: rec.features.dim },
    }),
  );
  const headLen = header.length;
  const pad = (4 - ((12 + headLen) % 4)) % 4;
  const start = 12 + headLen + pad;
  const total = start + 4 * w * h + 4 * rec.features.data.length + w * h;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  dv.setUint32(8, headLen, true);
  out.set(header, 12);
  let o = start;
  for (let i = 0; i < w * h; i++, o += 4) dv.setFloat32(o, rec.depthM[i], true);
  for (let i = 0; i < rec.features.data.length; i++, o += 4) dv.setFloat32(o, rec.features.data[i], true);
  out.set(rec.mask, o);
  return out;
}

/** Parses `encodeAnchor` output; throws GeometryInputError on a corrupt or foreign file. */
export function decodeAnchor(bytes: Uint8Array): AnchorRecord {
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new GeometryInputError('anchor file', `bad magic "${magic}"; expected ${MAGIC}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12) throw new GeometryInputError('anchor file', 'truncated: no header length');
  const headLen = dv.getUint32(8, true);
  if (12 + headLen > bytes.length) {
    throw new GeometryInputError('anchor file', `header of ${headLen} bytes runs past the end of the file`);
  }
  let head: {
    label?: string;
    camera?: CameraIntrinsics;
    pose?: { R: number[]; tM: number[] };
    features?: { gridH: number; gridW: number; dim: number };
  };
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headLen)));
  } catch (e) {
    throw new GeometryInputError(
      'anchor file',
      `header is not valid JSON (${(e as Error).message}); re-save the anchor`,
    );
  }
  const okInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 1e5;
  if (!head?.camera || !okInt(head.camera.width) || !okInt(head.camera.height)) {
    throw new GeometryInputError('anchor file camera', 'missing or invalid width/height; re-save the anchor');
  }
  if (
    !head.features ||
    !okInt(head.features.gridH) ||
    !okInt(head.features.gridW) ||
    !okInt(head.features.dim)
  ) {
    throw new GeometryInputError(
      'anchor file features',
      'missing or invalid gridH/gridW/dim; re-save the anchor',
    );
  }
  if (
    !Array.isArray(head.pose?.R) ||
    head.pose.R.length !== 9 ||
    !Array.isArray(head.pose.tM) ||
    head.pose.tM.length !== 3
  ) {
    throw new GeometryInputError(
      'anchor file pose',
      'missing or invalid R (9 values) / tM (3 values); re-save the anchor',
    );
  }
  const pose = head.pose;
  const camera = head.camera;
  const { width: w, height: h } = camera;
  const { gridH, gridW, dim } = head.features;
  const start = 12 + headLen + ((4 - ((12 + headLen) % 4)) % 4);
  const need = start + 4 * w * h + 4 * gridH * gridW * dim + w * h;
  if (bytes.length !== need) {
    throw new GeometryInputError(
      'anchor file',
      `size ${bytes.length} does not match its header (expected ${need})`,
    );
  }
  let o = start;
  const depthM = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++, o += 4) depthM[i] = dv.getFloat32(o, true);
  const data = new Float32Array(gridH * gridW * dim);
  for (let i = 0; i < data.length; i++, o += 4) data[i] = dv.getFloat32(o, true);
  const mask = bytes.slice(o, o + w * h);
  return {
    label: String(head.label ?? ''),
    camera,
    pose: { R: Float64Array.from(pose.R), tM: Float64Array.from(pose.tM) },
    depthM,
    mask,
    features: { data, gridH, gridW, dim },
  };
}

/** The view part of a stored anchor, ready for `estimateAnchorPose(view, query, record.pose)`. */
export function anchorViewFromRecord(rec: AnchorRecord): AnchorView {
  return { depthM: rec.depthM, camera: rec.camera, mask: rec.mask, features: rec.features };
}
