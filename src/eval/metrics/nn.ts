/**
 * Minimal exact nearest-neighbour search over a fixed point set with a uniform grid hash, used by ADD-S
 * (bop_toolkit `adi` uses scipy cKDTree). Kept deliberately small; switch to src/geometry's KdTree once it
 * is available (same contract: exact Euclidean nearest distance).
 */

/** Uniform-grid index over interleaved xyz points for exact nearest-neighbour distance queries. */
export interface PointGrid {
  readonly points: ArrayLike<number>;
  readonly min: [number, number, number];
  readonly cellM: number;
  readonly dims: [number, number, number];
  /** cellStart[c]..cellStart[c+1] index into `order` for cell c (CSR layout). */
  readonly cellStart: Int32Array;
  readonly order: Int32Array;
}

/**
 * Builds a uniform grid over `points` (interleaved xyz) with about `pointsPerCell` points per occupied
 * cell on a 2D-surface-like sampling. Cost O(n).
 */
export function buildPointGrid(points: ArrayLike<number>, pointsPerCell = 4): PointGrid {
  const n = points.length / 3;
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = points[3 * i + k];
      if (v < min[k]) min[k] = v;
      if (v > max[k]) max[k] = v;
    }
  }
  const ext = [max[0] - min[0], max[1] - min[1], max[2] - min[2]];
  const maxExt = Math.max(ext[0], ext[1], ext[2], 1e-9);
  // Model points lie on a surface: ~ (cells per axis)^2 occupied cells.
  const perAxis = Math.max(1, Math.min(128, Math.round(Math.sqrt(n / pointsPerCell))));
  const cellM = maxExt / perAxis;
  const dims: [number, number, number] = [
    Math.max(1, Math.floor(ext[0] / cellM) + 1),
    Math.max(1, Math.floor(ext[1] / cellM) + 1),
    Math.max(1, Math.floor(ext[2] / cellM) + 1),
  ];
  const nCells = dims[0] * dims[1] * dims[2];
  const cellOf = new Int32Array(n);
  const counts = new Int32Array(nCells + 1);
  for (let i = 0; i < n; i++) {
    const cx = Math.min(dims[0] - 1, Math.floor((points[3 * i] - min[0]) / cellM));
    const cy = Math.min(dims[1] - 1, Math.floor((points[3 * i + 1] - min[1]) / cellM));
    const cz = Math.min(dims[2] - 1, Math.floor((points[3 * i + 2] - min[2]) / cellM));
    const c = (cz * dims[1] + cy) * dims[0] + cx;
    cellOf[i] = c;
    counts[c + 1]++;
  }
  for (let c = 0; c < nCells; c++) counts[c + 1] += counts[c];
  const fill = counts.slice(0, nCells);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[fill[cellOf[i]]++] = i;
  return { points, min, cellM, dims, cellStart: counts, order };
}

/**
 * Exact distance from (x, y, z) to the nearest indexed point. Visits cell shells in growing Chebyshev
 * radius r around the query cell and stops once the best distance is <= r * cellM (no unvisited point
 * can be closer).
 */
export function nearestDistance(grid: PointGrid, x: number, y: number, z: number): number {
  const { points, min, cellM, dims, cellStart, order } = grid;
  const qx = Math.floor((x - min[0]) / cellM);
  const qy = Math.floor((y - min[1]) / cellM);
  const qz = Math.floor((z - min[2]) / cellM);
  // Chebyshev distance from the query cell to the grid's cell range: shells below it are empty.
  const dOut = Math.max(0, -qx, qx - (dims[0] - 1), -qy, qy - (dims[1] - 1), -qz, qz - (dims[2] - 1));
  const rMax = dOut + Math.max(dims[0], dims[1], dims[2]);
  let best2 = Infinity;
  for (let r = dOut; r <= rMax; r++) {
    const z0 = Math.max(0, qz - r);
    const z1 = Math.min(dims[2] - 1, qz + r);
    const y0 = Math.max(0, qy - r);
    const y1 = Math.min(dims[1] - 1, qy + r);
    for (let cz = z0; cz <= z1; cz++) {
      const onZ = cz === qz - r || cz === qz + r;
      for (let cy = y0; cy <= y1; cy++) {
        const onY = onZ || cy === qy - r || cy === qy + r;
        // Off the shell faces in y/z only the two x extremes belong to the shell.
        const step = onY ? 1 : 2 * r;
        for (let cx = qx - r; cx <= qx + r; cx += step === 0 ? 1 : step) {
          if (cx < 0 || cx >= dims[0]) continue;
          const c = (cz * dims[1] + cy) * dims[0] + cx;
          for (let k = cellStart[c]; k < cellStart[c + 1]; k++) {
            const i = order[k];
            const dx = points[3 * i] - x;
            const dy = points[3 * i + 1] - y;
            const dz = points[3 * i + 2] - z;
            const d2 = dx * dx + dy * dy + dz * dz;
            if (d2 < best2) best2 = d2;
          }
        }
      }
    }
    const bound = r * cellM;
    if (best2 <= bound * bound) break;
  }
  return Math.sqrt(best2);
}
