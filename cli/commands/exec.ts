import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { execBatch, type ExecStats, type ExecSummary } from '../../lib/chat/exec.ts';
import { ArkBatchError } from '../../lib/errors.ts';
import { parseDuration } from '../../lib/util/duration.ts';
import { configFromEnv, requireApiKey, startLocalConfig } from '../config.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { parseMaxRejects } from '../options.ts';

function builder(y: Argv) {
  return y
    .positional('batch', { type: 'string', default: '-', describe: 'Batch JSONL ({custom_id, body} per line), or - for stdin' })
    .option('model', { type: 'string', demandOption: true, describe: 'Set as body.model: the batch endpoint id ep-bi-… (or any model of an OpenAI-compatible server)' })
    .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'RESULTS.jsonl: 200 answers, appended; rerunning skips the custom_ids already in it' })
    .option('errors', { type: 'string', describe: 'ERRORS.jsonl: every other outcome (default: RESULTS with .errors.jsonl)' })
    .option('retry-errors', { type: 'boolean', default: false, describe: 'Resend lines whose custom_id is only in ERRORS (ERRORS starts afresh)' })
    .option('concurrency', { alias: 'c', type: 'number', default: 256, describe: 'Requests in flight at most' })
    .option('timeout', { type: 'string', default: '24h', describe: 'Deadline per request, retries included (Ark advises 24–72h), e.g. 24h, 30m, 90s' })
    .option('rpm', { type: 'number', describe: 'Client-side limit: requests started per minute' })
    .option('tpm', { type: 'number', describe: 'Client-side limit: tokens per minute (estimated before, actual after)' })
    .option('max-rejects', { type: 'string', describe: 'Keep going past this many refused lines (a number or all); default: stop at the first' })
    .option('base-url', { type: 'string', describe: 'API base URL (default: ARK_BASE_URL or https://ark.cn-beijing.volces.com/api/v3)' })
    .option('path', { type: 'string', default: '/batch/chat/completions', describe: 'Appended to the base URL; /chat/completions for other OpenAI-compatible servers' })
    .option('local', { type: 'boolean', default: false, describe: 'Use the embedded local service (echo model) instead of Ark' })
    .option('flush-interval', { type: 'string', default: '1s', describe: 'Longest time a finished line waits before it is written' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress, no summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON on stdout' })
    .example('$0 exec batch.jsonl --model ep-bi-2024… -o results.jsonl', 'results.jsonl + results.errors.jsonl; rerun to finish after an interruption')
    .example('$0 exec batch.jsonl --model ep-bi-2024… -o results.jsonl --retry-errors', 'resend only what failed');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const input = argv.batch as string;
  const errorsPath = argv.errors ?? defaultErrorsPath(argv.output);
  if (errorsPath === argv.output) throw new ArkBatchError('E_USAGE', `Expected --errors to differ from --output, got ${argv.output} for both`);
  if (input !== '-') {
    await stat(input).catch((err: NodeJS.ErrnoException) => {
      throw new ArkBatchError('E_USAGE', `Cannot read ${input}: ${err.code ?? err.message}`, { file: input, cause: err });
    });
  }
  const local = argv.local ? await startLocalConfig() : undefined;
  const progress = createExecProgress(argv.quiet || argv.json);
  try {
    const config = local?.config ?? configFromEnv();
    const summary = await execBatch({
      input: input === '-' ? process.stdin : createReadStream(input),
      inputName: input,
      model: argv.model,
      resultsPath: argv.output,
      errorsPath,
      baseUrl: argv.baseUrl ?? config.arkBaseUrl,
      apiKey: requireApiKey(config),
      path: argv.path,
      concurrency: argv.concurrency,
      timeoutMs: parseDuration(argv.timeout, '--timeout'),
      rpm: argv.rpm,
      tpm: argv.tpm,
      maxRejects: parseMaxRejects(argv.maxRejects),
      retryErrors: argv.retryErrors,
      flushIntervalMs: parseDuration(argv.flushInterval, '--flush-interval'),
      signal: interruptSignal(),
      // Refused lines are reported as they happen, located, even with --quiet or --json: unreported
      // they would be silent data loss.
      onReject: (err) => process.stderr.write(`ark-batch exec: ${err.message}\n`),
      onProgress: progress.update,
    }).finally(() => progress.stop());
    writeSummary(summary, { json: argv.json, quiet: argv.quiet, dataOnStdout: false, human: describe });
  } finally {
    await local?.server.close();
  }
}

function defaultErrorsPath(results: string): string {
  return /\.jsonl$/i.test(results) ? results.replace(/\.jsonl$/i, '.errors.jsonl') : `${results}.errors.jsonl`;
}

function rate(n: number, ms: number): string {
  return (n / Math.max(0.001, ms / 1000)).toFixed(1);
}

function line(s: Readonly<ExecStats>): string {
  return `${s.succeeded} ok, ${s.failed} failed, ${s.rejected} refused, ${s.skipped} skipped, ${s.inFlight} in flight | ${rate(s.succeeded + s.failed, s.elapsedMs)} req/s, ${rate(s.tokens, s.elapsedMs)} tokens/s`;
}

function describe(s: ExecSummary): string {
  return (
    `exec: ${s.lines} lines → ${s.succeeded} succeeded (${s.resultsPath}), ${s.failed} failed (${s.errorsPath}), ` +
    `${s.rejected} refused before sending, ${s.skipped} already done; ${s.attempts} HTTP attempts, ${s.tokens} tokens, ${(s.elapsedMs / 1000).toFixed(1)} s`
  );
}

/** A live line on a TTY; on a pipe, one plain line every 30 s so logs show the run is alive. */
function createExecProgress(off: boolean): { update: (s: Readonly<ExecStats>) => void; stop: () => void } {
  if (off) return { update() {}, stop() {} };
  if (!process.stderr.isTTY) {
    let last = Date.now();
    return {
      update(s) {
        if (Date.now() - last < 30_000) return;
        last = Date.now();
        process.stderr.write(`exec: ${line(s)}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'exec {text}', hideCursor: true, clearOnComplete: true, fps: 5 });
  bar.start(1, 0, { text: '' });
  return { update: (s) => bar.update(0, { text: line(s) }), stop: () => bar.stop() };
}

export const execCommand: CommandModule<object, Args> = {
  command: 'exec [batch]',
  describe: 'Run a batch JSONL file against Ark Batch Chat (or any OpenAI-compatible endpoint), writing job-shaped RESULTS/ERRORS; resumable',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
