/**
 * Report plots as pure SVG string builders (no DOM, no dependencies): recall-vs-threshold line plots and
 * error histograms. Output is standalone SVG 1.1 that browsers render inline in HTML.
 */
import { EvalInputError } from '../metrics/errors';

/** Escapes text for XML/HTML content and attribute values. */
export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const fmt = (v: number) =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
const r2 = (v: number) => Math.round(v * 100) / 100;

export interface PlotFrame {
  width?: number;
  height?: number;
  title: string;
  xLabel: string;
  yLabel?: string;
}

interface Box {
  left: number;
  top: number;
  w: number;
  h: number;
}

function frame(
  p: PlotFrame,
  xMin: number,
  xMax: number,
  yMin: number,
  yMax: number,
  body: (b: Box) => string,
): string {
  const width = p.width ?? 480;
  const height = p.height ?? 300;
  const b: Box = { left: 56, top: 30, w: width - 56 - 16, h: height - 30 - 46 };
  const ticks = (lo: number, hi: number) => Array.from({ length: 6 }, (_, i) => lo + ((hi - lo) * i) / 5);
  const xs = (v: number) => b.left + ((v - xMin) / (xMax - xMin || 1)) * b.w;
  const ys = (v: number) => b.top + b.h - ((v - yMin) / (yMax - yMin || 1)) * b.h;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(p.title)}</text>`,
  ];
  for (const t of ticks(xMin, xMax)) {
    const x = r2(xs(t));
    parts.push(`<line x1="${x}" y1="${b.top}" x2="${x}" y2="${b.top + b.h}" stroke="#eee"/>`);
    parts.push(`<text x="${x}" y="${b.top + b.h + 14}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of ticks(yMin, yMax)) {
    const y = r2(ys(t));
    parts.push(`<line x1="${b.left}" y1="${y}" x2="${b.left + b.w}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${b.left - 6}" y="${y + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${b.left}" y="${b.top}" width="${b.w}" height="${b.h}" fill="none" stroke="#333"/>`);
  parts.push(
    `<text x="${b.left + b.w / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(p.xLabel)}</text>`,
  );
  if (p.yLabel) {
    parts.push(
      `<text x="14" y="${b.top + b.h / 2}" text-anchor="middle" transform="rotate(-90 14 ${b.top + b.h / 2})">${escapeXml(p.yLabel)}</text>`,
    );
  }
  parts.push(body(b));
  parts.push('</svg>');
  return parts.join('\n');
}

export interface LineSeries {
  name: string;
  x: readonly number[];
  y: readonly number[];
}

/**
 * Recall-vs-threshold line plot: one polyline (with point markers) per series, y fixed to [0, 1], x spanning
 * all series. Each polyline carries data-series="<name>" for tests and styling.
 */
export function recallCurveSvg(p: PlotFrame & { series: readonly LineSeries[] }): string {
  if (p.series.length === 0) throw new EvalInputError('series', 'is empty; pass at least one curve');
  p.series.forEach((s, i) => {
    if (s.x.length !== s.y.length || s.x.length === 0) {
      throw new EvalInputError(
        `series[${i}]`,
        `x (${s.x.length}) and y (${s.y.length}) must be non-empty and equal length`,
      );
    }
  });
  const allX = p.series.flatMap((s) => [...s.x]);
  const xMin = Math.min(...allX);
  const xMax = Math.max(...allX);
  return frame({ yLabel: 'recall', ...p }, xMin, xMax, 0, 1, (b) => {
    const xs = (v: number) => r2(b.left + ((v - xMin) / (xMax - xMin || 1)) * b.w);
    const ys = (v: number) => r2(b.top + b.h - Math.min(1, Math.max(0, v)) * b.h);
    return p.series
      .map((s, i) => {
        const c = PALETTE[i % PALETTE.length];
        const pts = s.x.map((x, k) => `${xs(x)},${ys(s.y[k])}`).join(' ');
        const marks = s.x
          .map((x, k) => `<circle cx="${xs(x)}" cy="${ys(s.y[k])}" r="2.5" fill="${c}"/>`)
          .join('');
        const ly = b.top + 14 + 14 * i;
        return (
          `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>${marks}` +
          `<rect x="${b.left + 8}" y="${ly - 8}" width="10" height="10" fill="${c}"/>` +
          `<text x="${b.left + 22}" y="${ly + 1}">${escapeXml(s.name)}</text>`
        );
      })
      .join('\n');
  });
}

/** Bin counts of `values` over [lo, hi] in `bins` equal bins; values outside are clamped into the end bins. */
export function histogramCounts(values: readonly number[], bins: number, lo: number, hi: number): number[] {
  if (!Number.isInteger(bins) || bins < 1)
    throw new EvalInputError('bins', `must be an integer >= 1, got ${bins}`);
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const k = w > 0 ? Math.floor((v - lo) / w) : 0;
    counts[Math.min(bins - 1, Math.max(0, k))]++;
  }
  return counts;
}

/**
 * Error histogram: `bins` bars over [range[0], range[1]] (default: min..max of the finite values); each bar
 * carries data-count. Non-finite values are skipped.
 */
export function histogramSvg(
  p: PlotFrame & { values: readonly number[]; bins?: number; range?: [number, number] },
): string {
  const bins = p.bins ?? 20;
  const finite = p.values.filter((v) => Number.isFinite(v));
  const lo = p.range?.[0] ?? (finite.length ? Math.min(...finite) : 0);
  let hi = p.range?.[1] ?? (finite.length ? Math.max(...finite) : 1);
  if (hi <= lo) hi = lo + 1;
  const counts = histogramCounts(finite, bins, lo, hi);
  const cMax = Math.max(1, ...counts);
  return frame({ yLabel: 'count', ...p }, lo, hi, 0, cMax, (b) =>
    counts
      .map((c, k) => {
        const bw = b.w / bins;
        const h = (c / cMax) * b.h;
        return `<rect data-count="${c}" x="${r2(b.left + k * bw + 0.5)}" y="${r2(b.top + b.h - h)}" width="${r2(Math.max(0, bw - 1))}" height="${r2(h)}" fill="#1f77b4"/>`;
      })
      .join('\n'),
  );
}
