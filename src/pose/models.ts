import * as fs from 'fs';
import * as path from 'path';
import { GeometryInputError } from '../geometry/errors';
import { SeededRng } from '../geometry/rng';
import { prepareObjectModel, type PrepareModelOptions, type PreparedModel } from './model';
import type { ModelSymmetries, ObjectModel } from './types';

/** A parsed mesh or point model: vertices (and optional normals) as interleaved xyz, triangles as index triples. */
export interface MeshData {
  vertices: Float32Array;
  normals?: Float32Array;
  /** Triangle vertex indices (polygons are fan-triangulated); empty for point clouds. */
  triangles: Uint32Array;
}

const PLY_TYPES: Record<string, [number, string]> = {
  char: [1, 'Int8'],
  int8: [1, 'Int8'],
  uchar: [1, 'Uint8'],
  uint8: [1, 'Uint8'],
  short: [2, 'Int16'],
  int16: [2, 'Int16'],
  ushort: [2, 'Uint16'],
  uint16: [2, 'Uint16'],
  int: [4, 'Int32'],
  int32: [4, 'Int32'],
  uint: [4, 'Uint32'],
  uint32: [4, 'Uint32'],
  float: [4, 'Float32'],
  float32: [4, 'Float32'],
  double: [8, 'Float64'],
  float64: [8, 'Float64'],
};

interface PlyProp {
  name: string;
  type: string;
  listCount?: string;
}

/** Parses a PLY file (ascii, binary_little_endian or binary_big_endian): vertex x y z [nx ny nz] and faces. */
export function parsePly(data: Uint8Array): MeshData {
  // header
  const headEnd = findHeaderEnd(data);
  const header = new TextDecoder('latin1').decode(data.subarray(0, headEnd));
  const lines = header.split(/\r?\n/);
  if (lines[0].trim() !== 'ply')
    throw new GeometryInputError('ply', 'missing "ply" magic; is this a PLY file?');
  let format = '';
  const elements: { name: string; count: number; props: PlyProp[] }[] = [];
  for (const line of lines) {
    const t = line.trim().split(/\s+/);
    if (t[0] === 'format') format = t[1];
    else if (t[0] === 'element') elements.push({ name: t[1], count: parseInt(t[2], 10), props: [] });
    else if (t[0] === 'property' && elements.length) {
      const props = elements[elements.length - 1].props;
      if (t[1] === 'list') props.push({ name: t[4], type: t[3], listCount: t[2] });
      else props.push({ name: t[2], type: t[1] });
    }
  }
  const vEl = elements.find((e) => e.name === 'vertex');
  if (!vEl) throw new GeometryInputError('ply', 'has no vertex element');
  const col = (n: string) => vEl.props.findIndex((p) => p.name === n);
  const ix = col('x');
  const iy = col('y');
  const iz = col('z');
  if (ix < 0 || iy < 0 || iz < 0)
    throw new GeometryInputError('ply', 'vertex element lacks x/y/z properties');
  const inx = col('nx');
  const hasN = inx >= 0 && col('ny') >= 0 && col('nz') >= 0;
  const vertices = new Float32Array(3 * vEl.count);
  const normals = hasN ? new Float32Array(3 * vEl.count) : undefined;
  const tris: number[] = [];
  const body = data.subarray(headEnd);
  if (format === 'ascii') {
    const tokens = new TextDecoder('latin1').decode(body).split(/\s+/).filter(Boolean);
    let k = 0;
    for (const el of elements) {
      for (let r = 0; r < el.count; r++) {
        const vals: number[][] = [];
        for (const p of el.props) {
          if (p.listCount) {
            const c = Number(tokens[k++]);
            vals.push(tokens.slice(k, k + c).map(Number));
            k += c;
          } else vals.push([Number(tokens[k++])]);
        }
        storeRow(el.name, vals, r);
      }
    }
  } else if (format === 'binary_little_endian' || format === 'binary_big_endian') {
    const le = format === 'binary_little_endian';
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    let off = 0;
    const read = (type: string): number => {
      const t = PLY_TYPES[type];
      if (!t) throw new GeometryInputError('ply', `unknown property type "${type}"`);
      const v = (dv as any)[`get${t[1]}`](off, le) as number;
      off += t[0];
      return v;
    };
    for (const el of elements) {
      for (let r = 0; r < el.count; r++) {
        const vals: number[][] = [];
        for (const p of el.props) {
          if (p.listCount) {
            const c = read(p.listCount);
            const arr: number[] = [];
            for (let q = 0; q < c; q++) arr.push(read(p.type));
            vals.push(arr);
          } else vals.push([read(p.type)]);
        }
        storeRow(el.name, vals, r);
      }
    }
  } else {
    throw new GeometryInputError('ply', `unsupported format "${format}"`);
  }
  return { vertices, normals, triangles: Uint32Array.from(tris) };

  function storeRow(el: string, vals: number[][], r: number): void {
    if (el === 'vertex') {
      vertices[3 * r] = vals[ix][0];
      vertices[3 * r + 1] = vals[iy][0];
      vertices[3 * r + 2] = vals[iz][0];
      if (normals) {
        normals[3 * r] = vals[inx][0];
        normals[3 * r + 1] = vals[col('ny')][0];
        normals[3 * r + 2] = vals[col('nz')][0];
      }
    } else if (el === 'face') {
      const f = vals.find((v) => v.length >= 3) ?? [];
      for (let q = 1; q + 1 < f.length; q++) tris.push(f[0], f[q], f[q + 1]);
    }
  }
}

