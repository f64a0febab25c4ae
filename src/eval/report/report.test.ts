import { escapeXml, histogramCounts, histogramSvg, recallCurveSvg } from './svg';
import { buildReportHtml, oryonReportInput } from './html';
import { aggregateOryon, type PairRecord } from '../protocol/oryon';
import { EvalInputError } from '../metrics/errors';

describe('report SVG builders', () => {
  test('recall curve: one polyline per series with points mapped into the plot box', () => {
    const svg = recallCurveSvg({
      title: 'MSSD <test>',
      xLabel: 'th',
      width: 480,
      height: 300,
      series: [
        { name: 'a', x: [0, 0.5, 1], y: [0, 0.5, 1] },
        { name: 'b', x: [0, 1], y: [1, 1] },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('MSSD &lt;test&gt;');
    // plot box: left 56, top 30, w 408, h 224 -> (0,0) at (56,254), (1,1) at (464,30)
    expect(svg).toContain(
      'data-series="a" fill="none" stroke="#1f77b4" stroke-width="2" points="56,254 260,142 464,30"',
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(() => recallCurveSvg({ title: 't', xLabel: 'x', series: [] })).toThrow(EvalInputError);
  });

  test('histogram: counts per bin with clamping, bars carry the counts', () => {
    expect(histogramCounts([0, 0.1, 0.5, 0.99, 1, 5, -1, NaN], 2, 0, 1)).toEqual([3, 4]);
    const svg = histogramSvg({
      title: 'h',
      xLabel: 'deg',
      values: [1, 2, 2, 3, 3, 3],
      bins: 3,
      range: [0.5, 3.5],
    });
    expect([...svg.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([1, 2, 3]);
  });

  test('escapeXml escapes markup characters', () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  });
});

describe('report.html', () => {
  const rec = (id: string, ok: boolean): PairRecord => ({
    pairId: id,
    objectId: 'mug',
    prompt: 'a <b>mug</b>',
    status: ok ? 'ok' : 'missing',
    diameterM: 0.1,
    imageWidth: 640,
    errors: ok
      ? { addM: 0.005, adiM: 0.004, addSM: 0.005, reDeg: 3, teCm: 0.5, mssdM: 0.012, mspdPx: 7 }
      : undefined,
    scores: ok ? { mssd: 0.8, mspd: 0.9, addS01d: 1 } : { mssd: 0, mspd: 0, addS01d: 0 },
    iouAnchor: 0.9,
    iouQuery: ok ? 0.8 : null,
  });

  test('page has the summary, escaped per-object table, 5 figures and only data-URI thumbnails', () => {
    const records = [rec('1', true), rec('2', false)];
    const agg = aggregateOryon(records);
    const html = buildReportHtml(
      oryonReportInput('Run <1>', agg, records, [
        { caption: 'best', dataUri: 'data:image/png;base64,iVBORw0KGgo=' },
        { caption: 'evil', dataUri: 'javascript:alert(1)' },
      ]),
    );
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<title>Run &lt;1&gt;</title>');
    expect(html).toContain('<tr><th>MSSD</th><td>0.400</td></tr>');
    expect(html).toContain('<tr><th>AR</th><td>–</td></tr>'); // no VSD in these records
    expect(html).toContain('a &lt;b&gt;mug&lt;/b&gt;');
    expect(html.match(/<svg /g)).toHaveLength(5);
    expect(html).toContain('data:image/png;base64,iVBORw0KGgo=');
    expect(html).not.toContain('javascript:');
  });
});
