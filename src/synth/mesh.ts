/**
 * Procedural triangle meshes for the synthetic world.
 *
 * Object frame convention (every category): metres, +z up, the object rests on its base at z = 0 and is centred
 * in x and y on the axis of revolution (bottle, bowl, can, mug body) or on its footprint (box, camera, laptop base).
 * Front-ish features point along +x (mug handle) or -y (camera lens, laptop keyboard towards the user); the laptop
 * hinge is at the back edge (+y).
 */
import { Rng } from './rng';

/** Indexed triangle mesh in its own (object) frame. */
export interface Mesh {
  /** xyz per vertex, metres, length 3 * vertexCount. */
  positionsM: Float32Array;
  /** Three vertex indices per triangle, counter-clockwise seen from outside. */
  indices: Uint32Array;
}

/** The seven object categories: the six REAL275 ones plus box. */
export type Category = 'bottle' | 'bowl' | 'camera' | 'can' | 'laptop' | 'mug' | 'box';

/** All categories, in NOCS class-id order then box. */
export const CATEGORIES: readonly Category[] = ['bottle', 'bowl', 'camera', 'can', 'laptop', 'mug', 'box'];

/** Shape parameters kept with an instance (metres). */
export interface ShapeParams {
  /** Main body radius for revolved shapes (bottle, bowl, can, mug), 0 otherwise. */
  radiusM: number;
  /** Overall height (z extent). */
  heightM: number;
  /** Category-specific extras, metres or radians (e.g. laptop `screenAngleRad`, box `sx`, `sy`). */
  extra: Record<string, number>;
}

class MeshBuilder {
  private pos: number[] = [];
  private idx: number[] = [];

  vertex(x: number, y: number, z: number): number {
    this.pos.push(x, y, z);
    return this.pos.length / 3 - 1;
  }

  tri(a: number, b: number, c: number): void {
    this.idx.push(a, b, c);
  }

  quad(a: number, b: number, c: number, d: number): void {
    this.idx.push(a, b, c, a, c, d);
  }

  append(m: Mesh): void {
    const base = this.pos.length / 3;
    for (let i = 0; i < m.positionsM.length; i++) this.pos.push(m.positionsM[i]);
    for (let i = 0; i < m.indices.length; i++) this.idx.push(m.indices[i] + base);
  }

  build(): Mesh {
    return { positionsM: Float32Array.from(this.pos), indices: Uint32Array.from(this.idx) };
  }
}

/** Axis-aligned box [x0,x1]x[y0,y1]x[z0,z1] with outward counter-clockwise faces. */
export function boxMesh(x0: number, x1: number, y0: number, y1: number, z0: number, z1: number): Mesh {
  const b = new MeshBuilder();
  const v = [
    b.vertex(x0, y0, z0),
    b.vertex(x1, y0, z0),
    b.vertex(x1, y1, z0),
    b.vertex(x0, y1, z0),
    b.vertex(x0, y0, z1),
    b.vertex(x1, y0, z1),
    b.vertex(x1, y1, z1),
    b.vertex(x0, y1, z1),
  ];
  b.quad(v[0], v[3], v[2], v[1]); // bottom (-z)
  b.quad(v[4], v[5], v[6], v[7]); // top (+z)
  b.quad(v[0], v[1], v[5], v[4]); // -y
  b.quad(v[2], v[3], v[7], v[6]); // +y
  b.quad(v[1], v[2], v[6], v[5]); // +x
  b.quad(v[3], v[0], v[4], v[7]); // -x
  return b.build();
}

/**
 * Surface of revolution about +z. `profile` is a list of (radius, z) from bottom to top; points with radius 0
 * become single pole vertices. The surface is closed where the profile starts/ends on the axis.
 */
export function latheMesh(profile: ReadonlyArray<readonly [number, number]>, segments: number): Mesh {
  const b = new MeshBuilder();
  const rings: number[][] = [];
  for (const [r, z] of profile) {
    if (r <= 0) {
      rings.push([b.vertex(0, 0, z)]);
      continue;
    }
    const ring: number[] = [];
    for (let s = 0; s < segments; s++) {
      const a = (2 * Math.PI * s) / segments;
      ring.push(b.vertex(r * Math.cos(a), r * Math.sin(a), z));
    }
    rings.push(ring);
  }
  for (let k = 0; k + 1 < rings.length; k++) {
    const lo = rings[k];
    const hi = rings[k + 1];
    for (let s = 0; s < segments; s++) {
      const s1 = (s + 1) % segments;
      if (lo.length === 1 && hi.length === 1) continue;
      if (lo.length === 1) b.tri(lo[0], hi[s1], hi[s]);
      else if (hi.length === 1) b.tri(lo[s], lo[s1], hi[0]);
      else b.quad(lo[s], lo[s1], hi[s1], hi[s]);
    }
  }
  return b.build();
}

