import type { Argv } from 'yargs';
import { ArkBatchError } from '../lib/errors.ts';
import { parseSize } from '../lib/util/size.ts';

/** Flags shared by every command that reads a tabular source (prep, join, bench, run). */
export function sourceOptions<T>(y: Argv<T>) {
  return y
    .option('from', { choices: ['csv', 'tsv', 'jsonl', 'json', 'parquet'] as const, describe: 'Source format (default: from the extension; sniffed on stdin)' })
    .option('delimiter', { type: 'string', describe: 'CSV field delimiter (default , ; tab for TSV)' })
    .option('header', { type: 'boolean', default: true, describe: 'First CSV row holds column names (--no-header: columns are 1, 2, …)' })
    .option('id', { type: 'string', describe: 'Column or field holding the custom_id' })
    .option('id-template', { type: 'string', describe: "custom_id built from fields, e.g. 'doc-{{id}}' (default: row-<n>, the 1-based data row)" });
}

/** Flags that shape the request body (prep, run, bench). */
export function templateOptions<T>(y: Argv<T>) {
  return y
    .option('system', { type: 'string', describe: 'System message (may hold {{placeholders}})' })
    .option('user', { type: 'string', describe: "User message template, e.g. 'Classify: {{review}}' ({{a.b}} for nested fields)" })
    .option('body', { type: 'string', describe: 'A JSON file holding a whole body template; string values may hold placeholders' })
    .option('max-tokens', { type: 'number', describe: 'max_tokens for every request' })
    .option('temperature', { type: 'number', describe: 'temperature (0–2)' })
    .option('top-p', { type: 'number', describe: 'top_p (0–1)' })
    .option('param', { type: 'string', array: true, describe: 'Any other body parameter as key=JSON, e.g. thinking={"type":"disabled"}' })
    .option('on-empty', { choices: ['error', 'keep', 'skip-row'] as const, default: 'keep' as const, describe: 'An empty or null value in a placeholder' })
    .option('target', { choices: ['ark', 'openai'] as const, default: 'ark' as const, describe: 'Line shape and file limits' })
    .option('model', { type: 'string', describe: 'Model written into each body (needed for --target openai)' });
}

/** Flags of the checks and the reject policy (prep, run). */
export function checkOptions<T>(y: Argv<T>) {
  return y
    .option('max-rejects', { type: 'string', describe: 'Keep going past this many bad rows (a number or all); default: stop at the first' })
    .option('rejects', { type: 'string', describe: 'Write rejected rows here as JSONL {row, line, custom_id, code, message, source}' })
    .option('max-line-bytes', { type: 'string', default: '8MiB', describe: 'Line size limit' })
    .option('id-memory', { type: 'string', default: '8MiB', describe: 'Memory for the custom_id uniqueness table before it spills to disk' })
    .option('threads', { type: 'number', describe: 'Threads preparing CSV/TSV, this one included (default: one per CPU but one for the output writer, at most 4; 1 starts no preparing worker; inputs under 8 MiB never do)' });
}

/** `--param key=json` list → object; a value that is not JSON is taken as a string. */
export function parseParams(params: readonly string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of params ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new ArkBatchError('E_USAGE', `Expected --param key=json, got ${JSON.stringify(p)}`);
    const raw = p.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // `--param user=alice` is meant as a string; quoting JSON strings in a shell is a chore.
      value = raw;
    }
    out[p.slice(0, eq)] = value;
  }
  return out;
}

/** `--max-rejects 10` or `--max-rejects all`. */
export function parseMaxRejects(v: string | number | undefined): number {
  if (v === undefined) return 0;
  if (v === 'all') return Infinity;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new ArkBatchError('E_USAGE', `Expected --max-rejects N or all, got ${JSON.stringify(v)}`);
  return n;
}

/** `--delimiter '\t'` or `tab` as typed in a shell → a real tab; other values as they are. */
export function parseDelimiter(v: string | undefined): string | undefined {
  if (v === '\\t' || v === 'tab' || v === 'TAB') return '\t';
  return v;
}

/** The prep flags of `sourceOptions`/`templateOptions` back as arguments, for a child `prep`. */
export function prepArgsFrom(argv: Readonly<Record<string, unknown>>): string[] {
  const args: string[] = [];
  const flags = ['from', 'delimiter', 'id', 'id-template', 'system', 'user', 'body', 'max-tokens', 'temperature', 'top-p', 'on-empty', 'target', 'model'];
  for (const flag of flags) {
    const v = argv[flag];
    if (v !== undefined) args.push(`--${flag}`, String(v));
  }
  for (const p of (argv.param as string[] | undefined) ?? []) args.push('--param', p);
  if (argv.header === false) args.push('--no-header');
  return args;
}

/** Where job output comes from, and the spill budget of reading it (join, retry). */
export function resultInputOptions<T>(y: Argv<T>) {
  return y
    .option('results', { alias: 'r', type: 'string', array: true, default: [] as string[], describe: 'Results JSONL in order (a later success fills an earlier failure): files, -, tos://bucket/key or a job id (bi-…: its results and errors)' })
    .option('errors', { alias: 'e', type: 'string', array: true, describe: 'Errors JSONL: files, - or tos://bucket/key' })
    .option('local', { type: 'boolean', default: false, describe: 'tos:// inputs and job ids come from the embedded local service' })
    .option('memory', { type: 'string', default: '256MiB', describe: 'Memory for the results before spilling to disk' })
    .option('tmp-dir', { type: 'string', describe: 'Where spill files go (default: the system temp dir)' })
    .option('max-line-bytes', { type: 'string', default: '128MiB', describe: 'Longest result line accepted' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON (on stdout with -o, else on stderr)' });
}

/** The spill flags of `resultInputOptions` as library options. */
export function spillOptionsFrom(argv: { readonly memory: string; readonly tmpDir?: string; readonly maxLineBytes: string }) {
  return { memoryBytes: parseSize(argv.memory, '--memory'), tmpDir: argv.tmpDir, maxLineBytes: parseSize(argv.maxLineBytes, '--max-line-bytes') };
}
