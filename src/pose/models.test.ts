import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ModelRegistry, loadObjectModelFile, parseObj, parsePly, parseXyz, sampleMeshSurface } from './index';

// unit cube [0,1]^3 as 8 vertices and 6 quads
const V = [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1];
const F = [
  [0, 3, 2, 1],
  [4, 5, 6, 7],
  [0, 1, 5, 4],
  [2, 3, 7, 6],
  [1, 2, 6, 5],
  [0, 4, 7, 3],
];

function plyHeader(format: string): string {
  return `ply\nformat ${format} 1.0\ncomment cube\nelement vertex 8\nproperty float x\nproperty float y\nproperty float z\nelement face 6\nproperty list uchar int vertex_indices\nend_header\n`;
}

describe('model files', () => {
  it('parses ascii and binary PLY into the same triangles, and OBJ', () => {
    const ascii =
      plyHeader('ascii') +
      V.join(' ').replace(/(\S+ \S+ \S+) ?/g, '$1\n') +
      F.map((f) => `4 ${f.join(' ')}`).join('\n');
    const a = parsePly(new TextEncoder().encode(ascii));
    expect(a.vertices.length).toBe(24);
    expect(a.triangles.length).toBe(36);
    const head = new TextEncoder().encode(plyHeader('binary_little_endian'));
    const body = new DataView(new ArrayBuffer(8 * 12 + 6 * (1 + 16)));
    let o = 0;
    for (const x of V) body.setFloat32((o += 4) - 4, x, true);
    for (const f of F) {
      body.setUint8(o++, 4);
      for (const i of f) body.setInt32((o += 4) - 4, i, true);
    }
    const bin = new Uint8Array(head.length + body.byteLength);
    bin.set(head, 0);
    bin.set(new Uint8Array(body.buffer), head.length);
    const b = parsePly(bin);
    expect(Array.from(b.vertices)).toEqual(Array.from(a.vertices));
    expect(Array.from(b.triangles)).toEqual(Array.from(a.triangles));
    const obj = parseObj(
      V.join(' ').replace(/(\S+ \S+ \S+) ?/g, 'v $1\n') +
        F.map((f) => `f ${f.map((i) => `${i + 1}//1`).join(' ')}`).join('\n'),
    );
    expect(Array.from(obj.triangles)).toEqual(Array.from(a.triangles));
  });

  it('samples mesh surfaces uniformly with face normals; rejects bad files with typed errors', () => {
    const mesh = parsePly(
      new TextEncoder().encode(
        plyHeader('ascii') + V.join(' ') + '\n' + F.map((f) => `4 ${f.join(' ')}`).join('\n'),
      ),
    );
    const s = sampleMeshSurface(mesh, 6000, 3);
    let onFace = 0;
    let zTop = 0;
    for (let i = 0; i < 6000; i++) {
      const p = [s.points[3 * i], s.points[3 * i + 1], s.points[3 * i + 2]];
      if (p.some((x) => Math.abs(x) < 1e-6 || Math.abs(x - 1) < 1e-6)) onFace++;
      if (Math.abs(p[2] - 1) < 1e-6) {
        zTop++;
        expect(Math.abs(s.normals[3 * i + 2])).toBeCloseTo(1, 6);
      }
    }
    expect(onFace).toBe(6000);
    expect(zTop / 6000).toBeGreaterThan(0.14); // 1/6 of the area
    expect(zTop / 6000).toBeLessThan(0.19);
    expect(() => parsePly(new TextEncoder().encode('not a ply\nend_header\n'))).toThrow(/ply/);
    const tmp = path.join(os.tmpdir(), `model-${process.pid}.stl`);
    fs.writeFileSync(tmp, 'solid');
    expect(() => loadObjectModelFile('x', tmp)).toThrow(/unsupported model extension/);
    fs.unlinkSync(tmp);
  });

  it('parses point models and registers them by name', () => {
    const xyz = parseXyz('0 0 0\n0.1 0 0\n\n0 0.1 0\n0 0 0.1\n');
    expect(xyz.vertices.length).toBe(12);
    expect(xyz.normals).toBeUndefined();
    const reg = new ModelRegistry();
    const rng = Array.from({ length: 3000 }, (_, i) =>
      [Math.cos(i), Math.sin(i * 1.3), Math.cos(i * 0.7)].map((x) => x * 0.05),
    ).flat();
    const p = reg.register({ name: 'blob', pointsM: Float32Array.from(rng) });
    expect(reg.has('blob')).toBe(true);
    expect(reg.get('blob')).toBe(p);
    expect(p.diameterM).toBeGreaterThan(0.1);
    expect(reg.get('nope')).toBeUndefined();
  });
});
