/**
 * Training report: report.json (loss curves, eval before/after, parity, provenance) and a self-contained
 * report.html with SVG loss curves, written into the run directory.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './dataset';

/** One optimizer step of metrics.jsonl (written by declip_torch.train). */
export interface StepRecord {
  step: number;
  loss: number;
  terms: Record<string, number>;
  lr: number;
  grad_norm?: number;
}

export interface EvalSide {
  frames: number;
  size: number;
  mask_miou?: number;
  corr_agreement?: number;
}

export interface EvalResult {
  split: string;
  reference: string | null;
  before: EvalSide;
  after: EvalSide;
}

export interface TrainingReport {
  run: string;
  created: string;
  steps: number;
  curves: { step: number[]; loss: number[]; lr: number[]; terms: Record<string, number[]> };
  first?: StepRecord;
  last?: StepRecord;
  eval?: EvalResult;
  package?: { dir: string; parity?: unknown };
  training?: Record<string, unknown>;
  wallS?: number;
}

/** Read metrics.jsonl (one StepRecord per line; a torn last line is ignored). */
export function readMetrics(runDir: string): StepRecord[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  const out: StepRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as StepRecord);
    } catch {
      break;
    }
  }
  return out;
}

/** Keep at most `max` points (even stride, always the last). */
export function downsample<T>(xs: T[], max = 400): T[] {
  if (xs.length <= max) return xs;
  const stride = xs.length / max;
  const out: T[] = [];
  for (let i = 0; i < max - 1; i++) out.push(xs[Math.floor(i * stride)]);
  out.push(xs[xs.length - 1]);
  return out;
}

/** Moving average with a trailing window (smooths noisy per-batch losses for the plot). */
export function smooth(ys: number[], window: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < ys.length; i++) {
    s += ys[i];
    if (i >= window) s -= ys[i - window];
    out.push(s / Math.min(i + 1, window));
  }
  return out;
}

