import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import type { BenchRun, PrepBenchResult } from '../../lib/bench/prep-bench.ts';
import { formatBytes } from '../../lib/util/size.ts';
import { prepArgsFrom, sourceOptions, templateOptions } from '../options.ts';
import { interruptSignal } from '../io.ts';
import { tokenCounterFrom, describeTokens, tokenizerOptions } from '../tokenizer.ts';
import { uploadOptions } from '../tos.ts';
import { openUploadTarget } from '../bench-upload.ts';

function builder(y: Argv) {
  return tokenizerOptions(uploadOptions(templateOptions(sourceOptions(y))))
    .positional('source', { type: 'string', describe: 'Your source file (or use --synthetic)' })
    .option('synthetic', { type: 'boolean', default: false, describe: 'Benchmark the seeded synthetic dataset (id,int,float,category,text with quotes, newlines, CJK)' })
    .option('rows', { type: 'string', default: '100000', describe: 'Synthetic rows; a comma list gives one run per size, e.g. 10000,100000,1000000' })
    .option('synthetic-format', { choices: ['csv', 'jsonl', 'parquet'] as const, default: 'csv' as const, describe: 'Format of the synthetic source' })
    .option('seed', { type: 'number', default: 1, describe: 'Seed of the synthetic dataset' })
    .option('stages', { type: 'string', default: 'prep', describe: 'Stages to measure: prep (to a discarding sink), upload (prep streamed into a multipart upload, see --upload-to), join (with --synthetic: a seeded shuffled job output joined back)' })
    .option('upload-to', { choices: ['local', 'tos'] as const, describe: 'Target of the upload stage: a loopback serve in this process, or real TOS under --upload-prefix (default: tos when --upload-prefix is given, else local)' })
    .option('upload-prefix', { type: 'string', describe: 'tos://BUCKET/PREFIX/ for the upload stage: objects go under PREFIX/ark-batch-bench/<time>-<random>/ and are removed afterwards. TOS config as for upload: VOLC_ACCESSKEY, VOLC_SECRETKEY, VOLC_SESSION_TOKEN, VOLC_REGION, TOS_ENDPOINT' })
    .option('keep', { type: 'boolean', default: false, describe: 'Keep the objects the upload stage wrote to TOS (default: removed, and unfinished uploads aborted, when the bench ends)' })
    .option('runs', { type: 'number', default: 3, describe: 'Timed runs after one warm-up' })
    .option('report', { type: 'string', describe: 'Write a Markdown report (and an SVG chart beside it)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the results as JSON on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false })
    // Each run uploads a fresh object; there is nothing to resume.
    .hide('checkpoint')
    .example("$0 bench reviews.csv --id id --user 'Classify: {{review}}' --tokenizer ./doubao/tokenizer.json", 'your data, exact input tokens from the model\'s tokenizer')
    .example('$0 bench --synthetic --rows 100000 --stages prep,upload --upload-prefix tos://my-bucket/tmp/', 'upload to TOS under tmp/ark-batch-bench/<time>-<random>/, removed afterwards')
    .example('$0 bench --synthetic --rows 10000,100000,1000000 --report bench.md', 'the seeded dataset at three sizes, with a chart');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const stages = argv.stages.split(',').map((s) => s.trim());
  if (stages.length === 0 || stages.some((s) => s !== 'prep' && s !== 'upload' && s !== 'join')) {
    throw new ArkBatchError('E_USAGE', `Expected --stages from prep, upload, join, got ${argv.stages}`);
  }
  if (stages.includes('join') && !argv.synthetic) {
    throw new ArkBatchError('E_USAGE', '--stages join needs --synthetic: the generated job output must match the source\'s custom_ids');
  }
  if (!argv.synthetic && !argv.source) throw new ArkBatchError('E_USAGE', 'Give a SOURCE file or --synthetic');
  if (!stages.includes('upload') && (argv.uploadTo !== undefined || argv.uploadPrefix !== undefined)) {
    throw new ArkBatchError('E_USAGE', '--upload-to and --upload-prefix set the target of the upload stage: add upload to --stages');
  }
  const { benchPrep } = await import('../../lib/bench/prep-bench.ts');
  // Ctrl-C stops the running child (which aborts its upload) and still removes the bench's objects.
  const signal = interruptSignal();
  const tokens = argv.tokenizer === undefined ? undefined : await tokenCounterFrom(argv);
  const log = (s: string) => argv.quiet || process.stderr.write(s + '\n');
  const prepArgs = prepArgsFrom(argv as unknown as Record<string, unknown>);
  const results: PrepBenchResult[] = [];
  const work = argv.synthetic ? await mkdtemp(join(tmpdir(), 'ark-batch-bench-')) : undefined;
  try {
    const inputs = argv.synthetic ? await syntheticInputs(argv, work!, log) : [{ path: argv.source as string, rows: undefined }];
    // The synthetic data has an id column and a text column; a bare `--synthetic` uses them.
    const args = argv.synthetic && argv.user === undefined && argv.body === undefined ? ['--id', 'id', '--user', 'Summarise: {{text}}', ...prepArgs] : prepArgs;
    // The upload stage sends to real TOS under a scratch prefix, or to a loopback serve in this process.
    const upload = stages.includes('upload') ? await openUploadTarget(argv, log) : undefined;
    try {
      for (const { path: source, rows } of inputs) {
        const label = rows === undefined ? source : `synthetic-${rows}.${argv.syntheticFormat}`;
        for (const stage of stages) {
          log(`bench: ${stage} ${source} (${argv.runs} runs after a warm-up)`);
          const onRun = (run: BenchRun, i: number, warmup: boolean) =>
            log(`  ${warmup ? 'warm-up' : `run ${i}`}: ${run.seconds.toFixed(2)} s, ${(run.bytesIn / 1e6 / run.seconds).toFixed(1)} MB/s, CPU ${run.cpuSeconds.toFixed(2)} s, peak RSS ${formatBytes(run.maxRssBytes)}`);
          if (stage === 'join') {
            const { benchJoin } = await import('../../lib/bench/join-bench.ts');
            const r = await benchJoin({ source, rows: rows!, dir: work!, joinArgs: joinArgsOf(args), runs: argv.runs, signal, onRun });
            results.push({ ...r, source: label });
            continue;
          }
          const r = await benchPrep({
            source,
            prepArgs: args,
            runs: argv.runs,
            target: argv.target,
            signal,
            tokens,
            upload: stage === 'upload' && upload ? { ...upload.target, keyPrefix: `${upload.target.keyPrefix}${basename(label)}-` } : undefined,
            onRun,
          });
          results.push({ ...r, source: label });
        }
      }
    } catch (err) {
      // The run's own error is the one to report; a failed cleanup is told, not thrown over it.
      await upload?.close().catch((e: Error) => process.stderr.write(`ark-batch: bench cleanup failed too: ${e.message}\n`));
      throw err;
    }
    await upload?.close();
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
  if (argv.report) await writeReport(argv.report, results);
  if (argv.json) process.stdout.write(JSON.stringify(results) + '\n');
  else for (const r of results) log(describe(r));
}

/** join reads the source with prep's source flags (format, delimiter, header, id rule) only. */
function joinArgsOf(prepArgs: readonly string[]): string[] {
  const keep = new Set(['--from', '--delimiter', '--id', '--id-template']);
  const out: string[] = [];
  for (let i = 0; i < prepArgs.length; i++) {
    if (prepArgs[i] === '--no-header') out.push('--no-header');
    else if (keep.has(prepArgs[i]!)) out.push(prepArgs[i]!, prepArgs[++i]!);
    else if (prepArgs[i]!.startsWith('--') && prepArgs[i] !== '--no-header') i++;
  }
  return out;
}

async function syntheticInputs(argv: Args, dir: string, log: (s: string) => void): Promise<{ path: string; rows: number }[]> {
  const synthetic = await import('../../lib/bench/synthetic.ts');
  const sizes = argv.rows.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new ArkBatchError('E_USAGE', `Expected --rows N[,N…], got ${argv.rows}`);
  const paths: { path: string; rows: number }[] = [];
  for (const rows of sizes) {
    const path = join(dir, `synthetic-${rows}.${argv.syntheticFormat}`);
    log(`bench: generating ${rows} synthetic rows (seed ${argv.seed}) as ${argv.syntheticFormat}`);
    if (argv.syntheticFormat === 'csv') await synthetic.generateCsv({ rows, seed: argv.seed, path });
    else if (argv.syntheticFormat === 'jsonl') await synthetic.generateJsonl({ rows, seed: argv.seed, path });
    else synthetic.generateParquet({ rows, seed: argv.seed, path });
    paths.push({ path, rows });
  }
  return paths;
}

async function writeReport(path: string, results: readonly PrepBenchResult[]): Promise<void> {
  const { markdownReport, throughputSvg } = await import('../../lib/bench/report.ts');
  const chart = basename(path).replace(/\.md$/i, '') + '.svg';
  await mkdir(dirname(path), { recursive: true });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, ${process.platform}/${process.arch}`;
  await writeFile(join(dirname(path), chart), throughputSvg(results));
  await writeFile(path, markdownReport(results, { title: 'ark-batch bench', machine, date: new Date().toISOString().slice(0, 10) }, chart));
}

function describe(r: PrepBenchResult): string {
  const p = r.projection;
  if (r.stage === 'join') {
    return `bench: join ${r.source}: ${Math.round(r.rowsPerSecond.median).toLocaleString('en-US')} rows/s, ${r.mbPerSecondIn.median.toFixed(1)} MB/s of source + results, peak RSS ${formatBytes(r.maxRssBytes.max)}`;
  }
  return (
    `bench: ${r.stage}${r.uploadTarget ? ` (to ${r.uploadTarget})` : ''} ${r.source}: ${Math.round(r.rowsPerSecond.median).toLocaleString('en-US')} rows/s, ${r.mbPerSecondIn.median.toFixed(1)} MB/s in ` +
    `(${r.mbPerSecondIn.min.toFixed(1)}–${r.mbPerSecondIn.max.toFixed(1)}), ${r.mbPerSecondOut.median.toFixed(1)} MB/s out, peak RSS ${formatBytes(r.maxRssBytes.max)}; ` +
    `${r.lines} lines, ${formatBytes(r.bytesOut)}, ${describeTokens(r.inputTokens, r)}; ` +
    `needs ${p.parts} file${p.parts === 1 ? '' : 's'} under ${formatBytes(p.maxFileBytes)} → ${p.jobs} job${p.jobs === 1 ? '' : 's'}, ~${p.seconds.toFixed(1)} s of prep`
  );
}

export const benchCommand: CommandModule<object, Args> = {
  command: 'bench [source]',
  describe: 'Benchmark prep on your own source or the seeded synthetic dataset: throughput, memory, size, tokens, jobs needed',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
