import { readFile, stat } from 'node:fs/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import type { PrepSummary } from '../../lib/prep.ts';
import { parseShard } from '../../lib/requests/shard.ts';
import { formatBytes, parseSize } from '../../lib/util/size.ts';
import { createProgress } from '../progress.ts';
import { checkOptions, parseDelimiter, parseMaxRejects, parseParams, sourceOptions, templateOptions } from '../options.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { parseTosUri } from '../../lib/tos/client.ts';
import { tosUploadStream, type TosUploadResult } from '../../transforms/tos-upload-stream.ts';
import { openTos, uploadOptions } from '../tos.ts';
import { describeUpload } from './upload.ts';

function builder(y: Argv) {
  return uploadOptions(checkOptions(templateOptions(sourceOptions(y))))
    .positional('source', { type: 'string', default: '-', describe: 'CSV, TSV, JSONL, JSON or Parquet file, or - for stdin (Parquet on stdin is spooled to a temp file first)' })
    .option('output', { alias: 'o', type: 'string', describe: 'Output file (default: stdout); with --split-*, the base name OUT.jsonl' })
    .option('split-lines', { type: 'number', describe: 'Most lines per part (writes OUT-00001.jsonl … and OUT.manifest.json)' })
    .option('split-bytes', { type: 'string', describe: 'Most bytes per part, e.g. 512MB' })
    .option('shard', { type: 'string', describe: 'K/N: keep only rows whose custom_id hashes to shard K of N' })
    .option('max-file-bytes', { type: 'string', describe: 'File size limit (default: 5GiB for Ark, 200MB for OpenAI)' })
    .option('estimate-tokens', { type: 'boolean', default: false, describe: 'Count estimated input tokens in the summary (a little slower)' })
    .option('upload', { type: 'string', describe: 'Stream the JSONL straight into this TOS object (tos://BUCKET/KEY) instead of a file' })
    .option('local', { type: 'boolean', default: false, describe: 'With --upload: use the embedded local service instead of TOS' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress, no summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON (on stdout with -o, else on stderr)' })
    .example("$0 prep reviews.csv --user 'Classify: {{review}}' > batch.jsonl", 'one line per row, ids row-1, row-2, …')
    .example("$0 prep docs.jsonl --id doc_id --body body.json --split-bytes 1GiB -o batch.jsonl", 'parts under 1 GiB each');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

/** The prep options that flags decide, shared by `prep` and `run`. */
export async function prepOptionsFromArgs(argv: PrepFlags) {
  const params = parseParams(argv.param);
  if (argv.maxTokens !== undefined) params.max_tokens = argv.maxTokens;
  if (argv.temperature !== undefined) params.temperature = argv.temperature;
  if (argv.topP !== undefined) params.top_p = argv.topP;
  if (argv.target === 'openai' && argv.model === undefined) {
    throw new ArkBatchError('E_USAGE', '--target openai needs --model (OpenAI lines carry the model in the body)');
  }
  return {
    format: argv.from,
    delimiter: parseDelimiter(argv.delimiter),
    header: argv.header,
    system: argv.system,
    user: argv.user,
    body: argv.body === undefined ? undefined : await readBodyTemplate(argv.body),
    params,
    onEmpty: argv.onEmpty,
    id: { column: argv.id, template: argv.idTemplate },
    target: argv.target,
    model: argv.target === 'openai' ? argv.model : undefined,
    maxRejects: parseMaxRejects(argv.maxRejects),
    rejectsPath: argv.rejects,
    maxLineBytes: parseSize(argv.maxLineBytes, '--max-line-bytes'),
    idMemoryBytes: parseSize(argv.idMemory, '--id-memory'),
    threads: parseThreads(argv.threads),
  };
}

/** The flags `prepOptionsFromArgs` reads. */
export interface PrepFlags {
  readonly param?: string[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly target: 'ark' | 'openai';
  readonly model?: string;
  readonly from?: 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet';
  readonly delimiter?: string;
  readonly header: boolean;
  readonly system?: string;
  readonly user?: string;
  readonly body?: string;
  readonly onEmpty: 'error' | 'keep' | 'skip-row';
  readonly id?: string;
  readonly idTemplate?: string;
  readonly maxRejects?: string;
  readonly rejects?: string;
  readonly maxLineBytes: string;
  readonly idMemory: string;
  readonly threads?: number;
}

function parseThreads(n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1) throw new ArkBatchError('E_USAGE', `Expected --threads to be a whole number of at least 1, got ${n}`);
  return n;
}

async function handler(argv: Args): Promise<void> {
  const options = await prepOptionsFromArgs(argv);
  // Ark lines normally carry no model (the job names it); --model writes one into every body.
  if (argv.target === 'ark' && argv.model !== undefined) options.params.model = argv.model;
  const upload = argv.upload === undefined ? undefined : await startUpload(argv);
  const output = upload?.sink ?? argv.output ?? process.stdout;
  const input = argv.source as string;
  const progress = createProgress({ label: 'prep', quiet: argv.quiet || argv.json, totalBytes: input === '-' ? undefined : (await stat(input).catch(() => undefined))?.size });
  // Loaded on use: `ark-batch --help` and other verbs start without the whole pipeline.
  const { prep } = await import('../../lib/prep.ts');
  const summary = await prep({
    ...options,
    input,
    output,
    splitLines: argv.splitLines,
    splitBytes: argv.splitBytes === undefined ? undefined : parseSize(argv.splitBytes, '--split-bytes'),
    shard: argv.shard === undefined ? undefined : parseShard(argv.shard),
    maxFileBytes: argv.maxFileBytes === undefined ? undefined : parseSize(argv.maxFileBytes, '--max-file-bytes'),
    estimateTokens: argv.estimateTokens,
    signal: interruptSignal(),
    onProgress: (p) => progress.update(p),
  })
    .then(async (s) => (upload ? { ...s, output: argv.upload!, upload: await upload.sink.result } : s))
    .catch(async (err: unknown) => {
      // The upload is aborted (or kept for --checkpoint) before the command reports the error;
      // destroy() covers a failure before the pipeline ever reached the sink.
      upload?.sink.destroy(err as Error);
      await upload?.sink.result.catch(() => undefined);
      throw err;
    })
    .finally(async () => {
      progress.stop();
      await upload?.tos.close();
    });
  writeSummary(summary, { json: argv.json, quiet: argv.quiet, dataOnStdout: argv.output === undefined && !upload, human: describe });
}

async function startUpload(argv: Args) {
  const target = parseTosUri(argv.upload!);
  if (!target.key) throw new ArkBatchError('E_USAGE', `Expected an object key in --upload ${argv.upload}, like tos://bucket/batch/input.jsonl`);
  if (argv.output !== undefined || argv.splitLines !== undefined || argv.splitBytes !== undefined) {
    throw new ArkBatchError('E_USAGE', '--upload writes one object: leave out -o, --split-lines and --split-bytes');
  }
  const partSize = parseSize(argv.partSize, '--part-size');
  const tos = await openTos({ local: argv.local, timeout: 60 }, target.bucket);
  const sink = tosUploadStream({ client: tos.client, ...target, partSize, concurrency: argv.concurrency, checkpoint: argv.checkpoint, contentType: 'application/jsonl' });
  return { tos, sink };
}

function describe(s: PrepSummary & { upload?: TosUploadResult }): string {
  if (s.upload) return `prep: ${s.rowsRead} rows read → ${s.written} lines, ${s.rejected} rejected; ${describeUpload(s.upload)}`;
  const parts = s.manifest ? `${s.manifest.parts.length} parts + ${s.output.replace(/\.[^./]*$/, '')}.manifest.json` : s.output === '-' ? 'stdout' : s.output;
  const extra = [s.skipped ? `${s.skipped} skipped (empty)` : '', s.otherShards ? `${s.otherShards} in other shards` : ''].filter(Boolean);
  return (
    `prep: ${s.rowsRead} rows read → ${s.written} lines written, ${s.rejected} rejected` +
    (extra.length ? `, ${extra.join(', ')}` : '') +
    ` (${formatBytes(s.bytes)} to ${parts}` +
    (s.rejected && s.rejectsFile ? `; rejects in ${s.rejectsFile}` : '') +
    `, ${s.seconds.toFixed(1)} s)` +
    (s.estimatedInputTokens !== undefined ? `; ~${s.estimatedInputTokens} input tokens (estimate)` : '')
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
