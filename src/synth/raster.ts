/**
 * Z-buffer triangle rasterizer over typed arrays (no per-pixel allocation).
 *
 * Pixel (u, v) samples the image point (u, v) (OpenCV convention: integer coordinates are pixel centres), so a
 * camera-frame point projects to u = fx x / z + cx, v = fy y / z + cy. Depth is perspective-correct camera z.
 * Triangles are clipped against the near plane; both faces are drawn (two-sided lighting) unless back-face culling
 * is asked for (closed meshes whose faces are counter-clockwise seen from outside).
 */
import type { CameraIntrinsics, Pose } from '../types';
import type { Material } from './materials';

/** Render target: a z-buffer plus optional colour, id, object-coordinate and flag planes. */
export interface RasterTarget {
  width: number;
  height: number;
  camera: CameraIntrinsics;
  /** Camera z in metres, +Infinity where nothing was drawn. */
  zbuf: Float32Array;
  rgb: Uint8Array | null;
  ids: Uint16Array | null;
  /** Object-frame xyz (metres) of the visible surface, 3 per pixel. */
  coords: Float32Array | null;
  /** Bit 0: specular highlight (sensor drops depth there). */
  flags: Uint8Array | null;
}

/** Allocates an empty target (z = +Infinity). */
export function createTarget(
  camera: CameraIntrinsics,
  planes: { rgb?: boolean; ids?: boolean; coords?: boolean; flags?: boolean },
): RasterTarget {
  const n = camera.width * camera.height;
  const zbuf = new Float32Array(n).fill(Infinity);
  return {
    width: camera.width,
    height: camera.height,
    camera,
    zbuf,
    rgb: planes.rgb ? new Uint8Array(3 * n) : null,
    ids: planes.ids ? new Uint16Array(n) : null,
    coords: planes.coords ? new Float32Array(3 * n) : null,
    flags: planes.flags ? new Uint8Array(n) : null,
  };
}

/** Shading inputs for one draw call. */
export interface Shade {
  material: Material;
  /** Unit vector towards the light, camera frame. */
  lightCam: [number, number, number];
  ambient: number;
}

const TEX_CODE = { plain: 0, stripes: 1, label: 2, checker: 3 } as const;

// Scratch buffers (module level, reused; the renderer is synchronous).
let camScratch = new Float64Array(3 * 1024);
const polyCam = new Float64Array(12);
const polyObj = new Float64Array(12);
const triCam = new Float64Array(9);
const triObj = new Float64Array(9);

interface ShadeState {
  tex: number;
  r1: number;
  g1: number;
  b1: number;
  r2: number;
  g2: number;
  b2: number;
  period: number;
  z0: number;
  z1: number;
  spec: number;
  shin: number;
  lx: number;
  ly: number;
  lz: number;
  amb: number;
}

function shadeState(s: Shade | null): ShadeState | null {
  if (!s) return null;
  const m = s.material;
  return {
    tex: TEX_CODE[m.texture],
    r1: m.rgb[0],
    g1: m.rgb[1],
    b1: m.rgb[2],
    r2: m.secondaryRgb[0],
    g2: m.secondaryRgb[1],
    b2: m.secondaryRgb[2],
    period: m.periodM > 0 ? m.periodM : 1,
    z0: m.labelZM[0],
    z1: m.labelZM[1],
    spec: m.specular,
    shin: m.shininess,
    lx: s.lightCam[0],
    ly: s.lightCam[1],
    lz: s.lightCam[2],
    amb: s.ambient,
  };
}

/**
 * Draws a mesh (object-frame positions) with pose object -> camera into the target. `id` is written to the id
 * plane; `shade` null draws geometry only (z, ids, coords).
 */
