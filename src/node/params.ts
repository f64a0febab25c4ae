/**
 * Parameters of `declip_node`: one schema (name, type, default, description, range or choices, dynamic or
 * not) from which the node declares its parameters, validates updates, loads ros2 params YAML files and
 * renders `ros/config/params.yaml`.
 */
import * as yaml from 'js-yaml';
import type { ParamDescriptor, ParamType, ParamValue } from './runtime';
import { checkParamValue } from './inproc';

/** One parameter of the node. */
export interface ParamSpec {
  name: string;
  type: ParamType;
  default: ParamValue;
  description: string;
  /** Inclusive numeric range. */
  range?: { from: number; to: number };
  /** Allowed values of a string parameter. */
  choices?: string[];
  /** True: takes effect at run time without a restart (`ros2 param set`). */
  dynamic: boolean;
  /** Section heading in params.yaml. */
  group: string;
}

/** The node's name as used in params files. */
export const NODE_NAME = 'declip_node';

/** Every parameter of declip_node. */
export const PARAM_SCHEMA: readonly ParamSpec[] = [
  // Inputs
  {
    group: 'Inputs',
    name: 'color_topic',
    type: 'string',
    default: 'camera/color/image_raw',
    description:
      'Colour image topic (sensor_msgs/Image rgb8/bgr8/rgba8/bgra8/mono8, or CompressedImage when color_compressed). Relative names resolve in the node namespace.',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'color_compressed',
    type: 'bool',
    default: false,
    description: 'Subscribe to color_topic as sensor_msgs/CompressedImage (JPEG/PNG) instead of Image.',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'depth_topic',
    type: 'string',
    default: 'camera/aligned_depth_to_color/image_raw',
    description:
      'Depth image aligned to the colour image (16UC1 millimetres or 32FC1 metres), same size as colour.',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'camera_info_topic',
    type: 'string',
    default: 'camera/color/camera_info',
    description: 'CameraInfo of the colour camera (K gives the intrinsics used to lift depth to 3D).',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'camera_info_sync',
    type: 'bool',
    default: false,
    description:
      'true: CameraInfo must match colour and depth within sync_slop_s (3-way sync); false: the latest CameraInfo received is used.',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'qos_reliability',
    type: 'string',
    default: 'best_effort',
    choices: ['best_effort', 'reliable'],
    description:
      'Reliability of the input subscriptions (best_effort = sensor-data QoS, matches every publisher).',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'qos_depth',
    type: 'integer',
    default: 5,
    range: { from: 1, to: 100 },
    description: 'History depth (keep last N) of the input subscriptions.',
    dynamic: false,
  },
  {
    group: 'Inputs',
    name: 'sync_slop_s',
    type: 'double',
    default: 0.02,
    range: { from: 0, to: 1 },
    description:
      'Largest stamp difference between colour and depth (and CameraInfo when synced) of one frame, seconds.',
    dynamic: true,
  },
  {
    group: 'Inputs',
    name: 'sync_queue_size',
    type: 'integer',
    default: 10,
    range: { from: 1, to: 100 },
    description: 'Messages kept per input while waiting for a match (oldest dropped first).',
    dynamic: true,
  },
  {
    group: 'Inputs',
    name: 'backwards_reset_s',
    type: 'double',
    default: 1,
    range: { from: 0, to: 3600 },
    description:
      'Stamps jumping back by more than this (a bag loop, a restarted camera) reset the synchroniser with a warning; smaller jumps drop the frame as out of order, seconds.',
    dynamic: true,
  },
  {
    group: 'Inputs',
    name: 'frame_id',
    type: 'string',
    default: '',
    description: 'Optical frame of the results; empty = the frame_id of the colour image header.',
    dynamic: true,
  },
  // Queries and model
  {
    group: 'Queries and model',
    name: 'queries',
    type: 'string',
    default: '',
    description:
      'Standing text queries, comma-separated (e.g. "red mug, cereal box"); empty = idle until ~/query or ~/locate. ~/query replaces them.',
    dynamic: true,
  },
  {
    group: 'Queries and model',
    name: 'model_path',
    type: 'string',
    default: '',
    description:
      'Model package directory (model.json + ONNX files, made by declip export); empty = the embedded default model (models/tiny-synth).',
    dynamic: false,
  },
  {
    group: 'Queries and model',
    name: 'device',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'cuda', 'webgpu', 'cpu'],
    description:
      'ONNX Runtime execution provider; auto tries cuda, then webgpu, then cpu and warns on fallback. Changing it reloads the model.',
    dynamic: true,
  },
  {
    group: 'Queries and model',
    name: 'cpu_threads',
    type: 'integer',
    default: 0,
    range: { from: 0, to: 256 },
    description: 'onnxruntime intra-op threads when the model runs on the CPU (0 = one per core).',
    dynamic: false,
  },
  {
    group: 'Queries and model',
    name: 'score_threshold',
    type: 'double',
    default: 0.5,
    range: { from: 0, to: 1 },
    description: 'Smallest query-to-instance score reported, in [0, 1].',
    dynamic: true,
  },
  {
    group: 'Queries and model',
    name: 'mask_threshold',
    type: 'double',
    default: 0.5,
    range: { from: 0, to: 1 },
    description: 'Threshold on the normalised similarity map that makes a pixel part of a mask, in [0, 1].',
    dynamic: true,
  },
  {
    group: 'Queries and model',
    name: 'max_instances',
    type: 'integer',
    default: 10,
    range: { from: 0, to: 1000 },
    description: 'Largest number of instances reported per query, best first (0 = no limit).',
    dynamic: true,
  },
  // 3D instances and pose
  {
    group: '3D instances and pose',
    name: 'erosion_px',
    type: 'integer',
    default: 2,
    range: { from: 0, to: 50 },
    description: 'Mask erosion before lifting to 3D, pixels (removes mixed depth at object borders).',
    dynamic: true,
  },
  {
    group: '3D instances and pose',
    name: 'min_points',
    type: 'integer',
    default: 50,
    range: { from: 1, to: 1000000 },
    description: 'Instances with fewer valid depth points after filtering are dropped.',
    dynamic: true,
  },
  {
    group: '3D instances and pose',
    name: 'min_depth_m',
    type: 'double',
    default: 0.1,
    range: { from: 0, to: 100 },
    description: 'Depth below this is invalid, metres.',
    dynamic: true,
  },
  {
    group: '3D instances and pose',
    name: 'max_depth_m',
    type: 'double',
    default: 3,
    range: { from: 0.01, to: 100 },
    description: 'Depth beyond this is invalid, metres.',
    dynamic: true,
  },
  {
    group: '3D instances and pose',
    name: 'pose_method',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'model', 'anchor', 'box'],
    description:
      'How poses are estimated: model (register a CAD model), anchor (register a saved anchor view), box (oriented bounding box); auto = model, then anchor, then box.',
    dynamic: true,
  },
  {
    group: '3D instances and pose',
    name: 'models_dir',
    type: 'string',
    default: '',
    description: 'Directory of object models (PLY/OBJ) named after their query; empty = none.',
    dynamic: false,
  },
  {
    group: '3D instances and pose',
    name: 'anchors_dir',
    type: 'string',
    default: '',
    description: 'Directory where ~/set_anchor stores anchor views and anchor mode reads them; empty = none.',
    dynamic: false,
  },
  // Outputs
  {
    group: 'Outputs',
    name: 'publish_detections',
    type: 'bool',
    default: true,
    description: 'Publish ~/detections (vision_msgs/Detection3DArray).',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'publish_markers',
    type: 'bool',
    default: true,
    description: 'Publish ~/markers (visualization_msgs/MarkerArray: boxes, axes, labels).',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'publish_mask',
    type: 'bool',
    default: true,
    description:
      'Publish ~/mask, a label image aligned to colour (mono8, or mono16 above 255 instances; 0 = background).',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'instance_masks',
    type: 'bool',
    default: true,
    description: 'Fill ObjectInstance.mask (mono8 cropped to roi) in ~/instances.',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'publish_points',
    type: 'bool',
    default: false,
    description: 'Publish ~/points (sensor_msgs/PointCloud2 of the instance points: x y z instance).',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'publish_tf',
    type: 'bool',
    default: false,
    description: 'Broadcast a TF frame <tf_prefix>/<label>/<instance_id> per instance on /tf.',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'tf_prefix',
    type: 'string',
    default: 'declip',
    description: 'First component of the broadcast TF frame names.',
    dynamic: true,
  },
  {
    group: 'Outputs',
    name: 'marker_lifetime_s',
    type: 'double',
    default: 1,
    range: { from: 0, to: 3600 },
    description: 'Lifetime of the published markers, seconds (0 = forever).',
    dynamic: true,
  },
  // Services and diagnostics
  {
    group: 'Services and diagnostics',
    name: 'locate_timeout_s',
    type: 'double',
    default: 5,
    range: { from: 0.01, to: 600 },
    description: 'Default timeout of ~/locate (frame wait + processing) when the request gives 0, seconds.',
    dynamic: true,
  },
  {
    group: 'Services and diagnostics',
    name: 'diagnostics_period_s',
    type: 'double',
    default: 1,
    range: { from: 0.1, to: 3600 },
    description: 'Period of /diagnostics (rates, latency, dropped frames, device, model), seconds.',
    dynamic: false,
  },
  {
    group: 'Services and diagnostics',
    name: 'warn_throttle_s',
    type: 'double',
    default: 5,
    range: { from: 0, to: 3600 },
    description:
      'Repeated warnings of one kind (bad input on a topic) are logged at most once per this period, seconds.',
    dynamic: true,
  },
].map((p) => p as ParamSpec);

