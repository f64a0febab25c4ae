import { GeometryInputError, requirePositive } from './errors';
import { KdTree } from './kdtree';
import { pointCount, type PointCloud } from './pointcloud';

/** FPFH descriptor length (3 x 11 bins). */
export const FPFH_DIM = 33;

export interface FpfhOptions {
  /** Neighbourhood radius, metres (typically 5 x voxel size). */
  radiusM: number;
  /** Keep at most this many nearest neighbours within the radius (default 100). */
  maxNeighbors?: number;
  tree?: KdTree;
}

/**
 * Fast Point Feature Histograms (Rusu 2009), following Open3D's `compute_fpfh_feature`: SPFH of each point over
 * its radius neighbourhood (angles alpha, phi, theta of the Darboux frame, 11 bins each, normalised to 100),
 * then FPFH = SPFH(p) + weighted mean of neighbour SPFHs (weights 1/distance). Needs normals.
 * Returns Float32Array(n * 33); points without neighbours get all-zero descriptors.
 */
export function computeFpfh(cloud: PointCloud, options: FpfhOptions): Float32Array {
  requirePositive('options.radiusM', options.radiusM);
  const n = pointCount(cloud);
  const nr = cloud.normals;
  if (!nr || nr.length !== 3 * n) {
    throw new GeometryInputError(
      'cloud.normals',
      'FPFH needs one normal per point; call estimateNormals first',
    );
  }
  const p = cloud.points;
  const tree = options.tree ?? new KdTree(p);
  const maxNb = options.maxNeighbors ?? 100;
  const nbIdx: Int32Array[] = new Array(n);
  const nbDist: Float32Array[] = new Array(n);
  const buf: number[] = [];
  const bufD: number[] = [];
  for (let i = 0; i < n; i++) {
    tree.radiusSearch(p[3 * i], p[3 * i + 1], p[3 * i + 2], options.radiusM, buf, bufD);
    const m = buf.length;
    // above maxNeighbors, keep an even subsample of the neighbourhood (histograms are normalised, so this only
    // trades a little variance for speed; the point itself is always kept)
    const stride = m > maxNb ? m / maxNb : 1;
    const cnt = m > maxNb ? maxNb : m;
    const ii = new Int32Array(cnt + 1);
    const dd = new Float32Array(cnt + 1);
    let c = 0;
    let hasSelf = false;
    for (let a = 0; a < cnt; a++) {
      const b = Math.floor(a * stride);
      if (buf[b] === i) hasSelf = true;
      ii[c] = buf[b];
      dd[c++] = Math.sqrt(bufD[b]);
    }
    if (!hasSelf) {
      ii[c] = i;
      dd[c++] = 0;
    }
    nbIdx[i] = ii.subarray(0, c);
    nbDist[i] = dd.subarray(0, c);
  }
  const spfh = new Float32Array(n * FPFH_DIM);
  const TWO_PI = 2 * Math.PI;
  for (let i = 0; i < n; i++) {
    const nb = nbIdx[i];
    const px = p[3 * i],
      py = p[3 * i + 1],
      pz = p[3 * i + 2];
    const n1x0 = nr[3 * i],
      n1y0 = nr[3 * i + 1],
      n1z0 = nr[3 * i + 2];
    if (!(n1x0 - n1x0 === 0)) continue;
    const incr = 100 / Math.max(1, nb.length - 1);
    for (let a = 0; a < nb.length; a++) {
      const j = nb[a];
      if (j === i) continue;
      let dx = p[3 * j] - px;
      let dy = p[3 * j + 1] - py;
      let dz = p[3 * j + 2] - pz;
      const f4 = Math.sqrt(dx * dx + dy * dy + dz * dz);
      if (f4 === 0) continue;
      const n2x0 = nr[3 * j],
        n2y0 = nr[3 * j + 1],
        n2z0 = nr[3 * j + 2];
      if (!(n2x0 - n2x0 === 0)) continue;
      let n1x = n1x0,
        n1y = n1y0,
        n1z = n1z0,
        n2x = n2x0,
        n2y = n2y0,
        n2z = n2z0;
      const angle1 = (n1x * dx + n1y * dy + n1z * dz) / f4;
      const angle2 = (n2x * dx + n2y * dy + n2z * dz) / f4;
      let f3: number;
      // acos(|a1|) > acos(|a2|)  <=>  |a1| < |a2|
      if (Math.abs(angle1) < Math.abs(angle2)) {
        n1x = n2x0;
        n1y = n2y0;
        n1z = n2z0;
        n2x = n1x0;
        n2y = n1y0;
        n2z = n1z0;
        dx = -dx;
        dy = -dy;
        dz = -dz;
        f3 = -angle2;
      } else {
        f3 = angle1;
      }
      // v = dp x n1
      let vx = dy * n1z - dz * n1y;
      let vy = dz * n1x - dx * n1z;
      let vz = dx * n1y - dy * n1x;
      const vn = Math.sqrt(vx * vx + vy * vy + vz * vz);
      if (vn === 0) continue;
      vx /= vn;
      vy /= vn;
      vz /= vn;
      // w = n1 x v
      const wx = n1y * vz - n1z * vy;
      const wy = n1z * vx - n1x * vz;
      const wz = n1x * vy - n1y * vx;
      const f2 = vx * n2x + vy * n2y + vz * n2z;
      const f1 = Math.atan2(wx * n2x + wy * n2y + wz * n2z, n1x * n2x + n1y * n2y + n1z * n2z);
      let h1 = Math.floor((11 * (f1 + Math.PI)) / TWO_PI);
      let h2 = Math.floor((11 * (f2 + 1)) / 2);
      let h3 = Math.floor((11 * (f3 + 1)) / 2);
      h1 = h1 < 0 ? 0 : h1 > 10 ? 10 : h1;
      h2 = h2 < 0 ? 0 : h2 > 10 ? 10 : h2;
      h3 = h3 < 0 ? 0 : h3 > 10 ? 10 : h3;
      spfh[i * FPFH_DIM + h1] += incr;
      spfh[i * FPFH_DIM + 11 + h2] += incr;
      spfh[i * FPFH_DIM + 22 + h3] += incr;
    }
  }
  const out = new Float32Array(n * FPFH_DIM);
  const acc = new Float64Array(FPFH_DIM);
  for (let i = 0; i < n; i++) {
    const nb = nbIdx[i];
    const nd = nbDist[i];
    acc.fill(0);
    const sum = [0, 0, 0];
    for (let a = 0; a < nb.length; a++) {
      const j = nb[a];
      if (j === i || nd[a] === 0) continue;
      const wgt = 1 / nd[a];
      for (let k = 0; k < FPFH_DIM; k++) {
        const v = spfh[j * FPFH_DIM + k] * wgt;
        acc[k] += v;
        sum[(k / 11) | 0] += v;
      }
    }
    for (let k = 0; k < FPFH_DIM; k++) {
      const s = sum[(k / 11) | 0];
      out[i * FPFH_DIM + k] = (s !== 0 ? (acc[k] * 100) / s : 0) + spfh[i * FPFH_DIM + k];
    }
  }
  return out;
}

