import { mkdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import { runKey, statePath, type RunStage, type UploadedInput } from '../../lib/run/state.ts';
import { parseSize } from '../../lib/util/size.ts';
import { arkOptions, withArk } from '../ark.ts';
import { interruptSignal } from '../io.ts';
import { checkOptions, prepArgsFrom, sourceOptions, templateOptions } from '../options.ts';
import { prepOptionsFromArgs } from './prep.ts';

/** Where run state and downloaded results live, per run key. */
export const RUNS_DIR = '.ark-batch/runs';

function builder(y: Argv) {
  return arkOptions(checkOptions(templateOptions(sourceOptions(y))))
    .positional('source', { type: 'string', describe: 'CSV, TSV, JSONL, JSON or Parquet file', demandOption: true })
    .option('model-version', { type: 'string', describe: 'Foundation model version, e.g. 250615' })
    .option('custom-model-id', { type: 'string', describe: 'A custom model instead of --model' })
    .option('bucket', { type: 'string', describe: 'TOS bucket for the input and the results (with --local: ark-batch-local)' })
    .option('prefix', { type: 'string', default: 'ark-batch/', describe: 'Key prefix in the bucket' })
    .option('output', { alias: 'o', type: 'string', describe: 'Joined output (.csv, .tsv, .jsonl or .parquet; default: SOURCE.joined.<ext>)' })
    .option('name', { type: 'string', describe: 'Job name (default: from the source file name)' })
    .option('window', { type: 'string', describe: 'Completion window, 1d..28d' })
    .option('interval', { type: 'string', default: '5s', describe: 'First gap between status polls (grows while nothing changes)' })
    .option('part-size', { type: 'string', default: '8MiB', describe: 'Multipart part size of the upload' })
    .example("$0 run examples/reviews.csv --user 'Classify the sentiment: {{review}}' --local", 'the whole chain on the embedded service');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const source = argv.source as string;
  if (source === '-') throw new ArkBatchError('E_USAGE', 'run reads its source twice (prep, then join): give a file, not stdin');
  // The embedded service answers with its echo model whatever the name; a real run names one.
  const model = argv.model ?? (argv.local && argv.customModelId === undefined ? 'local-echo' : undefined);
  if (model === undefined && argv.customModelId === undefined) throw new ArkBatchError('E_USAGE', 'run needs --model NAME (and --model-version) or --custom-model-id');
  const bucket = argv.bucket ?? (argv.local ? 'ark-batch-local' : undefined);
  if (!bucket) throw new ArkBatchError('E_USAGE', 'run needs --bucket B for the input and results (or --local)');
  const prefix = argv.prefix === '' || argv.prefix.endsWith('/') ? argv.prefix : `${argv.prefix}/`;
  const info = await stat(source).catch((err: NodeJS.ErrnoException) => {
    throw new ArkBatchError('E_USAGE', `Cannot read ${source}: ${err.code ?? err.message}`, { file: source });
  });
  const prepOptions = await prepOptionsFromArgs({ ...argv, target: 'ark', model: undefined });
  const output = argv.output ?? defaultOutput(source);
  // The same source, template and target resume the same run; anything else is a new run.
  const key = runKey({
    source: resolve(source),
    size: info.size,
    mtimeMs: info.mtimeMs,
    prep: prepArgsFrom(argv as unknown as Record<string, unknown>),
    model: [model, argv.modelVersion, argv.customModelId],
    bucket,
    prefix,
    local: argv.local,
    project: argv.project,
  });
  const runDir = join(RUNS_DIR, key);
  const signal = interruptSignal();
  const stem = basename(source, extname(source));
  const say = (s: string) => argv.quiet || argv.json || process.stderr.write(`run: ${s}\n`);

  await withArk({ ...argv, tosEndpoint: undefined }, async ({ client, tos, config }) => {
    const [{ runPipeline }, { prep }, { tosUploadStream }, jobs, { downloadJobResults }, { joinToOutput }] = await Promise.all([
      import('../../lib/run/run.ts'),
      import('../../lib/prep.ts'),
      import('../../transforms/tos-upload-stream.ts'),
      import('../../lib/ark/jobs.ts'),
      import('../../lib/ark/results.ts'),
      import('../../lib/join/output.ts'),
    ]);
    await mkdir(runDir, { recursive: true });
    const tosClient = await tos();
    if (config.local) await tosClient.headBucket(bucket).catch(() => tosClient.createBucket({ bucket }));
    let job: Awaited<ReturnType<typeof jobs.getJob>> | undefined;
    const state = await runPipeline({
      statePath: statePath(RUNS_DIR, key),
      key,
      onStage: (stage: RunStage, event) => event !== 'done' && say(event === 'skip' ? `${stage}: done before, skipped` : `${stage}…`),
      stages: {
        async upload(): Promise<UploadedInput> {
          const objectKey = `${prefix}inputs/${stem}-${key}.jsonl`;
          const sink = tosUploadStream({
            client: tosClient,
            bucket,
            key: objectKey,
            partSize: parseSize(argv.partSize, '--part-size'),
            checkpoint: join(runDir, 'upload.checkpoint.json'),
            contentType: 'application/jsonl',
          });
          const summary = await prep({ ...prepOptions, input: source, output: sink, signal });
          const uploaded = await sink.result;
          say(`prep: ${summary.rowsRead} rows → ${summary.written} requests, ${summary.rejected} rejected; uploaded tos://${bucket}/${objectKey} (${uploaded.parts > 1 ? `${uploaded.parts} parts` : 'one request'}, CRC-64 verified)`);
          if (summary.written === 0) throw new ArkBatchError('E_ROW_INVALID', 'No request to submit: every row was rejected or skipped', { file: source });
          return { bucket, key: objectKey, lines: summary.written, bytes: uploaded.bytes };
        },
        async submit(input) {
          const created = await jobs.createJob(
            client,
            {
              name: argv.name ?? safeName(stem),
              model: argv.customModelId !== undefined ? { customModelId: argv.customModelId } : { name: model!, version: argv.modelVersion },
              input,
              outputDir: { bucket, key: `${prefix}outputs/` },
              completionWindow: argv.window,
            },
            { signal },
          );
          if (created.notice) say(created.notice);
          say(`submit: job ${created.id}`);
          return created.id!;
        },
        async wait(id) {
          const { parseDuration } = await import('../../lib/util/duration.ts');
          try {
            job = await jobs.waitForJob(client, id, {
              signal,
              intervalMs: config.local ? 200 : parseDuration(argv.interval, '--interval'),
              onProgress: (j) => say(`wait: ${j.Status.Phase} ${j.RequestCounts?.Completed ?? 0}/${j.RequestCounts?.Total ?? 0} done, ${j.RequestCounts?.Failed ?? 0} failed`),
            });
          } catch (err) {
            // A Terminated job (stopped, expired) keeps its partial results: join them.
            if (err instanceof jobs.JobEndedError && err.job.Status.Phase === 'Terminated') {
              say(`wait: job ${id} was Terminated (${err.job.Status.Message ?? 'no message'}); joining its partial results`);
              job = err.job;
              return;
            }
            throw err;
          }
        },
        async results(id) {
          const files = await downloadJobResults({ tos: tosClient, job: job ?? (await jobs.getJob(client, id, { signal })), dir: join(runDir, 'results'), signal });
          say(`results: ${files.map((f) => `${f.kind} ${f.lines} lines`).join(', ') || 'no files'}`);
          return files.map((f) => `${f.kind}:${f.path}`);
        },
        async join(files) {
          const of = (kind: string) => files.filter((f) => f.startsWith(`${kind}:`)).map((f) => f.slice(kind.length + 1));
          const summary = await joinToOutput({ ...prepOptions, source, results: of('results'), errors: of('errors'), output, signal });
          say(`join: ${summary.rows} rows → ${summary.ok} ok, ${summary.error} error, ${summary.missing} missing; ${output}`);
          return output;
        },
      },
    });
    if (argv.json) process.stdout.write(JSON.stringify({ key, jobId: state.jobId, input: state.input, output: state.output }) + '\n');
    else say(`done: job ${state.jobId}, joined rows in ${state.output} (state: ${statePath(RUNS_DIR, key)})`);
  });
}

function defaultOutput(source: string): string {
  const ext = extname(source).toLowerCase();
  const keep = ['.csv', '.tsv', '.jsonl', '.parquet'].includes(ext) ? ext : '.jsonl';
  return `${source.slice(0, source.length - extname(source).length)}.joined${keep}`;
}

/** Job names allow letters, digits, - and _ (1–200). */
function safeName(stem: string): string {
  const name = stem.replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 200);
  return name || 'ark-batch-run';
}

export const runCommand: CommandModule<object, Args> = {
  command: 'run <source>',
  describe: 'The whole chain: prep → streaming upload → submit → wait → results → join back onto the source rows',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