/** Parameter values by name. */
export type NodeParams = Record<string, ParamValue>;

/** A bad parameter value or params file. Names the parameter and says what is allowed. */
export class ParamError extends Error {
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'ParamError';
  }
}

/** The spec of one parameter; throws ParamError for unknown names (listing the known ones). */
export function paramSpec(name: string): ParamSpec {
  const s = PARAM_SCHEMA.find((p) => p.name === name);
  if (!s) {
    throw new ParamError(
      `unknown parameter '${name}' of ${NODE_NAME}; known: ${PARAM_SCHEMA.map((p) => p.name).join(', ')}`,
      name,
    );
  }
  return s;
}

/** The rcl ParameterDescriptor of a spec (choices go to additional_constraints). */
export function descriptorOf(spec: ParamSpec): ParamDescriptor {
  const d: ParamDescriptor = {
    name: spec.name,
    type: spec.type,
    description: spec.description + (spec.dynamic ? '' : ' (restart to change)'),
  };
  if (spec.range) d.range = { from: spec.range.from, to: spec.range.to, step: 0 };
  if (spec.choices) d.additionalConstraints = `one of: ${spec.choices.join(', ')}`;
  return d;
}

/** Default value of every parameter. */
export function defaultParams(): NodeParams {
  const out: NodeParams = {};
  for (const p of PARAM_SCHEMA)
    out[p.name] = Array.isArray(p.default) ? (p.default.slice() as ParamValue) : p.default;
  return out;
}

