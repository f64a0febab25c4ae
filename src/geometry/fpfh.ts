import { GeometryInputError, requirePositive } from './errors';
import { KdTree } from './kdtree';
import { rowDotProducts } from './linalg';
import { pointCount, type PointCloud } from './pointcloud';

/** FPFH descriptor length (3 x 11 bins). */
export const FPFH_DIM = 33;

export interface FpfhOptions {
  /** Neighbourhood radius, metres (typically 5 x voxel size). */
  radiusM: number;
  /** Keep at most this many nearest neighbours within the radius (default 100). */
  maxNeighbors?: number;
  tree?: KdTree;
  /**
   * Describe only these points (e.g. the keypoints to be matched): the result has one row per index, in this
   * order. Every point's SPFH still enters its neighbours' descriptors. Default: all points.
   */
  indices?: ArrayLike<number>;
}

/**
 * Fast Point Feature Histograms (Rusu 2009), following Open3D's `compute_fpfh_feature`: SPFH of each point over
 * its radius neighbourhood (angles alpha, phi, theta of the Darboux frame, 11 bins each, normalised to 100),
 * then FPFH = SPFH(p) + weighted mean of neighbour SPFHs (weights 1/distance). Needs normals.
 * Returns Float32Array(n * 33) (or one row per `options.indices` entry); points without neighbours get all-zero
 * descriptors.
 */
export function computeFpfh(cloud: PointCloud, options: FpfhOptions): Float32Array {
  requirePositive('options.radiusM', options.radiusM);
  const D = 33; // FPFH_DIM as a local: a module export would be re-read in the hot loops
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
  // neighbourhoods in one flat list (CSR): point i's neighbours are nbIdx[nbOff[i] .. nbOff[i + 1])
  const nbOff = new Int32Array(n + 1);
  let nbIdx = new Int32Array(n * Math.min(maxNb + 1, 32));
  let nbDist = new Float32Array(nbIdx.length);
  const buf: number[] = [];
  const bufD: number[] = [];
  let c = 0;
  for (let i = 0; i < n; i++) {
    tree.radiusSearch(p[3 * i], p[3 * i + 1], p[3 * i + 2], options.radiusM, buf, bufD);
    const m = buf.length;
    // above maxNeighbors, keep an even subsample of the neighbourhood (histograms are normalised, so this only
    // trades a little variance for speed; the point itself is always kept)
    const stride = m > maxNb ? m / maxNb : 1;
    const cnt = m > maxNb ? maxNb : m;
    if (c + cnt + 1 > nbIdx.length) {
      const grown = new Int32Array(Math.max(2 * nbIdx.length, c + cnt + 1));
      grown.set(nbIdx);
      nbIdx = grown;
      const grownD = new Float32Array(grown.length);
      grownD.set(nbDist);
      nbDist = grownD;
    }
    let hasSelf = false;
    for (let a = 0; a < cnt; a++) {
      const b = Math.floor(a * stride);
      if (buf[b] === i) hasSelf = true;
      nbIdx[c] = buf[b];
      nbDist[c++] = Math.sqrt(bufD[b]);
    }
    if (!hasSelf) {
      nbIdx[c] = i;
      nbDist[c++] = 0;
    }
    nbOff[i + 1] = c;
  }
  const spfh = new Float32Array(n * D);
  const TWO_PI = 2 * Math.PI;
  for (let i = 0; i < n; i++) {
    const a0 = nbOff[i];
    const a1 = nbOff[i + 1];
    const px = p[3 * i],
      py = p[3 * i + 1],
      pz = p[3 * i + 2];
    const n1x0 = nr[3 * i],
      n1y0 = nr[3 * i + 1],
      n1z0 = nr[3 * i + 2];
    if (!(n1x0 - n1x0 === 0)) continue;
    const incr = 100 / Math.max(1, a1 - a0 - 1);
    for (let a = a0; a < a1; a++) {
      const j = nbIdx[a];
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
      spfh[i * D + h1] += incr;
      spfh[i * D + 11 + h2] += incr;
      spfh[i * D + 22 + h3] += incr;
    }
  }
  const sel = options.indices;
  const nOut = sel ? sel.length : n;
  const out = new Float32Array(nOut * D);
  const acc = new Float64Array(D);
  for (let r = 0; r < nOut; r++) {
    const i = sel ? sel[r] : r;
    if (!(i >= 0 && i < n && Number.isInteger(i))) {
      throw new GeometryInputError('options.indices', `entry ${r} = ${i} is not a point index in [0, ${n})`);
    }
    acc.fill(0);
    for (let a = nbOff[i], e = nbOff[i + 1]; a < e; a++) {
      const j = nbIdx[a];
      if (j === i || nbDist[a] === 0) continue;
      const wgt = 1 / nbDist[a];
      const o = j * D;
      for (let k = 0; k < D; k++) acc[k] += spfh[o + k] * wgt;
    }
    // each 11-bin histogram of the weighted neighbour mean is normalised to 100, then the point's own SPFH added
    const o = i * D;
    const oo = r * D;
    for (let h = 0; h < D; h += 11) {
      let s = 0;
      for (let k = h; k < h + 11; k++) s += acc[k];
      const scale = s !== 0 ? 100 / s : 0;
      for (let k = h; k < h + 11; k++) out[oo + k] = acc[k] * scale + spfh[o + k];
    }
  }
  return out;
}

