import type { PrepBenchResult } from './prep-bench.ts';
import { formatBytes } from '../util/size.ts';

export interface ReportContext {
  readonly title: string;
  readonly machine: string;
  readonly date: string;
}

const f1 = (n: number) => n.toFixed(1);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** A Markdown report: one table row per benchmarked input, and a link to the SVG chart. */
export function markdownReport(results: readonly PrepBenchResult[], ctx: ReportContext, chartFile?: string): string {
  const lines = [
    `# ${ctx.title}`,
    '',
    `${ctx.machine} — ${ctx.date}. Median of the timed runs (min–max in brackets); each run is a separate`,
    'process writing to a discarding sink, so peak RSS is that run alone.',
    '',
    '| stage | source | rows | input | rows/s | MB/s in | MB/s out | CPU s | peak RSS | lines | output | input tokens | parts / jobs |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.stage} | ${r.source.split('/').pop()} | ${int(r.runs[0]?.rows ?? 0)} | ${formatBytes(r.sizeBytes)} | ${int(r.rowsPerSecond.median)} ` +
        `| ${f1(r.mbPerSecondIn.median)} (${f1(r.mbPerSecondIn.min)}–${f1(r.mbPerSecondIn.max)}) | ${f1(r.mbPerSecondOut.median)} ` +
        `| ${f1(r.cpuSeconds.median)} | ${formatBytes(r.maxRssBytes.max)} | ${int(r.lines)} | ${formatBytes(r.bytesOut)} ` +
        `| ${r.stage === 'join' ? '—' : `${r.tokens === 'exact' ? '' : '~'}${int(r.inputTokens)}`} | ${r.projection.parts} / ${r.projection.jobs} |`,
    );
  }
  const targets = [...new Set(results.flatMap((r) => (r.uploadTarget ? [r.uploadTarget] : [])))];
  if (targets.length) lines.push('', `Upload stage target: ${targets.join(', ')}.`);
  if (chartFile) lines.push('', `![throughput by input size](${chartFile})`);
  const tokenizers = [...new Set(results.flatMap((r) => (r.tokens === 'exact' && r.tokenizer ? [r.tokenizer] : [])))];
  const tokenNote = tokenizers.length
    ? `Token counts are exact for message text (tokenizer ${tokenizers.join(', ')}), plus the documented per-message framing and image/video amounts of lib/requests/tokens.ts`
    : 'Token counts are estimates (lib/requests/tokens.ts)';
  lines.push('', `${tokenNote}; parts are files under the target\'s file limit, one batch job each.`, '');
  return lines.join('\n');
}

/** A bar chart of input MB/s per benchmarked input, as a standalone SVG (renders on GitHub). */
export function throughputSvg(results: readonly PrepBenchResult[], title = 'prep throughput (MB/s in, median)'): string {
  const barH = 26;
  const gap = 10;
  const left = 190;
  const width = 640;
  const top = 40;
  const max = Math.max(1, ...results.map((r) => r.mbPerSecondIn.max));
  const scale = (width - left - 70) / max;
  const height = top + results.length * (barH + gap) + 20;
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
  const bars = results.map((r, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, r.mbPerSecondIn.median * scale);
    const label = `${r.stage} ${int(r.runs[0]?.rows ?? 0)} rows`;
    const whisker = `<line x1="${left + r.mbPerSecondIn.min * scale}" x2="${left + r.mbPerSecondIn.max * scale}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#333"/>`;
    return (
      `<text x="${left - 8}" y="${y + barH * 0.68}" text-anchor="end">${esc(label)}</text>` +
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="#3b82f6"/>` +
      whisker +
      `<text x="${left + w + 6}" y="${y + barH * 0.68}">${f1(r.mbPerSecondIn.median)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    ...bars,
    '</svg>',
    '',
  ].join('\n');
}