export function buildReport(runDir: string, extra: Partial<TrainingReport> = {}): TrainingReport {
  const recs = downsample(readMetrics(runDir));
  const termNames = [...new Set(recs.flatMap((r) => Object.keys(r.terms)))];
  const evalFile = path.join(runDir, 'eval.json');
  const summaryFile = path.join(runDir, 'summary.json');
  const summary = fs.existsSync(summaryFile)
    ? (JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as Record<string, unknown>)
    : undefined;
  return {
    run: path.resolve(runDir),
    created: new Date().toISOString(),
    steps: recs.length ? recs[recs.length - 1].step : 0,
    curves: {
      step: recs.map((r) => r.step),
      loss: recs.map((r) => r.loss),
      lr: recs.map((r) => r.lr),
      terms: Object.fromEntries(termNames.map((t) => [t, recs.map((r) => r.terms[t] ?? NaN)])),
    },
    first: recs[0],
    last: recs[recs.length - 1],
    eval: fs.existsSync(evalFile) ? (JSON.parse(fs.readFileSync(evalFile, 'utf8')) as EvalResult) : undefined,
    training: summary?.training as Record<string, unknown> | undefined,
    wallS: summary?.wall_s as number | undefined,
    ...extra,
  };
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function tick(v: number): string {
  return v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(1) : v.toPrecision(3);
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** An SVG line chart of several series over x (raw as thin lines, smoothed as thick lines). */
export function lineChartSvg(
  title: string,
  x: number[],
  series: Record<string, number[]>,
  opts: { width?: number; height?: number; smoothWindow?: number } = {},
): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 260;
  const m = { l: 56, r: 12, t: 24, b: 34 };
  const vals = Object.values(series)
    .flat()
    .filter((v) => Number.isFinite(v));
  if (!x.length || !vals.length) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="10" y="20">${esc(title)}: no data</text></svg>`;
  }
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (hi - lo < 1e-12) {
    hi += 0.5;
    lo -= 0.5;
  }
  const x0 = x[0];
  const x1 = x[x.length - 1] === x0 ? x0 + 1 : x[x.length - 1];
  const px = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (v: number) => H - m.b - ((v - lo) / (hi - lo)) * (H - m.t - m.b);
  const pathOf = (ys: number[]) =>
    ys
      .map((y, i) => (Number.isFinite(y) ? `${px(x[i]).toFixed(1)},${py(y).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${m.l}" y="15" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    parts.push(
      `<text x="${m.l - 4}" y="${py(v) + 4}" text-anchor="end">${tick(v)}</text>`,
      `<line x1="${m.l}" x2="${W - m.r}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
    );
  }
  parts.push(
    `<text x="${m.l}" y="${H - 8}">step ${x0}</text>`,
    `<text x="${W - m.r}" y="${H - 8}" text-anchor="end">step ${x[x.length - 1]}</text>`,
  );
  const win = opts.smoothWindow ?? Math.max(1, Math.round(x.length / 20));
  Object.entries(series).forEach(([name, ys], i) => {
    const c = COLOURS[i % COLOURS.length];
    parts.push(`<polyline fill="none" stroke="${c}" stroke-opacity="0.3" points="${pathOf(ys)}"/>`);
    if (win > 1) {
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pathOf(smooth(ys, win))}"/>`,
      );
    }
    parts.push(
      `<rect x="${m.l + 8}" y="${m.t + 8 + 14 * i}" width="10" height="3" fill="${c}"/>`,
      `<text x="${m.l + 22}" y="${m.t + 12 + 14 * i}">${esc(name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function fmt(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : '-';
}

export function reportHtml(r: TrainingReport): string {
  const c = r.curves;
  const ev = r.eval;
  const evalRows = ev
    ? (['mask_miou', 'corr_agreement'] as const)
        .filter((k) => ev.before[k] !== undefined || ev.after[k] !== undefined)
        .map(
          (k) =>
            `<tr><td>${k === 'mask_miou' ? 'mask mIoU (prototype assignment)' : `feature-correlation agreement with ${esc(String(ev.reference))}`}</td>` +
            `<td>${fmt(ev.before[k])}</td><td>${fmt(ev.after[k])}</td></tr>`,
        )
        .join('\n')
    : '';
  const t = r.training ?? {};
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>declip train: ${esc(path.basename(r.run))}</title>
<style>body{font-family:sans-serif;max-width:980px;margin:1em auto;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}code{background:#f4f4f4}</style></head><body>
<h1>Training report: ${esc(path.basename(r.run))}</h1>
<p>Run <code>${esc(r.run)}</code>, ${r.steps} steps${r.wallS ? `, ${r.wallS < 120 ? `${r.wallS.toFixed(0)} s` : `${(r.wallS / 60).toFixed(1)} min`}` : ''}.
Backbone <b>${esc(String(t.backbone ?? '?'))}</b> (${esc(String(t.arch ?? '?'))}), base ${esc(String(t.base ?? '?'))},
teachers ${esc(((t.teachers as string[]) ?? []).join(', ') || 'none')}, data <code>${esc(String(t.data ?? '?'))}</code>
(${esc(String(t.train_frames ?? '?'))} train / ${esc(String(t.val_frames ?? '?'))} held-out frames).</p>
<p>These numbers measure this run on this data; they are not DeCLIP's published results.</p>
${lineChartSvg('total loss', c.step, { loss: c.loss })}
${lineChartSvg('loss terms (unweighted)', c.step, c.terms)}
${lineChartSvg('learning rate', c.step, { lr: c.lr }, { smoothWindow: 1 })}
<h2>Dense features before / after (${esc(ev?.split ?? 'no evaluation')})</h2>
${ev ? `<table><tr><th>metric</th><th>before</th><th>after</th></tr>\n${evalRows}</table>` : '<p>not evaluated</p>'}
<h2>Loss terms, first / last step</h2>
<table><tr><th>term</th><th>first</th><th>last</th></tr>
${Object.keys(c.terms)
  .map(
    (k) => `<tr><td>${esc(k)}</td><td>${fmt(r.first?.terms[k])}</td><td>${fmt(r.last?.terms[k])}</td></tr>`,
  )
  .join('\n')}
<tr><td>total (weighted)</td><td>${fmt(r.first?.loss)}</td><td>${fmt(r.last?.loss)}</td></tr></table>
${r.package ? `<h2>Model package</h2><p><code>${esc(r.package.dir)}</code></p><pre>${esc(JSON.stringify(r.package.parity ?? {}, null, 2))}</pre>` : ''}
</body></html>
`;
}

/** Write report.json and report.html into the run directory; returns their paths. */
export function writeTrainingReport(
  runDir: string,
  extra: Partial<TrainingReport> = {},
): { json: string; html: string; report: TrainingReport } {
  const report = buildReport(runDir, extra);
  const json = path.join(runDir, 'report.json');
  const html = path.join(runDir, 'report.html');
  writeFileAtomic(json, JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(html, reportHtml(report));
  return { json, html, report };
}