export function drawMesh(
  t: RasterTarget,
  positionsM: Float32Array,
  indices: Uint32Array,
  poseCam: Pose,
  id: number,
  shade: Shade | null,
  cullBackFaces = false,
  nearM = 0.01,
): void {
  const nv = positionsM.length / 3;
  if (camScratch.length < 3 * nv) camScratch = new Float64Array(3 * nv);
  const cam = camScratch;
  const R = poseCam.R;
  const tx = poseCam.tM[0];
  const ty = poseCam.tM[1];
  const tz = poseCam.tM[2];
  for (let i = 0; i < nv; i++) {
    const x = positionsM[3 * i];
    const y = positionsM[3 * i + 1];
    const z = positionsM[3 * i + 2];
    cam[3 * i] = R[0] * x + R[1] * y + R[2] * z + tx;
    cam[3 * i + 1] = R[3] * x + R[4] * y + R[5] * z + ty;
    cam[3 * i + 2] = R[6] * x + R[7] * y + R[8] * z + tz;
  }
  const st = shadeState(shade);
  for (let f = 0; f < indices.length; f += 3) {
    const ia = 3 * indices[f];
    const ib = 3 * indices[f + 1];
    const ic = 3 * indices[f + 2];
    const za = cam[ia + 2];
    const zb = cam[ib + 2];
    const zc = cam[ic + 2];
    if (za < nearM && zb < nearM && zc < nearM) continue;
    if (cullBackFaces) {
      // Closed meshes with outward counter-clockwise faces: skip faces whose normal points away from the camera.
      const ax = cam[ia];
      const ay = cam[ia + 1];
      const e1x = cam[ib] - ax;
      const e1y = cam[ib + 1] - ay;
      const e1z = zb - za;
      const e2x = cam[ic] - ax;
      const e2y = cam[ic + 1] - ay;
      const e2z = zc - za;
      const nx = e1y * e2z - e1z * e2y;
      const ny = e1z * e2x - e1x * e2z;
      const nz = e1x * e2y - e1y * e2x;
      if (nx * ax + ny * ay + nz * za >= 0) continue;
    }
    if (za >= nearM && zb >= nearM && zc >= nearM) {
      for (let k = 0; k < 3; k++) {
        triCam[k] = cam[ia + k];
        triCam[3 + k] = cam[ib + k];
        triCam[6 + k] = cam[ic + k];
        triObj[k] = positionsM[ia + k];
        triObj[3 + k] = positionsM[ib + k];
        triObj[6 + k] = positionsM[ic + k];
      }
      rasterTri(t, triCam, triObj, id, st);
      continue;
    }
    // Sutherland-Hodgman against z = near (at most 4 output vertices).
    let n = 0;
    const src = [ia, ib, ic];
    for (let k = 0; k < 3; k++) {
      const p = src[k];
      const q = src[(k + 1) % 3];
      const zp = cam[p + 2];
      const zq = cam[q + 2];
      const pin = zp >= nearM;
      const qin = zq >= nearM;
      if (pin) {
        for (let j = 0; j < 3; j++) {
          polyCam[3 * n + j] = cam[p + j];
          polyObj[3 * n + j] = positionsM[p + j];
        }
        n++;
      }
      if (pin !== qin) {
        const s = (nearM - zp) / (zq - zp);
        for (let j = 0; j < 3; j++) {
          polyCam[3 * n + j] = cam[p + j] + s * (cam[q + j] - cam[p + j]);
          polyObj[3 * n + j] = positionsM[p + j] + s * (positionsM[q + j] - positionsM[p + j]);
        }
        n++;
      }
    }
    for (let k = 1; k + 1 < n; k++) {
      for (let j = 0; j < 3; j++) {
        triCam[j] = polyCam[j];
        triObj[j] = polyObj[j];
        triCam[3 + j] = polyCam[3 * k + j];
        triObj[3 + j] = polyObj[3 * k + j];
        triCam[6 + j] = polyCam[3 * (k + 1) + j];
        triObj[6 + j] = polyObj[3 * (k + 1) + j];
      }
      rasterTri(t, triCam, triObj, id, st);
    }
  }
}

