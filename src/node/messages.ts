/**
 * Pure builders of the node's output messages (plain objects with ROS 2 field names, ready for the codec)
 * from pipeline results: ObjectInstanceArray, Detection3DArray, MarkerArray, label image, PointCloud2, TF,
 * DiagnosticArray.
 */
import type { StageTimingsMs, PipelineInstance, QueryResult } from './pipeline';
import type { Pose } from '../types';

/** std_msgs/Header. */
export interface Header {
  stamp: { sec: number; nanosec: number };
  frame_id: string;
}

/** Header from a stamp in ns. */
export function header(stampNs: bigint, frameId: string): Header {
  const s = stampNs < 0n ? 0n : stampNs;
  return {
    stamp: { sec: Number(s / 1_000_000_000n), nanosec: Number(s % 1_000_000_000n) },
    frame_id: frameId,
  };
}

/** builtin_interfaces/Time (or Duration) -> ns. */
export function stampNs(stamp: { sec: number; nanosec: number }): bigint {
  return BigInt(stamp.sec) * 1_000_000_000n + BigInt(stamp.nanosec);
}

/** Row-major rotation matrix -> unit quaternion {x, y, z, w} (w >= 0). */
export function quaternionFromMatrix(R: ArrayLike<number>): { x: number; y: number; z: number; w: number } {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = Array.from(R);
  const tr = m00 + m11 + m22;
  let x: number, y: number, z: number, w: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = 0.25 * s;
    x = (m21 - m12) / s;
    y = (m02 - m20) / s;
    z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    w = (m21 - m12) / s;
    x = 0.25 * s;
    y = (m01 + m10) / s;
    z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    w = (m02 - m20) / s;
    x = (m01 + m10) / s;
    y = 0.25 * s;
    z = (m12 + m21) / s;
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    w = (m10 - m01) / s;
    x = (m02 + m20) / s;
    y = (m12 + m21) / s;
    z = 0.25 * s;
  }
  const n = Math.hypot(x, y, z, w) || 1;
  const sign = w < 0 ? -1 : 1;
  return { x: (sign * x) / n, y: (sign * y) / n, z: (sign * z) / n, w: (sign * w) / n };
}

/** geometry_msgs/Pose of a core Pose. */
export function poseMsg(p: Pose): {
  position: { x: number; y: number; z: number };
  orientation: { x: number; y: number; z: number; w: number };
} {
  return { position: { x: p.tM[0], y: p.tM[1], z: p.tM[2] }, orientation: quaternionFromMatrix(p.R) };
}

function vec3(v: ArrayLike<number>): { x: number; y: number; z: number } {
  return { x: v[0], y: v[1], z: v[2] };
}

const EMPTY_IMAGE = (h: Header) => ({
  header: h,
  height: 0,
  width: 0,
  encoding: 'mono8',
  is_bigendian: 0,
  step: 0,
  data: new Uint8Array(0),
});

const IDENTITY_POSE_MSG = { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } };

/**
 * geometry_msgs/PoseStamped of the grasp target: the best-scoring feasible grasp of the first query that has one
 * (queries in the order asked); undefined when no instance has a grasp.
 */
export function graspTargetMsg(
  h: Header,
  results: readonly QueryResult[],
): Record<string, unknown> | undefined {
  for (const r of results) {
    const best = r.instances.filter((i) => i.grasp?.feasible).sort((a, b) => b.score - a.score)[0];
    if (best) return { header: h, pose: poseMsg(best.grasp!.pose) };
  }
  return undefined;
}

/** declip_ros/ObjectInstance. */
export function objectInstanceMsg(
  h: Header,
  inst: PipelineInstance,
  includeMask: boolean,
): Record<string, unknown> {
  const m = includeMask && inst.mask && inst.mask.width > 0 && inst.mask.height > 0 ? inst.mask : undefined;
  return {
    header: h,
    label: inst.label,
    instance_id: inst.instanceId >>> 0,
    score: inst.score,
    roi: {
      x_offset: Math.max(0, Math.round(inst.roi.x)),
      y_offset: Math.max(0, Math.round(inst.roi.y)),
      width: Math.max(0, Math.round(inst.roi.width)),
      height: Math.max(0, Math.round(inst.roi.height)),
      do_rectify: false,
    },
    pose: poseMsg(inst.pose),
    size: vec3(inst.sizeM),
    pose_source: inst.poseSource,
    fitness: inst.fitness,
    point_count: inst.pointCount >>> 0,
    grasp_valid: inst.grasp !== undefined,
    grasp_feasible: inst.grasp?.feasible ?? false,
    grasp_pose: inst.grasp ? poseMsg(inst.grasp.pose) : IDENTITY_POSE_MSG,
    pre_grasp_pose: inst.grasp ? poseMsg(inst.grasp.preGraspPose) : IDENTITY_POSE_MSG,
    grasp_width: inst.grasp?.widthM ?? 0,
    mask: m
      ? {
          header: h,
          height: m.height,
          width: m.width,
          encoding: 'mono8',
          is_bigendian: 0,
          step: m.width,
          data: m.data,
        }
      : EMPTY_IMAGE(h),
  };
}