/**
 * Validate one value: type, range, choices. Returns the value (integers given for doubles are kept as
 * numbers). Throws ParamError naming the parameter and the allowed values.
 */
export function validateParam(name: string, value: unknown): ParamValue {
  const spec = paramSpec(name);
  const reason = checkParamValue(descriptorOf(spec), value);
  if (reason) {
    const allowed = spec.range ? ` (allowed: ${spec.range.from} to ${spec.range.to})` : '';
    throw new ParamError(reason + (reason.includes('out of range') ? '' : allowed), name);
  }
  if (spec.choices && !spec.choices.includes(value as string)) {
    throw new ParamError(
      `parameter '${name}' = '${String(value)}' is not allowed (allowed: ${spec.choices.join(', ')})`,
      name,
    );
  }
  return value as ParamValue;
}

/** Validate several values (unknown names are errors); returns defaults overlaid with them. */
export function resolveParams(overrides: Record<string, unknown>): NodeParams {
  const out = defaultParams();
  for (const [k, v] of Object.entries(overrides)) out[k] = validateParam(k, v);
  return out;
}

/**
 * Parameters for `nodeName` from ros2 params YAML text (`<node>: ros__parameters: {...}`; also `/**`,
 * `/<ns>/<node>` keys). Later matching sections override earlier ones. Values are validated.
 * Throws ParamError for YAML errors, unknown parameters and bad values.
 */