/** Applies p' = R p + t (row-major R) to a copy of the mesh. */
export function transformMesh(m: Mesh, R: ArrayLike<number>, t: ArrayLike<number>): Mesh {
  const p = m.positionsM;
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i += 3) {
    const x = p[i];
    const y = p[i + 1];
    const z = p[i + 2];
    out[i] = R[0] * x + R[1] * y + R[2] * z + t[0];
    out[i + 1] = R[3] * x + R[4] * y + R[5] * z + t[1];
    out[i + 2] = R[6] * x + R[7] * y + R[8] * z + t[2];
  }
  return { positionsM: out, indices: m.indices.slice() };
}

/** Concatenates meshes. */
export function mergeMeshes(...parts: Mesh[]): Mesh {
  const b = new MeshBuilder();
  for (const m of parts) b.append(m);
  return b.build();
}

/** Tube swept along a circular arc in the xz-plane (centre (cx, 0, cz), radius R, angles a0..a1 about y). */
function arcTube(cx: number, cz: number, R: number, tubeR: number, a0: number, a1: number, n: number): Mesh {
  const b = new MeshBuilder();
  const m = 10;
  const rings: number[][] = [];
  for (let i = 0; i <= n; i++) {
    const a = a0 + ((a1 - a0) * i) / n;
    const px = cx + R * Math.cos(a);
    const pz = cz + R * Math.sin(a);
    // Local frame: radial direction (cos a, 0, sin a) and y.
    const ring: number[] = [];
    for (let k = 0; k < m; k++) {
      const phi = (2 * Math.PI * k) / m;
      const rr = tubeR * Math.cos(phi);
      ring.push(b.vertex(px + rr * Math.cos(a), tubeR * Math.sin(phi), pz + rr * Math.sin(a)));
    }
    rings.push(ring);
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      const k1 = (k + 1) % m;
      b.quad(rings[i][k], rings[i][k1], rings[i + 1][k1], rings[i + 1][k]);
    }
  }
  return b.build();
}

const SEG = 32;