function findHeaderEnd(data: Uint8Array): number {
  const marker = 'end_header';
  const lim = Math.min(data.length, 1 << 16);
  for (let i = 0; i < lim - marker.length; i++) {
    let ok = true;
    for (let k = 0; k < marker.length; k++) {
      if (data[i + k] !== marker.charCodeAt(k)) {
        ok = false;
        break;
      }
    }
    if (ok) {
      let j = i + marker.length;
      if (data[j] === 13) j++;
      if (data[j] === 10) j++;
      return j;
    }
  }
  throw new GeometryInputError('ply', 'no end_header found in the first 64 KiB');
}

/** Parses Wavefront OBJ vertices (v) and faces (f, fan-triangulated; v/vt/vn and negative indices supported). */
export function parseObj(text: string): MeshData {
  const v: number[] = [];
  const tris: number[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const t = raw.trim().split(/\s+/);
    if (t[0] === 'v') v.push(Number(t[1]), Number(t[2]), Number(t[3]));
    else if (t[0] === 'f') {
      const nv = v.length / 3;
      const idx = t.slice(1).map((s) => {
        const i = parseInt(s.split('/')[0], 10);
        return i < 0 ? nv + i : i - 1;
      });
      for (let q = 1; q + 1 < idx.length; q++) tris.push(idx[0], idx[q], idx[q + 1]);
    }
  }
  return { vertices: Float32Array.from(v), triangles: Uint32Array.from(tris) };
}

/** Parses "x y z [nx ny nz]" lines (one point per line). */
export function parseXyz(text: string): MeshData {
  const pts: number[] = [];
  const nrm: number[] = [];
  let withNormals = true;
  for (const raw of text.split(/\r?\n/)) {
    const t = raw
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (t.length < 3 || t.some((x) => !Number.isFinite(x))) continue;
    pts.push(t[0], t[1], t[2]);
    if (t.length >= 6) nrm.push(t[3], t[4], t[5]);
    else withNormals = false;
  }
  return {
    vertices: Float32Array.from(pts),
    normals: withNormals && nrm.length === pts.length ? Float32Array.from(nrm) : undefined,
    triangles: new Uint32Array(0),
  };
}

