/**
 * The CLI's contact with the process: signals, summaries on the right stream.
 * Data goes to stdout, everything for humans to stderr.
 */

/**
 * An AbortSignal that fires on the first SIGINT/SIGTERM, so pipelines unwind through their
 * destroy paths (temp files removed, uploads aborted) instead of the process dying mid-write.
 * A second signal exits at once.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nark-batch: ${signal}, stopping and cleaning up…\n`);
    process.exitCode = 130;
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return controller.signal;
}

export interface SummaryOptions<S> {
  readonly json: boolean;
  readonly quiet: boolean;
  /** True when stdout carries the data, so a JSON summary must go to stderr instead. */
  readonly dataOnStdout: boolean;
  readonly human: (summary: S) => string;
}

export function writeSummary<S>(summary: S, options: SummaryOptions<S>): void {
  if (options.json) {
    // CPU and peak memory of this process ride along, for `ark-batch bench` and scripts that measure runs.
    const usage = process.resourceUsage();
    const resources = { cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssBytes: usage.maxRSS * 1024 };
    const text = JSON.stringify({ ...summary, resources }) + '\n';
    (options.dataOnStdout ? process.stderr : process.stdout).write(text);
    return;
  }
  if (!options.quiet) process.stderr.write(options.human(summary) + '\n');
}
