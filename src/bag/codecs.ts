/**
 * Message codecs (CDR) built from `.msg` definition text with `@foxglove/rosmsg` (ROS 2 mode) and
 * `@foxglove/rosmsg2-serialization`. Definitions come from the embedded standard messages
 * (`msgdefs.ts`), this project's own `ros/msg` + `ros/srv` files (package `declip_ros`), definitions
 * registered at runtime, or the schema text stored in a bag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from '@foxglove/rosmsg';
import type { MessageDefinition, MessageDefinitionField } from '@foxglove/message-definition';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';
import { STANDARD_MSG_DEFINITIONS } from './msgdefs';
import { DecodeError, UnknownSchemaError, errorMessage } from './errors';

/** Package name of this project's own interfaces (`ros/msg`, `ros/srv`). */
export const OWN_PACKAGE = 'declip_ros';

/** Separator between definitions in ros2msg schema text, exactly as rosbag2 writes it. */
export const MSG_SEPARATOR =
  '================================================================================';

/** A CDR codec for one message type. */
export interface MessageCodec {
  /** Fully qualified type, e.g. `sensor_msgs/msg/Image`. */
  readonly type: string;
  /** Full ros2msg text: the main definition, then one `MSG: pkg/Name` section per dependency. */
  readonly schemaText: string;
  /** Parsed definitions (root first). */
  readonly definitions: MessageDefinition[];
  /** CDR-encode a message object; missing fields take their defaults. Throws DecodeError on bad fields. */
  encode(message: unknown): Uint8Array;
  /** Decode CDR bytes (with the 4-byte encapsulation header). Throws DecodeError on bad bytes. */
  decode(data: Uint8Array): any;
  /** A message with every field at its default value. */
  defaultMessage(): any;
}

const PRIMITIVES = new Set([
  'bool',
  'byte',
  'char',
  'float32',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'string',
  'wstring',
  'time',
  'duration',
]);

const registered = new Map<string, string>();
let ownLoaded = false;

/**
 * Normalise a type name to `pkg/msg/Name` (or keep `pkg/srv/Name_Request`). Accepts `pkg/Name`.
 */
export function normalizeTypeName(type: string): string {
  const parts = type.trim().split('/');
  if (parts.length === 2) return `${parts[0]}/msg/${parts[1]}`;
  return parts.join('/');
}

/** `pkg/msg/Name` -> `pkg/Name` (the form used in `MSG:` headers). */
function shortName(type: string): string {
  const parts = type.split('/');
  return parts.length === 3 ? `${parts[0]}/${parts[2]}` : type;
}

/**
 * Directories searched for this project's own interface files (`msg/`, `srv/`): $DECLIP_ROS_INTERFACES, then
 * `ros/` relative to src/bag or dist/bag, then `./ros` in the working directory.
 */
export function ownInterfaceDirs(): string[] {
  const env = process.env.DECLIP_ROS_INTERFACES;
  const dirs = env ? [env] : [];
  dirs.push(
    path.resolve(__dirname, '../../ros'),
    path.resolve(__dirname, '../../../ros'),
    path.resolve(process.cwd(), 'ros'),
  );
  return dirs;
}

function loadOwnInterfaces(): void {
  if (ownLoaded) return;
  ownLoaded = true;
  const root = ownInterfaceDirs().find((d) => fs.existsSync(path.join(d, 'msg')));
  if (!root) return;
  for (const file of fs.readdirSync(path.join(root, 'msg')).sort()) {
    if (!file.endsWith('.msg')) continue;
    const text = fs.readFileSync(path.join(root, 'msg', file), 'utf8');
    registered.set(`${OWN_PACKAGE}/msg/${file.slice(0, -4)}`, text);
  }
  const srvDir = path.join(root, 'srv');
  if (!fs.existsSync(srvDir)) return;
  for (const file of fs.readdirSync(srvDir).sort()) {
    if (!file.endsWith('.srv')) continue;
    const text = fs.readFileSync(path.join(srvDir, file), 'utf8');
    const [req, res] = splitService(text);
    const name = file.slice(0, -4);
    registered.set(`${OWN_PACKAGE}/srv/${name}_Request`, req);
    registered.set(`${OWN_PACKAGE}/srv/${name}_Response`, res);
  }
}