/** Putative correspondences: pair i links source point src[i] to target point dst[i]. */
export interface Correspondences {
  src: Uint32Array;
  dst: Uint32Array;
}

/** Squared L2 norms of the rows (dim values each). */
function rowNorms2(f: Float32Array, dim: number): Float64Array {
  const n = f.length / dim;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = i * dim, e = k + dim; k < e; k++) s += f[k] * f[k];
    out[i] = s;
  }
  return out;
}

/**
 * Exact nearest rows in both directions from one pass over all pairs: ab[i] = the row of b nearest to a[i],
 * ba[j] = the row of a nearest to b[j] (-1 when the other side is empty). Distances are |a|^2 + |b|^2 - 2 a.b
 * (l2) or -a.b (cosine, rows already normalised), from {@link rowDotProducts}.
 */
export function nearestRowsBothWays(
  a: Float32Array,
  b: Float32Array,
  dim: number,
  cosine = false,
): { ab: Int32Array; ba: Int32Array } {
  const na = a.length / dim;
  const nb = b.length / dim;
  const ab = new Int32Array(na).fill(-1);
  const ba = new Int32Array(nb).fill(-1);
  const bestA = new Float64Array(na).fill(Infinity);
  const bestB = new Float64Array(nb).fill(Infinity);
  const a2 = cosine ? new Float64Array(na) : rowNorms2(a, dim);
  const b2 = cosine ? new Float64Array(nb) : rowNorms2(b, dim);
  const g = cosine ? 1 : 2;
  const dots = rowDotProducts(a, b, dim);
  bestRowsBothWays(dots, a2, b2, g, ab, ba, bestA, bestB);
  return { ab, ba };
}

/**
 * The pair loop of `nearestRowsBothWays` (its own function: compiled on-stack inside the caller, it deoptimised
 * the caller on most calls): d = |a|^2 + |b|^2 - g a.b, nearest row of b per row of a and vice versa.
 */
function bestRowsBothWays(
  dots: Float32Array | Float64Array,
  a2: Float64Array,
  b2: Float64Array,
  g: number,
  ab: Int32Array,
  ba: Int32Array,
  bestA: Float64Array,
  bestB: Float64Array,
): void {
  const na = ab.length;
  const nb = ba.length;
  for (let i = 0; i < na; i++) {
    const o = i * nb;
    for (let j = 0; j < nb; j++) {
      const d = a2[i] + b2[j] - g * dots[o + j];
      if (d < bestA[i]) {
        bestA[i] = d;
        ab[i] = j;
      }
      if (d < bestB[j]) {
        bestB[j] = d;
        ba[j] = i;
      }
    }
  }
}

export interface MatchOptions {
  /** Keep only mutual nearest neighbours (default true). */
  mutual?: boolean;
  /** 'l2' (default, for FPFH) or 'cosine' (rows are L2-normalised first, for learned features). */
  metric?: 'l2' | 'cosine';
}

/**
 * Nearest-neighbour matching of descriptor rows (exact, brute force over all pairs; fine for down-sampled
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
  const nn = nearestRowsBothWays(a, b, dim, cosine);
  const ab = nn.ab;
  const mutual = options.mutual ?? true;
  const ba = mutual ? nn.ba : null;
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
