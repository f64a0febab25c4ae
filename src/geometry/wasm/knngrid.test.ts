import { spawnSync } from 'child_process';
import * as path from 'path';
import { KdTree } from '../kdtree';
import { SeededRng } from '../rng';

/** The grid part of a batch (KdTree's private knnGrid), to see what the WebAssembly loop did itself. */
type GridResult = { indices: Int32Array; distances2: Float32Array; done: Uint8Array } | null;
const knnGrid = (tree: KdTree, queries: Float32Array, k: number): GridResult =>
  (tree as unknown as { knnGrid(q: Float32Array, k: number): GridResult }).knnGrid(queries, k);

/** Rows that differ from per-query `knn` (distance at float32, and each index at its distance). */
function mismatches(
  tree: KdTree,
  pts: Float32Array,
  queries: Float32Array,
  k: number,
  rows: GridResult,
): number {
  const ti = new Int32Array(k);
  const td = new Float64Array(k);
  let bad = 0;
  for (let q = 0; q < queries.length / 3; q++) {
    if (!rows!.done[q]) continue;
    tree.knn(queries[3 * q], queries[3 * q + 1], queries[3 * q + 2], k, ti, td);
    for (let j = 0; j < k; j++) {
      const i = rows!.indices[q * k + j];
      const dx = pts[3 * i] - queries[3 * q];
      const dy = pts[3 * i + 1] - queries[3 * q + 1];
      const dz = pts[3 * i + 2] - queries[3 * q + 2];
      const own = Math.fround(dx * dx + dy * dy + dz * dz);
      if (rows!.distances2[q * k + j] !== Math.fround(td[j]) || own !== rows!.distances2[q * k + j]) bad++;
    }
  }
  return bad;
}

describe('batch kNN grid loop (WebAssembly, wasm/knngrid.wat)', () => {
  it("every committed *.wasm.ts module (knngrid, preprocess) is its .wat file's assembly (npm run build:wasm)", () => {
    const r = spawnSync(process.execPath, [path.join('scripts', 'build-wasm.js'), '--check'], {
      cwd: path.join(__dirname, '..', '..', '..'),
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('answers nearly all of a uniform batch itself, equal to per-query knn, for k = 2, 4 and 40', () => {
    const rng = new SeededRng(5);
    const pts = new Float32Array(3 * 8000).map(() => rng.next());
    const tree = new KdTree(pts);
    for (const k of [2, 4, 40]) {
      const rows = knnGrid(tree, pts, k);
      expect(rows).not.toBeNull();
      const done = rows!.done.reduce((a, b) => a + b, 0);
      expect(done).toBeGreaterThan(0.9 * 8000);
      expect(mismatches(tree, pts, pts, k, rows)).toBe(0);
      // rows it left to the tree are -1 / Infinity until knnSearch fills them
      const q = rows!.done.indexOf(0);
      if (q >= 0) expect(Array.from(rows!.indices.subarray(q * k, q * k + k))).toEqual(new Array(k).fill(-1));
    }
  });

  it('a batch after a larger one (its memory reused) gives the rows it gives after a smaller one', () => {
    const rng = new SeededRng(7);
    const big = new Float32Array(3 * 9000).map(() => rng.next());
    const small = new Float32Array(3 * 3000).map(() => rng.next());
    const tBig = new KdTree(big);
    const tSmall = new KdTree(small);
    const tiny = new KdTree(small.subarray(0, 3 * 2500));
    knnGrid(tiny, small.subarray(0, 3 * 2500), 5); // memory sized for a small batch
    const fresh = knnGrid(tSmall, small, 5)!;
    knnGrid(tBig, big, 5);
    const reused = knnGrid(tSmall, small, 5)!;
    expect(Array.from(reused.done)).toEqual(Array.from(fresh.done));
    expect(Array.from(reused.indices)).toEqual(Array.from(fresh.indices));
    expect(Array.from(reused.distances2)).toEqual(Array.from(fresh.distances2));
    expect(mismatches(tSmall, small, small, 5, reused)).toBe(0);
  });

  it('exact ties (a lattice) give the tied distances, and blocks too dense to scan are left to the tree', () => {
    const rng = new SeededRng(6);
    const lattice = new Float32Array(3 * 6000).map(() => Math.floor(rng.next() * 14) / 14);
    const t1 = new KdTree(lattice);
    const r1 = knnGrid(t1, lattice, 6);
    expect(r1!.done.reduce((a, b) => a + b, 0)).toBeGreaterThan(3000);
    expect(mismatches(t1, lattice, lattice, 6, r1)).toBe(0);
    // 4000 points in one tiny ball plus 4000 spread out: the ball's cells hold far more than a scan pays for
    const mixed = new Float32Array(3 * 8000).map((_, i) =>
      i < 12000 ? 0.5 + 1e-4 * rng.next() : rng.next(),
    );
    const t2 = new KdTree(mixed);
    const r2 = knnGrid(t2, mixed, 8);
    let denseDone = 0;
    for (let q = 0; q < 4000; q++) denseDone += r2!.done[q];
    expect(denseDone).toBe(0);
    expect(mismatches(t2, mixed, mixed, 8, r2)).toBe(0);
    // knnSearch still answers them all, exactly
    const all = t2.knnSearch(mixed, 8);
    const ti = new Int32Array(8);
    const td = new Float64Array(8);
    let bad = 0;
    for (let q = 0; q < 8000; q += 7) {
      t2.knn(mixed[3 * q], mixed[3 * q + 1], mixed[3 * q + 2], 8, ti, td);
      for (let j = 0; j < 8; j++) if (all.distances2[q * 8 + j] !== Math.fround(td[j])) bad++;
    }
    expect(bad).toBe(0);
  });
});