/** Split `.srv` text into request and response definitions. */
export function splitService(text: string): [string, string] {
  const lines = text.split('\n');
  const sep = lines.findIndex((l) => l.trim() === '---');
  if (sep < 0) throw new UnknownSchemaError('service definition has no `---` separator', { field: 'srv' });
  return [lines.slice(0, sep).join('\n') + '\n', lines.slice(sep + 1).join('\n')];
}

/** Register (or replace) the definition text of a message type, e.g. for a type not embedded here. */
export function registerMsgDefinition(type: string, text: string): void {
  const t = normalizeTypeName(type);
  registered.set(t, text);
  codecCache.delete(t);
}

/** The `.msg` text of one type (without dependencies). Throws UnknownSchemaError. */
export function getDefinitionText(type: string): string {
  const t = normalizeTypeName(type);
  const std = STANDARD_MSG_DEFINITIONS[t];
  if (std !== undefined) return std;
  if (t.startsWith(`${OWN_PACKAGE}/`)) loadOwnInterfaces();
  const r = registered.get(t);
  if (r !== undefined) return r;
  throw new UnknownSchemaError(
    `unknown message type '${type}': no definition is embedded (src/bag/msgdefs.ts), in ros/msg or ros/srv, ` +
      'or registered; register its .msg text with registerMsgDefinition() or read it from a bag that stores schemas',
    { field: 'type' },
  );
}

/** All type names this registry can build codecs for. */
export function listKnownTypes(): string[] {
  loadOwnInterfaces();
  return [...new Set([...Object.keys(STANDARD_MSG_DEFINITIONS), ...registered.keys()])].sort();
}

/** Complex (non-primitive) field types referenced by a definition, fully qualified. */
export function dependenciesOf(type: string, text: string): string[] {
  const pkg = type.split('/')[0];
  const deps: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const tokens = line.split(/\s+/);
    if (tokens.length < 2) continue;
    const base = tokens[0].replace(/\[.*\]$/, '').replace(/<=\d+$/, '');
    if (PRIMITIVES.has(base) || tokens[1].includes('=')) continue;
    const dep = base.includes('/') ? normalizeTypeName(base) : `${pkg}/msg/${base}`;
    if (!deps.includes(dep)) deps.push(dep);
  }
  return deps;
}

/**
 * Full ros2msg schema text as `ros2 bag record` writes it: the main definition, then for each dependency
 * (depth first, each once) a separator line, `MSG: pkg/Name` and its definition.
 */
export function schemaTextFor(type: string): string {
  const root = normalizeTypeName(type);
  const order: string[] = [];
  const visit = (t: string): void => {
    for (const d of dependenciesOf(t, getDefinitionText(t))) {
      if (d === root || order.includes(d)) continue;
      order.push(d);
      visit(d);
    }
  };
  visit(root);
  let text = getDefinitionText(root);
  for (const d of order) {
    const body = getDefinitionText(d);
    text += `${text.endsWith('\n') ? '' : '\n'}${MSG_SEPARATOR}\nMSG: ${shortName(d)}\n${body}`;
  }
  return text;
}

function defaultField(f: MessageDefinitionField, defs: Map<string, MessageDefinition>): unknown {
  const one = (): unknown => {
    if (f.isComplex) return defaultOf(f.type, defs);
    return primitiveDefault(f);
  };
  if (f.isArray) {
    if (f.arrayLength !== undefined) return Array.from({ length: f.arrayLength }, one);
    return f.defaultValue !== undefined ? f.defaultValue : [];
  }
  if (!f.isComplex && f.defaultValue !== undefined) return f.defaultValue;
  return one();
}

function primitiveDefault(f: MessageDefinitionField): unknown {
  switch (f.type) {
    case 'string':
    case 'wstring':
      return '';
    case 'bool':
      return false;
    case 'int64':
    case 'uint64':
      return 0n;
    case 'time':
    case 'duration':
      return { sec: 0, nanosec: 0 };
    default:
      return 0;
  }
}

function defaultOf(type: string, defs: Map<string, MessageDefinition>): Record<string, unknown> {
  const def = defs.get(type);
  if (!def) throw new UnknownSchemaError(`definition of '${type}' missing from schema text`, { field: type });
  const out: Record<string, unknown> = {};
  for (const f of def.definitions) if (!f.isConstant) out[f.name] = defaultField(f, defs);
  return out;
}