/** Area-weighted uniform surface samples of a triangle mesh, with face normals (seeded, reproducible). */
export function sampleMeshSurface(
  mesh: MeshData,
  count: number,
  seed = 1,
): { points: Float32Array; normals: Float32Array } {
  const T = mesh.triangles.length / 3;
  if (T === 0)
    throw new GeometryInputError('mesh.triangles', 'mesh has no faces; use the vertices as the point model');
  const V = mesh.vertices;
  const cum = new Float64Array(T);
  const fn = new Float32Array(3 * T);
  let total = 0;
  for (let t = 0; t < T; t++) {
    const a = mesh.triangles[3 * t] * 3;
    const b = mesh.triangles[3 * t + 1] * 3;
    const c = mesh.triangles[3 * t + 2] * 3;
    const ux = V[b] - V[a],
      uy = V[b + 1] - V[a + 1],
      uz = V[b + 2] - V[a + 2];
    const vx = V[c] - V[a],
      vy = V[c + 1] - V[a + 1],
      vz = V[c + 2] - V[a + 2];
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    const l = Math.hypot(nx, ny, nz);
    total += l / 2;
    cum[t] = total;
    if (l > 0) fn.set([nx / l, ny / l, nz / l], 3 * t);
  }
  const rng = new SeededRng(seed);
  const points = new Float32Array(3 * count);
  const normals = new Float32Array(3 * count);
  for (let i = 0; i < count; i++) {
    const r = rng.next() * total;
    let lo = 0;
    let hi = T - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    const a = mesh.triangles[3 * lo] * 3;
    const b = mesh.triangles[3 * lo + 1] * 3;
    const c = mesh.triangles[3 * lo + 2] * 3;
    let s = rng.next();
    let u = rng.next();
    if (s + u > 1) {
      s = 1 - s;
      u = 1 - u;
    }
    for (let k = 0; k < 3; k++) {
      points[3 * i + k] = V[a + k] + s * (V[b + k] - V[a + k]) + u * (V[c + k] - V[a + k]);
      normals[3 * i + k] = fn[3 * lo + k];
    }
  }
  return { points, normals };
}

export interface LoadModelOptions {
  /** Multiply coordinates by this to get metres (BOP / YCB-Video PLY models are in mm: 0.001). Default 1. */
  scaleToM?: number;
  /** Surface samples drawn from meshes (default 10000). */
  samples?: number;
  symmetries?: ModelSymmetries;
  seed?: number;
}

/** Builds an ObjectModel from parsed mesh data (meshes are surface-sampled, point models used as they are). */
export function meshToObjectModel(name: string, mesh: MeshData, options: LoadModelOptions = {}): ObjectModel {
  const s = options.scaleToM ?? 1;
  let pts: Float32Array;
  let nrm: Float32Array | undefined;
  if (mesh.triangles.length) {
    const smp = sampleMeshSurface(mesh, options.samples ?? 10000, options.seed ?? 1);
    pts = smp.points;
    nrm = smp.normals;
  } else {
    pts = mesh.vertices;
    nrm = mesh.normals;
  }
  const scaled = s === 1 ? new Float32Array(pts) : pts.map((x) => x * s);
  return { name, pointsM: scaled, normals: nrm, symmetries: options.symmetries };
}

/** Reads a .ply, .obj or .xyz/.txt model file (file I/O at the edge). */
export function loadObjectModelFile(name: string, file: string, options: LoadModelOptions = {}): ObjectModel {
  const ext = path.extname(file).toLowerCase();
  const buf = fs.readFileSync(file);
  let mesh: MeshData;
  if (ext === '.ply') mesh = parsePly(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  else if (ext === '.obj') mesh = parseObj(buf.toString('utf8'));
  else if (ext === '.xyz' || ext === '.txt' || ext === '.pts') mesh = parseXyz(buf.toString('utf8'));
  else throw new GeometryInputError('file', `unsupported model extension "${ext}"; use .ply, .obj or .xyz`);
  if (mesh.vertices.length === 0) throw new GeometryInputError('file', `${file} holds no vertices`);
  return meshToObjectModel(name, mesh, options);
}

/** Object models registered by name (from config), prepared once for registration. */
export class ModelRegistry {
  private readonly models = new Map<string, PreparedModel>();

  /** Registers (or replaces) a model and pre-computes its registration data. */
  register(model: ObjectModel, options: PrepareModelOptions = {}): PreparedModel {
    if (!model.name) throw new GeometryInputError('model.name', 'must be a non-empty string');
    const prepared = prepareObjectModel(model, options);
    this.models.set(model.name, prepared);
    return prepared;
  }

  /** The prepared model, or undefined when no model of that name is registered. */
  get(name: string): PreparedModel | undefined {
    return this.models.get(name);
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  names(): string[] {
    return [...this.models.keys()];
  }
}
