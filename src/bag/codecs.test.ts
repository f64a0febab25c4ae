import type { MessageDefinition, MessageDefinitionField } from '@foxglove/message-definition';
import {
  DecodeError,
  MSG_SEPARATOR,
  UnknownSchemaError,
  getCodec,
  listKnownTypes,
  normalizeTypeName,
  schemaTextFor,
  STANDARD_MSG_DEFINITIONS,
} from './index';

/** Deterministic non-default sample of every field, driven by the parsed definition. */
function sample(defs: MessageDefinition[], def: MessageDefinition, seed: number): Record<string, unknown> {
  const byName = new Map(defs.filter((d) => d.name).map((d) => [d.name!, d]));
  const prim = (f: MessageDefinitionField, k: number): unknown => {
    const v = seed + k + 1;
    switch (f.type) {
      case 'string':
      case 'wstring':
        return `${f.name}_${v}`;
      case 'bool':
        return v % 2 === 1;
      case 'int64':
      case 'uint64':
        return BigInt(v) * 1_000_000_007n;
      case 'time':
      case 'duration':
        return { sec: v, nanosec: v * 1000 };
      case 'float32':
      case 'float64':
        return v + 0.25;
      case 'int8':
      case 'int16':
      case 'int32':
        return -v;
      default:
        return v % 200;
    }
  };
  const out: Record<string, unknown> = {};
  def.definitions.forEach((f, k) => {
    if (f.isConstant) return;
    const one = (j: number): unknown =>
      f.isComplex ? sample(defs, byName.get(f.type)!, seed + k + j) : prim(f, k + j);
    out[f.name] = f.isArray ? Array.from({ length: f.arrayLength ?? 2 }, (_, j) => one(j)) : one(0);
  });
  return out;
}

/** Typed arrays -> plain arrays, recursively. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const REQUIRED_TYPES = [
  'std_msgs/msg/Header',
  'std_msgs/msg/String',
  'builtin_interfaces/msg/Time',
  'sensor_msgs/msg/Image',
  'sensor_msgs/msg/CompressedImage',
  'sensor_msgs/msg/CameraInfo',
  'sensor_msgs/msg/PointCloud2',
  'sensor_msgs/msg/PointField',
  'sensor_msgs/msg/RegionOfInterest',
  'geometry_msgs/msg/Point',
  'geometry_msgs/msg/Quaternion',
  'geometry_msgs/msg/Pose',
  'geometry_msgs/msg/PoseStamped',
  'geometry_msgs/msg/PoseWithCovariance',
  'geometry_msgs/msg/Transform',
  'geometry_msgs/msg/TransformStamped',
  'geometry_msgs/msg/Vector3',
  'tf2_msgs/msg/TFMessage',
  'vision_msgs/msg/Detection3D',
  'vision_msgs/msg/Detection3DArray',
  'vision_msgs/msg/ObjectHypothesis',
  'vision_msgs/msg/ObjectHypothesisWithPose',
  'vision_msgs/msg/BoundingBox3D',
  'visualization_msgs/msg/Marker',
  'visualization_msgs/msg/MarkerArray',
  'std_msgs/msg/ColorRGBA',
  'builtin_interfaces/msg/Duration',
  'declip_ros/msg/ObjectInstance',
  'declip_ros/msg/ObjectInstanceArray',
  'declip_ros/msg/GroundTruthObject',
  'declip_ros/msg/GroundTruthObjectArray',
  'declip_ros/srv/Locate_Request',
  'declip_ros/srv/Locate_Response',
  'declip_ros/srv/SetAnchor_Request',
  'declip_ros/srv/SetAnchor_Response',
];

describe('message codecs', () => {
  it('knows every required type', () => {
    const known = listKnownTypes();
    for (const t of REQUIRED_TYPES) expect(known).toContain(t);
  });

  it.each(listKnownTypes())('%s round-trips encode -> decode -> encode', (type) => {
    const codec = getCodec(type);
    const msg = sample(codec.definitions, codec.definitions[0], 3);
    const bytes = codec.encode(msg);
    expect(bytes[0]).toBe(0);
    expect(bytes[1]).toBe(1); // CDR little-endian
    const back = codec.decode(bytes);
    expect(plain(back)).toEqual(plain(msg));
    expect(Buffer.from(codec.encode(back)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('fills missing fields with defaults (Quaternion w = 1)', () => {
    const pose = getCodec('geometry_msgs/Pose').decode(getCodec('geometry_msgs/Pose').encode({}));
    expect(pose).toEqual({ position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } });
  });

  it('round-trips an Image with 921600 bytes of data', () => {
    const data = new Uint8Array(640 * 480 * 3).map((_, i) => (i * 7) % 251);
    const img = {
      header: { stamp: { sec: 1700000000, nanosec: 123456789 }, frame_id: 'camera_color_optical_frame' },
      height: 480,
      width: 640,
      encoding: 'rgb8',
      is_bigendian: 0,
      step: 1920,
      data,
    };
    const back = getCodec('sensor_msgs/msg/Image').decode(getCodec('sensor_msgs/msg/Image').encode(img));
    expect(back.header).toEqual(img.header);
    expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
  });

  it('schema text has the main definition then MSG: sections (ros2msg as rosbag2 writes it)', () => {
    const text = schemaTextFor('sensor_msgs/msg/CameraInfo');
    expect(text.startsWith(STANDARD_MSG_DEFINITIONS['sensor_msgs/msg/CameraInfo'])).toBe(true);
    expect(text).toContain(`\n${MSG_SEPARATOR}\nMSG: std_msgs/Header\n`);
    expect(text).toContain(`\n${MSG_SEPARATOR}\nMSG: builtin_interfaces/Time\n`);
    expect(text).toContain(`\n${MSG_SEPARATOR}\nMSG: sensor_msgs/RegionOfInterest\n`);
    expect(text.split('MSG: ').length - 1).toBe(3);
    // own message: dependencies from other packages and its own package
    const own = schemaTextFor('declip_ros/msg/ObjectInstanceArray');
    expect(own).toContain('MSG: declip_ros/ObjectInstance\n');
    expect(own).toContain('MSG: sensor_msgs/Image\n');
  });

  it('normalises short type names', () => {
    expect(normalizeTypeName('sensor_msgs/Image')).toBe('sensor_msgs/msg/Image');
    expect(getCodec('sensor_msgs/Image')).toBe(getCodec('sensor_msgs/msg/Image'));
  });

  it('rejects unknown types with UnknownSchemaError', () => {
    expect(() => getCodec('nope_msgs/msg/Nothing')).toThrow(UnknownSchemaError);
    expect(() => getCodec('nope_msgs/msg/Nothing')).toThrow(/registerMsgDefinition/);
  });

  it('rejects CDR garbage and truncated payloads with DecodeError', () => {
    const codec = getCodec('sensor_msgs/msg/Image');
    expect(() => codec.decode(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]))).toThrow(DecodeError);
    expect(() => codec.decode(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]))).toThrow(/encapsulation/);
    const good = codec.encode({
      width: 2,
      height: 1,
      encoding: 'mono8',
      step: 2,
      data: new Uint8Array([1, 2]),
    });
    expect(() => codec.decode(good.subarray(0, 12))).toThrow(DecodeError);
  });

  it('rejects wrong fixed-length arrays naming the field', () => {
    expect(() => getCodec('sensor_msgs/msg/CameraInfo').encode({ k: [1, 2, 3] })).toThrow(/field 'k'.*9/);
  });
});
