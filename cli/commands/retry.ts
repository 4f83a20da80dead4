import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { buildRetry, type RetrySummary } from '../../lib/join/retry.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { resolveInputs } from './join-inputs.ts';
import { resultInputOptions, spillOptionsFrom } from '../options.ts';

function builder(y: Argv) {
  return resultInputOptions(y)
    .positional('batch', { type: 'string', demandOption: true, describe: 'The batch JSONL that was submitted, or -' })
    .option('output', { alias: 'o', type: 'string', describe: 'Retry batch file (default: stdout)' })
    .option('only-codes', { type: 'string', array: true, describe: 'Retry only failures with these error codes, e.g. RateLimitExceeded' })
    .option('missing', { type: 'boolean', default: true, describe: 'Also retry requests that never came back (--no-missing: only failures)' })
    .example('$0 retry batch.jsonl -r results.jsonl -e errors.jsonl -o retry.jsonl', 'failed and missing requests, same custom_ids')
    .example('$0 retry batch.jsonl -e errors.jsonl --only-codes RateLimitExceeded --no-missing -o retry.jsonl', 'only rate-limited ones');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const signal = interruptSignal();
  const inputs = await resolveInputs({ results: argv.results, errors: argv.errors ?? [] }, { local: argv.local, quiet: argv.quiet || argv.json, signal });
  const summary = await buildRetry({
    batch: argv.batch as string,
    results: inputs.results,
    errors: inputs.errors,
    output: argv.output ?? process.stdout,
    onlyCodes: argv.onlyCodes,
    includeMissing: argv.missing,
    ...spillOptionsFrom(argv),
    signal,
  }).finally(() => inputs.cleanup());
  writeSummary(summary, { json: argv.json, quiet: argv.quiet, dataOnStdout: argv.output === undefined, human: describe });
}

function describe(s: RetrySummary): string {
  return (
    `retry: ${s.requests} requests = ${s.ok} ok + ${s.failed} failed + ${s.missing} missing; ` +
    `${s.written} written to ${s.output}` +
    (s.skippedByCode ? `, ${s.skippedByCode} failures left out by --only-codes` : '') +
    (s.orphans ? `; ${s.orphans} results match no request` : '')
  );
}

export const retryCommand: CommandModule<object, Args> = {
  command: 'retry <batch>',
  describe: 'Write the request lines that failed or never came back, ready to submit again',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