/** declip_ros/ObjectInstanceArray for one query. */
export function instanceArrayMsg(
  h: Header,
  result: QueryResult,
  timings: StageTimingsMs,
  totalMs: number,
  includeMasks: boolean,
): Record<string, unknown> {
  return {
    header: h,
    query: result.query,
    instances: result.instances.map((i) => objectInstanceMsg(h, i, includeMasks)),
    preprocess_ms: timings.preprocess,
    features_ms: timings.features,
    masks_ms: timings.masks,
    instances_ms: timings.instances,
    pose_ms: timings.pose,
    total_ms: totalMs,
  };
}

/** vision_msgs/Detection3DArray with one detection per instance (class_id = query). */
export function detectionArrayMsg(h: Header, results: QueryResult[]): Record<string, unknown> {
  const detections = [];
  for (const r of results) {
    for (const inst of r.instances) {
      const pose = poseMsg(inst.pose);
      detections.push({
        header: h,
        results: [
          {
            hypothesis: { class_id: inst.label, score: inst.score },
            pose: { pose, covariance: new Float64Array(36) },
          },
        ],
        bbox: { center: pose, size: vec3(inst.sizeM) },
        id: `${inst.label}/${inst.instanceId}`,
      });
    }
  }
  return { header: h, detections };
}

/** Stable colour for a label (hue from a string hash). */
export function labelColor(label: string, alpha = 1): { r: number; g: number; b: number; a: number } {
  let hsh = 2166136261;
  for (let i = 0; i < label.length; i++) hsh = Math.imul(hsh ^ label.charCodeAt(i), 16777619) >>> 0;
  const hue = (hsh % 360) / 60;
  const x = 1 - Math.abs((hue % 2) - 1);
  const [r, g, b] =
    hue < 1
      ? [1, x, 0]
      : hue < 2
        ? [x, 1, 0]
        : hue < 3
          ? [0, 1, x]
          : hue < 4
            ? [0, x, 1]
            : hue < 5
              ? [x, 0, 1]
              : [1, 0, x];
  return { r, g, b, a: alpha };
}

/** Marker types and actions used. */
export const MARKER = { ARROW: 0, CUBE: 1, LINE_LIST: 5, TEXT_VIEW_FACING: 9, ADD: 0, DELETEALL: 3 } as const;

/**
 * visualization_msgs/MarkerArray: a DELETEALL first, then per instance a translucent box (ns 'boxes'), its
 * axes as a LINE_LIST in the object frame (ns 'axes', x red, y green, z blue) and a text label above it
 * (ns 'labels'). Marker ids are the instance's index in the frame.
 */
export function markerArrayMsg(
  h: Header,
  results: QueryResult[],
  lifetimeS: number,
): Record<string, unknown> {
  const lifetime = { sec: Math.floor(lifetimeS), nanosec: Math.round((lifetimeS % 1) * 1e9) };
  const markers: Record<string, unknown>[] = [{ header: h, ns: '', id: 0, action: MARKER.DELETEALL }];
  let id = 0;
  for (const r of results) {
    for (const inst of r.instances) {
      const pose = poseMsg(inst.pose);
      const size = vec3(inst.sizeM);
      const axis = Math.max(0.02, 0.6 * Math.max(size.x, size.y, size.z));
      const base = { header: h, id, action: MARKER.ADD, pose, lifetime, frame_locked: false };
      markers.push({
        ...base,
        ns: 'boxes',
        type: MARKER.CUBE,
        scale: size,
        color: labelColor(inst.label, 0.35),
      });
      const o = { x: 0, y: 0, z: 0 };
      markers.push({
        ...base,
        ns: 'axes',
        type: MARKER.LINE_LIST,
        scale: { x: Math.max(0.002, axis * 0.05), y: 0, z: 0 },
        color: { r: 1, g: 1, b: 1, a: 1 },
        points: [o, { x: axis, y: 0, z: 0 }, o, { x: 0, y: axis, z: 0 }, o, { x: 0, y: 0, z: axis }],
        colors: [
          { r: 1, g: 0, b: 0, a: 1 },
          { r: 1, g: 0, b: 0, a: 1 },
          { r: 0, g: 1, b: 0, a: 1 },
          { r: 0, g: 1, b: 0, a: 1 },
          { r: 0, g: 0, b: 1, a: 1 },
          { r: 0, g: 0, b: 1, a: 1 },
        ],
      });
      const lift = 0.5 * Math.max(size.x, size.y, size.z) + 0.03;
      markers.push({
        ...base,
        ns: 'labels',
        type: MARKER.TEXT_VIEW_FACING,
        // camera optical frame: -y is up
        pose: {
          position: { x: pose.position.x, y: pose.position.y - lift, z: pose.position.z },
          orientation: { x: 0, y: 0, z: 0, w: 1 },
        },
        scale: { x: 0, y: 0, z: 0.03 },
        color: labelColor(inst.label, 1),
        text: `${inst.label} #${inst.instanceId} ${inst.score.toFixed(2)}`,
      });
      id++;
    }
  }
  return { markers };
}