function rasterTri(
  t: RasterTarget,
  c: Float64Array,
  o: Float64Array,
  id: number,
  st: ShadeState | null,
): void {
  const K = t.camera;
  const fx = K.fx;
  const fy = K.fy;
  const cx = K.cx;
  const cy = K.cy;
  const W = t.width;
  const H = t.height;
  const za = c[2];
  const zb = c[5];
  const zc = c[8];
  const ua = (fx * c[0]) / za + cx;
  const va = (fy * c[1]) / za + cy;
  const ub = (fx * c[3]) / zb + cx;
  const vb = (fy * c[4]) / zb + cy;
  const uc = (fx * c[6]) / zc + cx;
  const vc = (fy * c[7]) / zc + cy;
  const area = (ub - ua) * (vc - va) - (uc - ua) * (vb - va);
  if (!(Math.abs(area) > 1e-12)) return;
  const minX = Math.max(0, Math.ceil(Math.min(ua, ub, uc)));
  const maxX = Math.min(W - 1, Math.floor(Math.max(ua, ub, uc)));
  const minY = Math.max(0, Math.ceil(Math.min(va, vb, vc)));
  const maxY = Math.min(H - 1, Math.floor(Math.max(va, vb, vc)));
  if (minX > maxX || minY > maxY) return;
  const inv = 1 / area;
  // Barycentrics la (of a), lb (of b) as affine functions of the pixel (x, y).
  const laDx = (vb - vc) * inv;
  const laDy = (uc - ub) * inv;
  const lbDx = (vc - va) * inv;
  const lbDy = (ua - uc) * inv;
  const la00 = ((ub - minX) * (vc - minY) - (uc - minX) * (vb - minY)) * inv;
  const lb00 = ((uc - minX) * (va - minY) - (ua - minX) * (vc - minY)) * inv;
  const iza = 1 / za;
  const izb = 1 / zb;
  const izc = 1 / zc;
  const zbuf = t.zbuf;
  const ids = t.ids;
  const coords = t.coords;
  const rgb = t.rgb;
  const flags = t.flags;
  const needObj = coords !== null || (st !== null && st.tex !== 0);
  const oxa = o[0] * iza;
  const oya = o[1] * iza;
  const oza = o[2] * iza;
  const oxb = o[3] * izb;
  const oyb = o[4] * izb;
  const ozb = o[5] * izb;
  const oxc = o[6] * izc;
  const oyc = o[7] * izc;
  const ozc = o[8] * izc;
  // Face normal in the camera frame, flipped towards the camera (two-sided).
  let diffuse = 0;
  let nx = 0;
  let ny = 0;
  let nz = 0;
  if (st !== null) {
    const e1x = c[3] - c[0];
    const e1y = c[4] - c[1];
    const e1z = c[5] - c[2];
    const e2x = c[6] - c[0];
    const e2y = c[7] - c[1];
    const e2z = c[8] - c[2];
    nx = e1y * e2z - e1z * e2y;
    ny = e1z * e2x - e1x * e2z;
    nz = e1x * e2y - e1y * e2x;
    const nn = Math.hypot(nx, ny, nz) || 1;
    nx /= nn;
    ny /= nn;
    nz /= nn;
    if (nx * c[0] + ny * c[1] + nz * c[2] > 0) {
      nx = -nx;
      ny = -ny;
      nz = -nz;
    }
    diffuse = Math.max(0, nx * st.lx + ny * st.ly + nz * st.lz);
  }
  const eps = -1e-9;
  // Per row, the exact x-span where all three barycentrics are >= 0 (no scanning of empty bbox pixels).
  const lcDx = -laDx - lbDx;
  for (let y = minY; y <= maxY; y++) {
    const dy = y - minY;
    const laRow = la00 + laDy * dy;
    const lbRow = lb00 + lbDy * dy;
    const lcRow = 1 - laRow - lbRow;
    let xs = minX;
    let xe = maxX;
    // l(x) = lRow + lDx * (x - minX) >= 0
    if (laDx > 0) xs = Math.max(xs, minX + Math.ceil(-laRow / laDx - 1e-7));
    else if (laDx < 0) xe = Math.min(xe, minX + Math.floor(-laRow / laDx + 1e-7));
    else if (laRow < eps) continue;
    if (lbDx > 0) xs = Math.max(xs, minX + Math.ceil(-lbRow / lbDx - 1e-7));
    else if (lbDx < 0) xe = Math.min(xe, minX + Math.floor(-lbRow / lbDx + 1e-7));
    else if (lbRow < eps) continue;
    if (lcDx > 0) xs = Math.max(xs, minX + Math.ceil(-lcRow / lcDx - 1e-7));
    else if (lcDx < 0) xe = Math.min(xe, minX + Math.floor(-lcRow / lcDx + 1e-7));
    else if (lcRow < eps) continue;
    if (xs > xe) continue;
    let la = laRow + laDx * (xs - minX);
    let lb = lbRow + lbDx * (xs - minX);
    let row = y * W + xs;
    for (let x = xs; x <= xe; x++, row++, la += laDx, lb += lbDx) {
      const lc = 1 - la - lb;
      if (la < eps || lb < eps || lc < eps) continue;
      const iz = la * iza + lb * izb + lc * izc;
      const z = 1 / iz;
      if (!(z < zbuf[row])) continue;
      zbuf[row] = z;
      if (ids !== null) ids[row] = id;
      let px = 0;
      let py = 0;
      let pz = 0;
      if (needObj) {
        px = (la * oxa + lb * oxb + lc * oxc) * z;
        py = (la * oya + lb * oyb + lc * oyc) * z;
        pz = (la * oza + lb * ozb + lc * ozc) * z;
        if (coords !== null) {
          coords[3 * row] = px;
          coords[3 * row + 1] = py;
          coords[3 * row + 2] = pz;
        }
      }
      if (st === null || rgb === null) continue;
      let second = false;
      switch (st.tex) {
        case 1:
          second = (Math.floor(pz / st.period + 0.25) & 1) === 1;
          break;
        case 2:
          second = pz >= st.z0 && pz <= st.z1;
          break;
        case 3:
          second =
            ((Math.floor(px / st.period + 0.25) +
              Math.floor(py / st.period + 0.25) +
              Math.floor(pz / st.period + 0.25)) &
              1) ===
            1;
          break;
        default:
          break;
      }
      const light = st.amb + (1 - st.amb) * diffuse;
      let r = (second ? st.r2 : st.r1) * light;
      let g = (second ? st.g2 : st.g1) * light;
      let b = (second ? st.b2 : st.b1) * light;
      if (st.spec > 0.01) {
        // Blinn-Phong with the per-pixel view direction.
        let vx = -(x - cx) / fx;
        let vy = -(y - cy) / fy;
        let vz = -1;
        const vn = Math.sqrt(vx * vx + vy * vy + 1);
        vx /= vn;
        vy /= vn;
        vz /= vn;
        let hx = st.lx + vx;
        let hy = st.ly + vy;
        let hz = st.lz + vz;
        const hn = Math.sqrt(hx * hx + hy * hy + hz * hz) || 1;
        hx /= hn;
        hy /= hn;
        hz /= hn;
        const nh = nx * hx + ny * hy + nz * hz;
        // nh^shininess (shininess >= 20) is negligible below 0.8: skip the pow there.
        if (nh > 0.8) {
          const s = st.spec * Math.pow(nh, st.shin);
          r += 255 * s;
          g += 255 * s;
          b += 255 * s;
          if (flags !== null) flags[row] = s > 0.35 ? 1 : 0;
        } else if (flags !== null) flags[row] = 0;
      } else if (flags !== null) flags[row] = 0;
      const q = 3 * row;
      rgb[q] = r > 255 ? 255 : r;
      rgb[q + 1] = g > 255 ? 255 : g;
      rgb[q + 2] = b > 255 ? 255 : b;
    }
  }
}
