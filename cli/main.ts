import yargs from 'yargs';
import { exitCodeFor, isArkBatchError } from '../lib/errors.ts';
import { commands } from './commands/index.ts';

/**
 * Parses argv, runs one command and returns the exit status. Only cli/ touches
 * process.env, process.exit and the console; the library below never does.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let status = 0;
  const parser = yargs([...argv])
    .scriptName('ark-batch')
    .usage('$0 <command> [options]\n\nStreaming batch inference on Volcengine Ark: prep, validate, upload, submit, join.')
    .strict()
    .demandCommand(1, 'Name a command (see --help).')
    .recommendCommands()
    .fail((msg, err) => {
      throw err ?? new UsageFailure(msg);
    })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stderr.columns ?? 100));
  for (const command of commands) parser.command(command);
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
  } catch (err) {
    status = report(err);
  }
  return status || (process.exitCode as number | undefined) || 0;
}

class UsageFailure extends Error {}

/**
 * yargs renders a command's whole help text before running it (cacheHelpMessage: string-width
 * over every option, ~80 ms of a 0.4 s start), to show it if the command fails. Our fail()
 * throws instead of showing help, so that text was never read; `--help` renders its own.
 */
function skipHelpCache(parser: unknown): void {
  const internal = (parser as { getInternalMethods?: () => { getUsageInstance(): { cacheHelpMessage?: () => void } } }).getInternalMethods;
  const usage = internal?.call(parser).getUsageInstance();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

function report(err: unknown): number {
  if (err instanceof UsageFailure) {
    process.stderr.write(`ark-batch: ${err.message}\nRun 'ark-batch --help' for usage.\n`);
    return 2;
  }
  if (isArkBatchError(err)) {
    process.stderr.write(`ark-batch: ${err.message}\n`);
    return exitCodeFor(err);
  }
  if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return 0;
  // Ctrl-C: interruptSignal() already said so; the pipeline unwound and cleaned up.
  if ((err as Error)?.name === 'AbortError') return 130;
  const e = err as Error;
  process.stderr.write(`ark-batch: ${e?.stack ?? String(err)}\n`);
  return 1;
}
