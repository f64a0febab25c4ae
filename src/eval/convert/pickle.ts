/**
 * Minimal Python pickle reader (protocols 2-5, in-band data) for the data files of pose datasets: dicts,
 * lists, tuples, sets, str/bytes/int/float/bool/None and NumPy arrays / scalars. This is enough for the
 * REAL275 / NOCS ground-truth files (`gts/real_test/results_real_test_scene_N_XXXX.pkl`: a dict of
 * `gt_class_ids`, `gt_RTs`, `gt_scales`, `gt_handle_visibility`, ... as numpy arrays) without Python.
 *
 * Only a fixed allow-list of globals can be called (NumPy array reconstruction, dtype, scalar,
 * `_codecs.encode`, collections.OrderedDict, set/frozenset/bytearray): a pickle naming anything else is
 * rejected, so reading an untrusted file never executes code. Format reference: CPython Lib/pickletools.py.
 */
import * as fs from 'fs';

/** Raised for a malformed or unsupported pickle; names the file (when known), the byte offset and the cause. */
export class PickleError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly file?: string,
  ) {
    super(`${file ? file + ': ' : ''}pickle at byte ${offset}: ${message}`);
    this.name = 'PickleError';
  }
}

/** A NumPy array in C order. Integers (incl. int64) and floats are numbers; bool is 0/1. */
export interface NdArray {
  readonly __ndarray: true;
  /** NumPy dtype name: float64, float32, int64, int32, uint8, bool, ... */
  dtype: string;
  shape: number[];
  data:
    | Float64Array
    | Float32Array
    | Int32Array
    | Int16Array
    | Int8Array
    | Uint8Array
    | Uint16Array
    | Uint32Array;
}

/** Python value as read: objects for dicts (keys stringified), arrays for lists/tuples/sets. */
export type PyValue =
  null | boolean | number | string | Uint8Array | NdArray | PyValue[] | { [key: string]: PyValue };

export function isNdArray(v: unknown): v is NdArray {
  return typeof v === 'object' && v !== null && (v as NdArray).__ndarray === true;
}

interface DtypeObj {
  __dtype: true;
  kind: string; // e.g. 'f8', 'i8', 'u1', 'b1'
  littleEndian: boolean;
}
interface GlobalRef {
  __global: string;
}
interface PendingArray {
  __pendingArray: true;
  arr?: NdArray;
}
const MARK = Symbol('mark');

const ALLOWED_GLOBALS = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  'numpy._core.multiarray.scalar',
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode',
  'collections.OrderedDict',
  'builtins.set',
  'builtins.frozenset',
  'builtins.bytearray',
  '__builtin__.set',
  '__builtin__.frozenset',
  '__builtin__.bytearray',
]);

function dtypeName(kind: string): string {
  const map: Record<string, string> = {
    f8: 'float64',
    f4: 'float32',
    i8: 'int64',
    i4: 'int32',
    i2: 'int16',
    i1: 'int8',
    u8: 'uint64',
    u4: 'uint32',
    u2: 'uint16',
    u1: 'uint8',
    b1: 'bool',
    '?': 'bool',
  };
  return map[kind] ?? kind;
}

