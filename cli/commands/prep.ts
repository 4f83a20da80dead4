import { readFile, stat } from 'node:fs/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import { prep, type PrepSummary } from '../../lib/prep.ts';
import { parseShard } from '../../lib/requests/shard.ts';
import { formatBytes, parseSize } from '../../lib/util/size.ts';
import { createProgress } from '../progress.ts';
import { parseMaxRejects, parseParams, sourceOptions, templateOptions } from '../options.ts';
import { interruptSignal, writeSummary } from '../io.ts';

function builder(y: Argv) {
  return templateOptions(sourceOptions(y))
    .positional('source', { type: 'string', default: '-', describe: 'CSV, TSV, JSONL, JSON or Parquet file, or - for stdin (Parquet on stdin is spooled to a temp file first)' })
    .option('output', { alias: 'o', type: 'string', describe: 'Output file (default: stdout); with --split-*, the base name OUT.jsonl' })
    .option('max-rejects', { type: 'string', describe: 'Keep going past this many bad rows (a number or all); default: stop at the first' })
    .option('rejects', { type: 'string', describe: 'Write rejected rows here as JSONL {row, line, custom_id, code, message, source}' })
    .option('split-lines', { type: 'number', describe: 'Most lines per part (writes OUT-00001.jsonl … and OUT.manifest.json)' })
    .option('split-bytes', { type: 'string', describe: 'Most bytes per part, e.g. 512MB' })
    .option('shard', { type: 'string', describe: 'K/N: keep only rows whose custom_id hashes to shard K of N' })
    .option('max-file-bytes', { type: 'string', describe: 'File size limit (default: 5GiB for Ark, 200MB for OpenAI)' })
    .option('max-line-bytes', { type: 'string', default: '8MiB', describe: 'Line size limit' })
    .option('id-memory', { type: 'string', default: '8MiB', describe: 'Memory for the custom_id uniqueness table before it spills to disk' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress, no summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON (on stdout with -o, else on stderr)' })
    .example("$0 prep reviews.csv --user 'Classify: {{review}}' > batch.jsonl", 'one line per row, ids row-1, row-2, …')
    .example("$0 prep docs.jsonl --id doc_id --body body.json --split-bytes 1GiB -o batch.jsonl", 'parts under 1 GiB each');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const params = parseParams(argv.param);
  if (argv.maxTokens !== undefined) params.max_tokens = argv.maxTokens;
  if (argv.temperature !== undefined) params.temperature = argv.temperature;
  if (argv.topP !== undefined) params.top_p = argv.topP;
  if (argv.target === 'openai' && argv.model === undefined) {
    throw new ArkBatchError('E_USAGE', '--target openai needs --model (OpenAI lines carry the model in the body)');
  }
  if (argv.target === 'ark' && argv.model !== undefined) params.model = argv.model;
  const body = argv.body === undefined ? undefined : await readBodyTemplate(argv.body);
  const output = argv.output ?? process.stdout;
  const input = argv.source as string;
  const progress = createProgress({ label: 'prep', quiet: argv.quiet || argv.json, totalBytes: input === '-' ? undefined : (await stat(input).catch(() => undefined))?.size });
  const summary = await prep({
    input,
    output,
    format: argv.from,
    delimiter: argv.delimiter,
    header: argv.header,
    system: argv.system,
    user: argv.user,
    body,
    params,
    onEmpty: argv.onEmpty,
    id: { column: argv.id, template: argv.idTemplate },
    target: argv.target,
    model: argv.target === 'openai' ? argv.model : undefined,
    maxRejects: parseMaxRejects(argv.maxRejects),
    rejectsPath: argv.rejects,
    splitLines: argv.splitLines,
    splitBytes: argv.splitBytes === undefined ? undefined : parseSize(argv.splitBytes, '--split-bytes'),
    shard: argv.shard === undefined ? undefined : parseShard(argv.shard),
    maxFileBytes: argv.maxFileBytes === undefined ? undefined : parseSize(argv.maxFileBytes, '--max-file-bytes'),
    maxLineBytes: parseSize(argv.maxLineBytes, '--max-line-bytes'),
    idMemoryBytes: parseSize(argv.idMemory, '--id-memory'),
    signal: interruptSignal(),
    onProgress: (p) => progress.update(p),
  }).finally(() => progress.stop());
  writeSummary(summary, { json: argv.json, quiet: argv.quiet, dataOnStdout: argv.output === undefined, human: describe });
}

function describe(s: PrepSummary): string {
  const parts = s.manifest ? `${s.manifest.parts.length} parts + ${s.output.replace(/\.[^./]*$/, '')}.manifest.json` : s.output === '-' ? 'stdout' : s.output;
  const extra = [s.skipped ? `${s.skipped} skipped (empty)` : '', s.otherShards ? `${s.otherShards} in other shards` : ''].filter(Boolean);
  return (
    `prep: ${s.rowsRead} rows read → ${s.written} lines written, ${s.rejected} rejected` +
    (extra.length ? `, ${extra.join(', ')}` : '') +
    ` (${formatBytes(s.bytes)} to ${parts}` +
    (s.rejected && s.rejectsFile ? `; rejects in ${s.rejectsFile}` : '') +
    `, ${s.seconds.toFixed(1)} s)`
  );
}

async function readBodyTemplate(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ArkBatchError('E_USAGE', `Cannot read --body ${path}: ${err.code ?? err.message}`, { cause: err });
  });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ArkBatchError('E_TEMPLATE', `--body ${path} is not JSON: ${(err as Error).message}`, { file: path, cause: err });
  }
}

export const prepCommand: CommandModule<object, Args> = {
  command: 'prep [source]',
  describe: 'Turn rows of a CSV/TSV/JSONL/JSON/Parquet source into validated Ark batch JSONL',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