/** Putative correspondences: pair i links source point src[i] to target point dst[i]. */
export interface Correspondences {
  src: Uint32Array;
  dst: Uint32Array;
}

function nearestRows(a: Float32Array, b: Float32Array, dim: number, cosine: boolean): Int32Array {
  const na = a.length / dim;
  const nb = b.length / dim;
  const out = new Int32Array(na).fill(-1);
  for (let i = 0; i < na; i++) {
    let best = Infinity;
    let bi = -1;
    const ao = i * dim;
    for (let j = 0; j < nb; j++) {
      const bo = j * dim;
      let d = 0;
      if (cosine) {
        for (let k = 0; k < dim; k++) d -= a[ao + k] * b[bo + k];
      } else {
        for (let k = 0; k < dim && d < best; k++) {
          const t = a[ao + k] - b[bo + k];
          d += t * t;
        }
      }
      if (d < best) {
        best = d;
        bi = j;
      }
    }
    out[i] = bi;
  }
  return out;
}

export interface MatchOptions {
  /** Keep only mutual nearest neighbours (default true). */
  mutual?: boolean;
  /** 'l2' (default, for FPFH) or 'cosine' (rows are L2-normalised first, for learned features). */
  metric?: 'l2' | 'cosine';
}

/**
 * Nearest-neighbour matching of descriptor rows (exact, brute force with early exit; fine for down-sampled
 * clouds of a few thousand points). Mutual mode keeps pairs that are each other's nearest neighbour.
 */
export function matchFeatures(
  featSrc: Float32Array,
  featDst: Float32Array,
  dim: number,
  options: MatchOptions = {},
): Correspondences {
  if (featSrc.length % dim !== 0 || featDst.length % dim !== 0) {
    throw new GeometryInputError('featSrc/featDst', `lengths must be multiples of dim ${dim}`);
  }
  const cosine = options.metric === 'cosine';
  const norm = (f: Float32Array): Float32Array => {
    if (!cosine) return f;
    const o = new Float32Array(f.length);
    for (let i = 0; i < f.length; i += dim) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += f[i + k] * f[i + k];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let k = 0; k < dim; k++) o[i + k] = f[i + k] * inv;
    }
    return o;
  };
  const a = norm(featSrc);
  const b = norm(featDst);
  const ab = nearestRows(a, b, dim, cosine);
  const mutual = options.mutual ?? true;
  const ba = mutual ? nearestRows(b, a, dim, cosine) : null;
  const s: number[] = [];
  const d: number[] = [];
  for (let i = 0; i < ab.length; i++) {
    const j = ab[i];
    if (j < 0) continue;
    if (ba && ba[j] !== i) continue;
    s.push(i);
    d.push(j);
  }
  return { src: Uint32Array.from(s), dst: Uint32Array.from(d) };
}