/** Fill missing fields with defaults (shallow copies only); check fixed-length arrays. */
function fill(
  value: unknown,
  def: MessageDefinition,
  defs: Map<string, MessageDefinition>,
  at: string,
): unknown {
  if (value === null || typeof value !== 'object') {
    throw new DecodeError(`expected an object for '${at || 'message'}', got ${typeof value}`, { field: at });
  }
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of def.definitions) {
    if (f.isConstant) continue;
    const here = at ? `${at}.${f.name}` : f.name;
    const v = src[f.name];
    if (v === undefined) {
      out[f.name] = defaultField(f, defs);
      continue;
    }
    if (f.isArray) {
      const arr = v as ArrayLike<unknown>;
      if (typeof arr !== 'object' || typeof arr.length !== 'number') {
        throw new DecodeError(`field '${here}' must be an array or typed array`, { field: here });
      }
      if (f.arrayLength !== undefined && arr.length !== f.arrayLength) {
        throw new DecodeError(
          `field '${here}' must have exactly ${f.arrayLength} elements, got ${arr.length}`,
          {
            field: here,
          },
        );
      }
      if (f.isComplex) {
        const sub = defs.get(f.type)!;
        out[f.name] = Array.from(arr, (x, i) => fill(x, sub, defs, `${here}[${i}]`));
      } else {
        out[f.name] = v;
      }
    } else if (f.isComplex) {
      out[f.name] = fill(v, defs.get(f.type)!, defs, here);
    } else {
      out[f.name] = v;
    }
  }
  return out;
}

/** Build a codec from a type name and its full ros2msg schema text (e.g. as stored in a bag). */
export function codecFromSchema(type: string, schemaText: string): MessageCodec {
  let definitions: MessageDefinition[];
  try {
    definitions = parse(schemaText, { ros2: true });
  } catch (e) {
    throw new UnknownSchemaError(`cannot parse the ros2msg definition of '${type}': ${errorMessage(e)}`, {
      field: 'schema',
      cause: e,
    });
  }
  const defs = new Map<string, MessageDefinition>();
  for (const d of definitions) if (d.name) defs.set(d.name, d);
  const root = definitions[0];
  for (const d of definitions) {
    for (const f of d.definitions) {
      if (f.isComplex && !defs.has(f.type)) {
        throw new UnknownSchemaError(`schema of '${type}' uses '${f.type}' but does not define it`, {
          field: f.name,
        });
      }
    }
  }
  const writer = new MessageWriter(definitions);
  const reader = new MessageReader(definitions);
  const rootDefs = new Map(defs);
  rootDefs.set('', root);
  return {
    type: normalizeTypeName(type),
    schemaText,
    definitions,
    encode(message: unknown): Uint8Array {
      const filled = fill(message, root, defs, '');
      try {
        return writer.writeMessage(filled);
      } catch (e) {
        throw new DecodeError(`cannot CDR-encode ${type}: ${errorMessage(e)}; check field types and values`, {
          cause: e,
        });
      }
    },
    decode(data: Uint8Array): any {
      if (data.byteLength < 4 || data[0] !== 0 || data[1] > 0x0b) {
        const head = Array.from(data.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new DecodeError(
          `payload is not CDR for ${type}: bad encapsulation header [${head}] (expected 00 01 00 00); ` +
            'the message is corrupt or the channel is not cdr-encoded',
          { field: 'encapsulation', offset: 0 },
        );
      }
      try {
        return reader.readMessage(data);
      } catch (e) {
        throw new DecodeError(
          `CDR payload of ${data.byteLength} bytes does not decode as ${type}: ${errorMessage(e)}; ` +
            'the payload is truncated/corrupt or was written with a different definition of the type',
          { cause: e },
        );
      }
    },
    defaultMessage(): any {
      const out: Record<string, unknown> = {};
      for (const f of root.definitions) if (!f.isConstant) out[f.name] = defaultField(f, rootDefs);
      return out;
    },
  };
}

const codecCache = new Map<string, MessageCodec>();

/** Codec for a known type (`sensor_msgs/msg/Image` or `sensor_msgs/Image`). Throws UnknownSchemaError. */
export function getCodec(type: string): MessageCodec {
  const t = normalizeTypeName(type);
  let c = codecCache.get(t);
  if (!c) {
    c = codecFromSchema(t, schemaTextFor(t));
    codecCache.set(t, c);
  }
  return c;
}

/** Shorthand: CDR-encode `message` as `type`. */
export function encodeMessage(type: string, message: unknown): Uint8Array {
  return getCodec(type).encode(message);
}

/** Shorthand: decode CDR `data` as `type`. */
export function decodeMessage(type: string, data: Uint8Array): any {
  return getCodec(type).decode(data);
}