export function loadParamsYaml(
  text: string,
  nodeName = NODE_NAME,
  source = 'params file',
): Record<string, ParamValue> {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (e) {
    throw new ParamError(`${source} is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ParamError(`${source} must map node names to {ros__parameters: ...}`);
  }
  const out: Record<string, ParamValue> = {};
  for (const [key, section] of Object.entries(doc as Record<string, unknown>)) {
    const name = key.replace(/^\/+/, '').split('/').pop() ?? '';
    if (!(key === '/**' || key === '**' || name === nodeName || name === '*')) continue;
    const params = (section as Record<string, unknown> | null)?.ros__parameters;
    if (params === undefined || params === null || typeof params !== 'object') {
      throw new ParamError(`${source}: section '${key}' has no 'ros__parameters' mapping`);
    }
    for (const [k, v] of flatten(params as Record<string, unknown>)) {
      if (k === 'use_sim_time') continue;
      out[k] = validateParam(k, v);
    }
  }
  return out;
}

function flatten(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else out.push([`${prefix}${k}`, v]);
  }
  return out;
}

function yamlScalar(v: ParamValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => yamlScalar(x as ParamValue)).join(', ')}]`;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'number') return String(v);
  return String(v);
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/)) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

/**
 * The documented params.yaml (every parameter with its description, type, range or choices, and whether it
 * can change at run time). `ros/config/params.yaml` must equal this text (checked by a test); regenerate
 * with `node dist/node/main.js --print-params-yaml > ros/config/params.yaml`.
 */
export function renderParamsYaml(): string {
  const out: string[] = [
    `# Parameters of ${NODE_NAME} (package declip_ros). Generated from src/node/params.ts; regenerate with`,
    '#   npm run build && node dist/node/main.js --print-params-yaml > ros/config/params.yaml',
    '# "dynamic" parameters can be changed at run time: ros2 param set /declip_node <name> <value>',
    `${NODE_NAME}:`,
    '  ros__parameters:',
  ];
  let group = '';
  for (const p of PARAM_SCHEMA) {
    if (p.group !== group) {
      group = p.group;
      out.push('', `    # ---- ${group} ----`);
    }
    for (const l of wrap(p.description, 100)) out.push(`    # ${l}`);
    const facts = [`type: ${p.type}`];
    if (p.range) facts.push(`range: [${p.range.from}, ${p.range.to}]`);
    if (p.choices) facts.push(`choices: ${p.choices.join(' | ')}`);
    facts.push(p.dynamic ? 'dynamic' : 'restart to change');
    out.push(`    # (${facts.join('; ')})`);
    let value = yamlScalar(p.default);
    if (p.type === 'double' && typeof p.default === 'number' && Number.isInteger(p.default))
      value = `${p.default}.0`;
    out.push(`    ${p.name}: ${value}`);
  }
  return out.join('\n') + '\n';
}

/** Split a comma-separated query string into trimmed, non-empty, de-duplicated phrases. */
export function parseQueries(text: string): string[] {
  const out: string[] = [];
  for (const q of text.split(',')) {
    const t = q.trim().replace(/\s+/g, ' ');
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}
