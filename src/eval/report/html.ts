/**
 * `report.html` builder: a single self-contained HTML page (inline CSS, inline SVG, data-URI thumbnails)
 * from aggregate numbers, tables and figures. Pure string building.
 */
import { escapeXml, histogramSvg, recallCurveSvg } from './svg';
import type { OryonAggregate, PairRecord } from '../protocol/oryon';

export interface ReportTable {
  caption: string;
  headers: string[];
  rows: (string | number | null | undefined)[][];
}

export interface ReportFigure {
  caption: string;
  /** Inline SVG markup (from svg.ts; inserted verbatim, so it must be trusted). */
  svg: string;
}

export interface ReportThumbnail {
  caption: string;
  /** `data:image/png;base64,...` (or jpeg/webp). */
  dataUri: string;
}

export interface ReportInput {
  title: string;
  /** Key numbers shown at the top, e.g. { AR: 0.41 }. Numbers are shown with 3 decimals. */
  summary: Record<string, string | number | null | undefined>;
  tables?: ReportTable[];
  figures?: ReportFigure[];
  thumbnails?: ReportThumbnail[];
  /** Free text under the title (escaped). */
  notes?: string;
}

const cell = (v: string | number | null | undefined) =>
  v === null || v === undefined
    ? '–'
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? String(v)
        : v.toFixed(3)
      : escapeXml(v);

/** Builds the report page. Everything except figure SVGs is escaped; thumbnails must be data: URIs. */
export function buildReportHtml(r: ReportInput): string {
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(r.title)}</title>`,
    '<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}' +
      'td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}caption{font-weight:bold;text-align:left;padding:4px 0}' +
      '.figs{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}.thumbs img{max-width:640px;margin:4px;border:1px solid #ccc}</style>',
    '</head><body>',
    `<h1>${escapeXml(r.title)}</h1>`,
  ];
  if (r.notes) out.push(`<p>${escapeXml(r.notes)}</p>`);
  out.push('<table class="summary"><tbody>');
  for (const [k, v] of Object.entries(r.summary))
    out.push(`<tr><th>${escapeXml(k)}</th><td>${cell(v)}</td></tr>`);
  out.push('</tbody></table>');
  for (const t of r.tables ?? []) {
    out.push(`<table><caption>${escapeXml(t.caption)}</caption><thead><tr>`);
    out.push(t.headers.map((h) => `<th>${escapeXml(h)}</th>`).join(''));
    out.push('</tr></thead><tbody>');
    for (const row of t.rows) out.push(`<tr>${row.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`);
    out.push('</tbody></table>');
  }
  if (r.figures?.length) {
    out.push('<div class="figs">');
    for (const f of r.figures)
      out.push(`<figure>${f.svg}<figcaption>${escapeXml(f.caption)}</figcaption></figure>`);
    out.push('</div>');
  }
  if (r.thumbnails?.length) {
    out.push('<div class="thumbs">');
    for (const t of r.thumbnails) {
      if (!/^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=]*$/.test(t.dataUri)) continue;
      out.push(
        `<figure><img src="${t.dataUri}" alt="${escapeXml(t.caption)}"><figcaption>${escapeXml(t.caption)}</figcaption></figure>`,
      );
    }
    out.push('</div>');
  }
  out.push('</body></html>');
  return out.join('\n');
}

/**
 * Report input for an Oryon-protocol run: summary (AR, VSD, MSSD, MSPD, ADD(S)-0.1d, mask IoU), per-object
 * table, MSSD/MSPD/ADD(S) recall curves and rotation/translation error histograms.
 */
export function oryonReportInput(
  title: string,
  agg: OryonAggregate,
  records: readonly PairRecord[],
  thumbnails: ReportThumbnail[] = [],
): ReportInput {
  const ok = records.filter((r) => r.status === 'ok' && r.errors);
  return {
    title,
    summary: {
      pairs: agg.count,
      'missing estimates': agg.missing,
      AR: agg.ar,
      VSD: agg.vsd,
      MSSD: agg.mssd,
      MSPD: agg.mspd,
      'ADD(S)-0.1d': agg.addS01d,
      'mean IoU': agg.mask.meanIou,
      'IoU > 0.25': agg.mask.shareAbove025,
      'IoU > 0.5': agg.mask.shareAbove050,
      'IoU > 0.75': agg.mask.shareAbove075,
      'median rotation error (deg)': agg.medianReDeg,
      'median translation error (cm)': agg.medianTeCm,
    },
    tables: [
      {
        caption: 'Per object',
        headers: ['object', 'prompt', 'pairs', 'AR', 'MSSD', 'MSPD', 'ADD(S)-0.1d'],
        rows: agg.perObject.map((o) => [o.objectId, o.prompt, o.count, o.ar, o.mssd, o.mspd, o.addS01d]),
      },
    ],
    figures: [
      {
        caption: 'MSSD recall vs threshold (fraction of diameter)',
        svg: recallCurveSvg({
          title: 'MSSD',
          xLabel: 'threshold / diameter',
          series: [{ name: 'MSSD', x: agg.curves.mssd.thresholds, y: agg.curves.mssd.recall }],
        }),
      },
      {
        caption: 'MSPD recall vs threshold (px at 640 width)',
        svg: recallCurveSvg({
          title: 'MSPD',
          xLabel: 'threshold (px)',
          series: [{ name: 'MSPD', x: agg.curves.mspd.thresholds, y: agg.curves.mspd.recall }],
        }),
      },
      {
        caption: 'ADD(S) recall vs threshold (fraction of diameter)',
        svg: recallCurveSvg({
          title: 'ADD(S)',
          xLabel: 'threshold / diameter',
          series: [{ name: 'ADD(S)', x: agg.curves.addS.thresholds, y: agg.curves.addS.recall }],
        }),
      },
      {
        caption: 'Rotation error histogram',
        svg: histogramSvg({
          title: 'Rotation error',
          xLabel: 'degrees',
          values: ok.map((r) => r.errors?.reDeg as number),
          range: [0, 180],
          bins: 36,
        }),
      },
      {
        caption: 'Translation error histogram',
        svg: histogramSvg({
          title: 'Translation error',
          xLabel: 'cm',
          values: ok.map((r) => r.errors?.teCm as number),
          bins: 30,
        }),
      },
    ],
    thumbnails,
  };
}