function decodeArrayData(
  dt: DtypeObj,
  raw: Uint8Array,
  count: number,
  offset: number,
  file?: string,
): NdArray['data'] {
  const k = dt.kind === '?' ? 'b1' : dt.kind;
  const size = Number(k.slice(1));
  if (!/^[fiub][1248]$/.test(k)) {
    throw new PickleError(`unsupported numpy dtype '${dt.kind}' (numeric dtypes only)`, offset, file);
  }
  if (raw.length < count * size) {
    throw new PickleError(`array data has ${raw.length} bytes, need ${count * size}`, offset, file);
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = dt.littleEndian;
  const read = (i: number): number => {
    const o = i * size;
    switch (k) {
      case 'f8':
        return dv.getFloat64(o, le);
      case 'f4':
        return dv.getFloat32(o, le);
      case 'i8':
        return Number(dv.getBigInt64(o, le));
      case 'u8':
        return Number(dv.getBigUint64(o, le));
      case 'i4':
        return dv.getInt32(o, le);
      case 'u4':
        return dv.getUint32(o, le);
      case 'i2':
        return dv.getInt16(o, le);
      case 'u2':
        return dv.getUint16(o, le);
      case 'i1':
        return dv.getInt8(o);
      default:
        return dv.getUint8(o) ? (k === 'b1' ? 1 : dv.getUint8(o)) : 0;
    }
  };
  const out =
    k === 'f4'
      ? new Float32Array(count)
      : k === 'i4'
        ? new Int32Array(count)
        : k === 'i2'
          ? new Int16Array(count)
          : k === 'i1'
            ? new Int8Array(count)
            : k === 'u4'
              ? new Uint32Array(count)
              : k === 'u2'
                ? new Uint16Array(count)
                : k === 'u1' || k === 'b1'
                  ? new Uint8Array(count)
                  : new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

/** Fortran-order data -> C order. */
function fortranToC(data: NdArray['data'], shape: number[]): NdArray['data'] {
  if (shape.length < 2) return data;
  const out = new (data.constructor as new (n: number) => NdArray['data'])(data.length);
  const n = shape.length;
  const idx = new Array<number>(n).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    let stride = 1;
    for (let d = 0; d < n; d++) {
      f += idx[d] * stride;
      stride *= shape[d];
    }
    out[c] = data[f];
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

const latin1Bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** Parses a pickle byte stream. `file` is only used in error messages. */
export function parsePickle(buf: Uint8Array, file?: string): PyValue {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const fail = (msg: string): never => {
    throw new PickleError(msg, pos, file);
  };
  const need = (n: number) => {
    if (pos + n > buf.length) fail(`truncated: need ${n} more bytes`);
  };
  const u8 = () => {
    need(1);
    return buf[pos++];
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = Number(dv.getBigUint64(pos, true));
    pos += 8;
    return v;
  };
  const bytes = (n: number) => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const utf8 = (n: number) => Buffer.from(bytes(n)).toString('utf8');
  const line = () => {
    const e = buf.indexOf(0x0a, pos);
    if (e < 0) fail('unterminated text line');
    const s = Buffer.from(buf.subarray(pos, e)).toString('latin1');
    pos = e + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('MARK not found');
    const items = stack.slice(i + 1);
    stack.length = i;
    return items;
  };
  const top = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const key = (k: unknown) => (typeof k === 'string' ? k : Array.isArray(k) ? k.join(',') : String(k));
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) fail('SETITEM on a non-dict');
    (d as Record<string, unknown>)[key(k)] = v;
  };
  const global = (name: string): GlobalRef => {
    if (!ALLOWED_GLOBALS.has(name)) {
      fail(`global '${name}' is not allowed (only numpy arrays, dtypes, scalars and builtin containers)`);
    }
    return { __global: name };
  };
  const call = (fn: unknown, args: unknown): unknown => {
    const name = (fn as GlobalRef)?.__global;
    const a = (Array.isArray(args) ? args : []) as unknown[];
    if (!name) fail('REDUCE of a non-callable');
    if (name.endsWith('multiarray._reconstruct') || name === 'numpy.ndarray') {
      return { __pendingArray: true } as PendingArray;
    }
    if (name.endsWith('numeric._frombuffer')) {
      // protocol 5: _frombuffer(buffer, dtype, shape, order)
      const dt = a[1] as DtypeObj;
      const shape = (a[2] as number[]).map(Number);
      const raw = typeof a[0] === 'string' ? latin1Bytes(a[0]) : (a[0] as Uint8Array);
      let data = decodeArrayData(
        dt,
        raw,
        shape.reduce((x, y) => x * y, 1),
        pos,
        file,
      );
      if (a[3] === 'F') data = fortranToC(data, shape);
      return { __ndarray: true, dtype: dtypeName(dt.kind), shape, data } as NdArray;
    }
    if (name === 'numpy.dtype') {
      const s = String(a[0]);
      return { __dtype: true, kind: s.replace(/^[<>=|]/, ''), littleEndian: !s.startsWith('>') } as DtypeObj;
    }
    if (name.endsWith('multiarray.scalar')) {
      const dt = a[0] as DtypeObj;
      const raw = typeof a[1] === 'string' ? latin1Bytes(a[1]) : (a[1] as Uint8Array);
      return decodeArrayData(dt, raw, 1, pos, file)[0];
    }
    if (name === '_codecs.encode') return latin1Bytes(String(a[0]));
    if (name === 'collections.OrderedDict') return {};
    if (name.endsWith('bytearray'))
      return a[0] instanceof Uint8Array
        ? a[0]
        : typeof a[0] === 'string'
          ? latin1Bytes(a[0])
          : new Uint8Array();
    // set / frozenset
    return Array.isArray(a[0]) ? [...(a[0] as unknown[])] : [];
  };
  const build = (obj: unknown, state: unknown): unknown => {
    if ((obj as PendingArray)?.__pendingArray) {
      // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
      const st = state as unknown[];
      const off = st.length === 5 ? 1 : 0;
      const shape = (st[off] as number[]).map(Number);
      const dt = st[off + 1] as DtypeObj;
      const fortran = !!st[off + 2];
      let raw = st[off + 3];
      if (!dt?.__dtype) fail('ndarray state without a dtype');
      if (typeof raw === 'string') raw = latin1Bytes(raw);
      if (Array.isArray(raw)) fail('object arrays (dtype=object) are not supported; save numeric arrays');
      const count = shape.reduce((x, y) => x * y, 1);
      let data = decodeArrayData(dt, raw as Uint8Array, count, pos, file);
      if (fortran) data = fortranToC(data, shape);
      const arr: NdArray = { __ndarray: true, dtype: dtypeName(dt.kind), shape, data };
      return arr;
    }
    if ((obj as DtypeObj)?.__dtype) {
      // dtype state: (version, byteorder, ...)
      const st = state as unknown[];
      if (Array.isArray(st) && typeof st[1] === 'string') (obj as DtypeObj).littleEndian = st[1] !== '>';
      return obj;
    }
    if (
      typeof obj === 'object' &&
      obj !== null &&
      !Array.isArray(obj) &&
      state &&
      typeof state === 'object'
    ) {
      Object.assign(obj, state);
    }
    return obj;
  };
  // BUILD must replace the object everywhere it is referenced (memo), so arrays are resolved lazily.
  const resolve = (v: unknown): unknown =>
    (v as PendingArray)?.__pendingArray ? (v as PendingArray).arr : v;

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return deepResolve(v) as PyValue;
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push({});
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d: Record<string, unknown> = {};
        for (let i = 0; i + 1 < items.length; i += 2) d[key(items[i])] = items[i + 1];
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to a non-list');
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to a non-list');
        (l as unknown[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        // LONG4
        const n = op === 0x8a ? u8() : u32();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x49: {
        // INT (text)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number(line().replace(/L$/, '')));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x47: {
        // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(bytes(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(bytes(u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(Uint8Array.from(bytes(u64())));
        break;
      case 0x54: // BINSTRING (python 2 str)
        stack.push(Buffer.from(bytes(i32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(bytes(u8())).toString('latin1'));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const mod = line();
        const name = line();
        stack.push(global(`${mod}.${name}`));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        stack.push(global(`${String(mod)}.${String(name)}`));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop();
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        const built = build(obj, deepResolve(state));
        if ((obj as PendingArray)?.__pendingArray) (obj as PendingArray).arr = built as NdArray;
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        const i = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(i)) fail(`memo key ${i} not found`);
        stack.push(memo.get(i));
        break;
      }
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        pos--;
        fail(`unsupported opcode 0x${op.toString(16)} (only in-band protocol 2-5 data pickles are read)`);
    }
  }

  function deepResolve(v: unknown, seen = new Set<unknown>()): unknown {
    v = resolve(v);
    if (v === null || typeof v !== 'object' || isNdArray(v) || v instanceof Uint8Array) return v;
    if ((v as DtypeObj).__dtype || (v as GlobalRef).__global) return v;
    if (seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = deepResolve(v[i], seen);
    } else {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = deepResolve(o[k], seen);
    }
    return v;
  }
}

/** Reads and parses a pickle file. */
export function readPickleFile(file: string): PyValue {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new PickleError(`cannot read file (${(e as Error).message})`, 0, file);
  }
  return parsePickle(buf, file);
}

/** Nested number arrays of an ndarray (e.g. gt_RTs[k] as a 4x4 number[][]). */
export function ndToNested(a: NdArray): unknown {
  const rec = (dim: number, off: number): unknown => {
    if (dim === a.shape.length) return a.data[off];
    const stride = a.shape.slice(dim + 1).reduce((x, y) => x * y, 1);
    return Array.from({ length: a.shape[dim] }, (_, i) => rec(dim + 1, off + i * stride));
  };
  return a.shape.length === 0 ? a.data[0] : rec(0, 0);
}
