/** Latency distribution helpers shared by the benchmarks. */

export interface Quantiles {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank quantile of an ascending array (q in [0, 1]). */
function rank(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** n, mean, p50, p95, p99 and max of a sample (nearest rank), rounded to 0.01 ms; zeros for an empty sample. */
export function quantiles(xs: number[]): Quantiles {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    mean: r(s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0),
    p50: r(rank(s, 0.5)),
    p95: r(rank(s, 0.95)),
    p99: r(rank(s, 0.99)),
    max: r(s.length ? s[s.length - 1] : 0),
  };
}