/** Random shape parameters and mesh for one instance of `category` (see the object frame convention above). */
export function buildCategoryMesh(category: Category, rng: Rng): { mesh: Mesh; shape: ShapeParams } {
  switch (category) {
    case 'bottle': {
      const r = rng.uniform(0.028, 0.045);
      const h = rng.uniform(0.18, 0.3);
      const rn = r * rng.uniform(0.3, 0.45);
      const sh = h * rng.uniform(0.55, 0.7);
      const profile: [number, number][] = [
        [0, 0],
        [r * 0.94, 0],
        [r, 0.01],
        [r, sh],
        [r * 0.85, sh + (h - sh) * 0.2],
        [r * 0.55, sh + (h - sh) * 0.45],
        [rn, sh + (h - sh) * 0.65],
        [rn, h - 0.004],
        [rn * 0.9, h],
        [0, h],
      ];
      return { mesh: latheMesh(profile, SEG), shape: { radiusM: r, heightM: h, extra: { neckRadiusM: rn } } };
    }
    case 'can': {
      const r = rng.uniform(0.028, 0.042);
      const h = rng.uniform(0.095, 0.135);
      const profile: [number, number][] = [
        [0, 0],
        [r * 0.88, 0],
        [r, 0.008],
        [r, h - 0.008],
        [r * 0.9, h],
        [0, h],
      ];
      return { mesh: latheMesh(profile, SEG), shape: { radiusM: r, heightM: h, extra: {} } };
    }
    case 'bowl': {
      const R = rng.uniform(0.065, 0.11);
      const h = R * rng.uniform(0.45, 0.65);
      const rb = R * rng.uniform(0.45, 0.6);
      const t = 0.006;
      const profile: [number, number][] = [
        [0, 0],
        [rb, 0],
        [rb + (R - rb) * 0.55, h * 0.45],
        [R, h],
        [R - t, h],
        [rb + (R - rb) * 0.55 - t, h * 0.45 + t * 0.5],
        [rb - t, t],
        [0, t],
      ];
      return { mesh: latheMesh(profile, SEG), shape: { radiusM: R, heightM: h, extra: { baseRadiusM: rb } } };
    }
    case 'mug': {
      const r = rng.uniform(0.038, 0.05);
      const h = rng.uniform(0.08, 0.11);
      const t = 0.005;
      const body = latheMesh(
        [
          [0, 0],
          [r, 0],
          [r, h],
          [r - t, h],
          [r - t, t * 1.5],
          [0, t * 1.5],
        ],
        SEG,
      );
      const handleR = h * rng.uniform(0.26, 0.32);
      const tubeR = Math.max(0.005, r * 0.13);
      const handle = arcTube(r - tubeR * 0.5, h * 0.52, handleR, tubeR, -Math.PI / 2, Math.PI / 2, 12);
      return {
        mesh: mergeMeshes(body, handle),
        shape: { radiusM: r, heightM: h, extra: { handleRadiusM: handleR, handleTubeM: tubeR } },
      };
    }
    case 'camera': {
      const w = rng.uniform(0.1, 0.14);
      const d = rng.uniform(0.045, 0.07);
      const h = rng.uniform(0.065, 0.09);
      const body = boxMesh(-w / 2, w / 2, -d / 2, d / 2, 0, h);
      const lensR = Math.min(h, w) * rng.uniform(0.25, 0.33);
      const lensL = rng.uniform(0.03, 0.06);
      // Lens: lathe about +z, rotated so its axis points along -y, centred on the front face.
      const lens = latheMesh(
        [
          [0, 0],
          [lensR, 0],
          [lensR, lensL * 0.7],
          [lensR * 0.85, lensL],
          [0, lensL],
        ],
        24,
      );
      const Rx = [1, 0, 0, 0, 0, -1, 0, 1, 0]; // +z -> -y
      const lensPlaced = transformMesh(lens, Rx, [w * 0.08, -d / 2 + 0.001, h * 0.48]);
      const vf = boxMesh(-w * 0.15, w * 0.15, -d * 0.3, d * 0.3, h, h + h * 0.15);
      const grip = boxMesh(-w / 2, -w / 2 + w * 0.18, -d / 2 - 0.012, -d / 2, h * 0.05, h * 0.85);
      return {
        mesh: mergeMeshes(body, lensPlaced, vf, grip),
        shape: { radiusM: 0, heightM: h * 1.15, extra: { bodyWidthM: w, bodyDepthM: d, lensRadiusM: lensR } },
      };
    }
    case 'laptop': {
      const w = rng.uniform(0.28, 0.36);
      const d = w * rng.uniform(0.65, 0.72);
      const tb = 0.016;
      const ts = 0.008;
      const angle = rng.uniform((100 * Math.PI) / 180, (125 * Math.PI) / 180);
      const base = boxMesh(-w / 2, w / 2, -d / 2, d / 2, 0, tb);
      // Screen panel built lying on the base (y in [-d, 0] relative to the hinge), then rotated about the hinge.
      const panel = boxMesh(-w / 2, w / 2, -d, 0, 0, ts);
      // Rotation about x by -angle: the panel direction (0,-1,0) becomes (0, -cos a, sin a), up and leaning back.
      const c = Math.cos(-angle);
      const s = Math.sin(-angle);
      const R = [1, 0, 0, 0, c, -s, 0, s, c];
      const screen = transformMesh(panel, R, [0, d / 2, tb]);
      const mesh = mergeMeshes(base, screen);
      let zMax = 0;
      for (let i = 2; i < mesh.positionsM.length; i += 3) zMax = Math.max(zMax, mesh.positionsM[i]);
      return {
        mesh,
        shape: { radiusM: 0, heightM: zMax, extra: { widthM: w, depthM: d, screenAngleRad: angle } },
      };
    }
    case 'box': {
      const sx = rng.uniform(0.05, 0.2);
      const sy = rng.uniform(0.05, 0.16);
      const sz = rng.uniform(0.04, 0.2);
      return {
        mesh: boxMesh(-sx / 2, sx / 2, -sy / 2, sy / 2, 0, sz),
        shape: { radiusM: 0, heightM: sz, extra: { sx, sy, sz } },
      };
    }
  }
}

/** Axis-aligned bounds of a mesh: min corner and extent (metres). */
export function meshBounds(m: Mesh): { minM: [number, number, number]; sizeM: [number, number, number] } {
  const p = m.positionsM;
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < p.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      const v = p[i + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  }
  return { minM: [lo[0], lo[1], lo[2]], sizeM: [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]] };
}

/** Largest distance between two vertices (metres), O(n^2) over unique vertices. */
export function meshDiameterM(m: Mesh): number {
  const p = m.positionsM;
  const n = p.length / 3;
  let best = 0;
  for (let i = 0; i < n; i++) {
    const x = p[3 * i];
    const y = p[3 * i + 1];
    const z = p[3 * i + 2];
    for (let j = i + 1; j < n; j++) {
      const dx = p[3 * j] - x;
      const dy = p[3 * j + 1] - y;
      const dz = p[3 * j + 2] - z;
      const d = dx * dx + dy * dy + dz * dz;
      if (d > best) best = d;
    }
  }
  return Math.sqrt(best);
}
