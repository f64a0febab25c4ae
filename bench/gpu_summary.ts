/**
 * Summary of a scripts/bench-gpu.sh run: the issue-10 targets against what the run measured. Reads the JSON files
 * in DIR, writes DIR/summary.json and DIR/summary.md (Markdown for BENCHMARKS.md).
 *
 *   node out/bench-build/bench/gpu_summary.js DIR
 */
import * as fs from 'fs';
import * as path from 'path';

interface TorchRow {
  size: number;
  variant: string;
  ms?: { p50: number };
  skipped?: string;
  error?: string;
}

function readJson(file: string): any | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

export function summarize(dir: string): { json: Record<string, unknown>; md: string } {
  const torchRows: TorchRow[] = [
    ...(readJson(path.join(dir, 'torch_ref.json'))?.results ?? []),
    ...(readJson(path.join(dir, 'torch_ref_compile.json'))?.results ?? []),
  ];
  const torchAt = (size: number, variant: string) =>
    torchRows.find((r) => r.size === size && r.variant === variant)?.ms?.p50;
  const lines: string[] = ['### GPU summary (scripts/bench-gpu.sh)', ''];
  const out: Record<string, unknown> = { dir };
  const e2eFiles = fs.readdirSync(dir).filter((f) => /^e2e-.*\.json$/.test(f));
  lines.push(
    '| run | device | Hz at 1x (target >= 30) | p95 latency at 1x, ms (target <= 50) | max-rate Hz | encoder alone p50 ms | torch eager fp16 p50 ms | ratio (target <= 1.5) | torch fp16+SDPA p50 ms | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  const rows: Record<string, unknown>[] = [];
  for (const f of e2eFiles.sort()) {
    const r = readJson(path.join(dir, f));
    const run = r?.runs?.[0];
    if (!run) {
      lines.push(`| ${f} | - | failed (no result) | | | | | | | |`);
      continue;
    }
    const paced = run.modes.find((m: any) => m.mode === '1x');
    const max = run.modes.find((m: any) => m.mode === 'max');
    const enc = run.encoderAloneMs?.p50 as number | undefined;
    const size = run.config.size as number;
    const t16 = torchAt(size, 'fp16');
    const tsdpa = torchAt(size, 'fp16-sdpa');
    const ratio = (t?: number) => (enc && t ? Math.round((enc / t) * 100) / 100 : null);
    const row = {
      file: f,
      device: run.config.device,
      hz1x: paced?.throughputHz ?? null,
      p95LatencyMs1x: paced?.latencyMs?.p95 ?? null,
      hzMax: max?.throughputHz ?? null,
      encoderP50Ms: enc ?? null,
      torchFp16P50Ms: t16 ?? null,
      ratioVsTorchFp16: ratio(t16),
      torchFp16SdpaP50Ms: tsdpa ?? null,
      ratioVsTorchFp16Sdpa: ratio(tsdpa),
    };
    rows.push(row);
    const v = (x: unknown) => (x === null || x === undefined ? '-' : String(x));
    lines.push(
      `| ${f.replace(/\.json$/, '')} | ${row.device} | ${v(row.hz1x)} | ${v(row.p95LatencyMs1x)} | ${v(row.hzMax)} | ${v(row.encoderP50Ms)} | ${v(row.torchFp16P50Ms)} | ${v(row.ratioVsTorchFp16)} | ${v(row.torchFp16SdpaP50Ms)} | ${v(row.ratioVsTorchFp16Sdpa)} |`,
    );
  }
  out.rows = rows;
  out.torch = torchRows;
  if (torchRows.length === 0) lines.push('', 'No PyTorch reference in this run (see torch_ref.skipped).');
  const env = fs.existsSync(path.join(dir, 'env.txt'))
    ? fs.readFileSync(path.join(dir, 'env.txt'), 'utf8')
    : '';
  lines.push('', '<details><summary>env.txt</summary>', '', '```', env.trim(), '```', '</details>', '');
  return { json: out, md: lines.join('\n') };
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: gpu_summary DIR\n');
    process.exit(2);
  }
  const { json, md } = summarize(dir);
  fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(json, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'summary.md'), md);
  process.stdout.write(md + '\n');
}