/**
 * sensor_msgs/Image label image aligned to colour: 0 = background, k = the k-th instance of the frame
 * (in query then score order; later instances overwrite earlier ones). mono8 up to 255 instances, else mono16.
 */
export function labelImageMsg(
  h: Header,
  width: number,
  height: number,
  results: QueryResult[],
): Record<string, unknown> {
  const all = results.flatMap((r) => r.instances);
  const wide = all.length > 255;
  const labels = wide ? new Uint16Array(width * height) : new Uint8Array(width * height);
  all.forEach((inst, k) => {
    const m = inst.mask;
    if (!m) return;
    const x0 = Math.round(inst.roi.x);
    const y0 = Math.round(inst.roi.y);
    for (let y = 0; y < m.height; y++) {
      const yy = y0 + y;
      if (yy < 0 || yy >= height) continue;
      for (let x = 0; x < m.width; x++) {
        const xx = x0 + x;
        if (xx < 0 || xx >= width || m.data[y * m.width + x] === 0) continue;
        labels[yy * width + xx] = k + 1;
      }
    }
  });
  const data = wide
    ? new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength)
    : (labels as Uint8Array);
  return {
    header: h,
    height,
    width,
    encoding: wide ? 'mono16' : 'mono8',
    is_bigendian: 0,
    step: width * (wide ? 2 : 1),
    data: wide && isBigEndianHost() ? swap16(data) : data,
  };
}

function isBigEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;
}

function swap16(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i += 2) {
    out[i] = b[i + 1];
    out[i + 1] = b[i];
  }
  return out;
}

/**
 * sensor_msgs/PointCloud2 (unorganised, little endian) of every instance's points: fields x, y, z (float32)
 * and instance (uint32, the instance's 1-based index in the frame, as in the label image).
 */
export function pointCloudMsg(h: Header, results: QueryResult[]): Record<string, unknown> {
  const all = results.flatMap((r) => r.instances);
  const n = all.reduce((s, i) => s + (i.pointsM ? Math.floor(i.pointsM.length / 3) : 0), 0);
  const buf = new ArrayBuffer(n * 16);
  const dv = new DataView(buf);
  let o = 0;
  all.forEach((inst, k) => {
    const p = inst.pointsM;
    if (!p) return;
    for (let i = 0; i + 2 < p.length; i += 3) {
      dv.setFloat32(o, p[i], true);
      dv.setFloat32(o + 4, p[i + 1], true);
      dv.setFloat32(o + 8, p[i + 2], true);
      dv.setUint32(o + 12, k + 1, true);
      o += 16;
    }
  });
  return {
    header: h,
    height: 1,
    width: n,
    fields: [
      { name: 'x', offset: 0, datatype: 7, count: 1 },
      { name: 'y', offset: 4, datatype: 7, count: 1 },
      { name: 'z', offset: 8, datatype: 7, count: 1 },
      { name: 'instance', offset: 12, datatype: 6, count: 1 },
    ],
    is_bigendian: false,
    point_step: 16,
    row_step: 16 * n,
    data: new Uint8Array(buf),
    is_dense: true,
  };
}

/** A TF-safe frame name component (letters, digits, '_'). */
export function tfSafe(s: string): string {
  return (
    s
      .trim()
      .replace(/[^A-Za-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'object'
  );
}

/** tf2_msgs/TFMessage with one transform `<prefix>/<label>/<id>` per instance, parent = header.frame_id. */
export function tfMsg(h: Header, results: QueryResult[], prefix: string): Record<string, unknown> {
  const transforms = [];
  for (const r of results) {
    for (const inst of r.instances) {
      transforms.push({
        header: h,
        child_frame_id: `${tfSafe(prefix)}/${tfSafe(inst.label)}/${inst.instanceId}`,
        transform: { translation: vec3(inst.pose.tM), rotation: quaternionFromMatrix(inst.pose.R) },
      });
    }
  }
  return { transforms };
}

/** diagnostic_msgs/DiagnosticStatus levels. */
export const DIAG_LEVEL = { OK: 0, WARN: 1, ERROR: 2, STALE: 3 } as const;

/** diagnostic_msgs/DiagnosticArray with one status. */
export function diagnosticArrayMsg(
  h: Header,
  status: {
    level: number;
    name: string;
    message: string;
    hardwareId: string;
    values: Record<string, string>;
  },
): Record<string, unknown> {
  return {
    header: h,
    status: [
      {
        level: status.level,
        name: status.name,
        message: status.message,
        hardware_id: status.hardwareId,
        values: Object.entries(status.values).map(([key, value]) => ({ key, value })),
      },
    ],
  };
}
