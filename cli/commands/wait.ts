import cliProgress from 'cli-progress';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { JobEndedError, waitForJob, type ArkJob } from '../../lib/ark/jobs.ts';
import { parseDuration } from '../../lib/util/duration.ts';
import { arkOptions, counts, printJson, progressLine, withArk } from '../ark.ts';
import { interruptSignal } from '../io.ts';

function builder(y: Argv) {
  return arkOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Job id (bi-…)' })
    .option('interval', { type: 'string', default: '5s', describe: 'First gap between polls; it grows while nothing changes (e.g. 5s, 1m)' })
    .option('max-interval', { type: 'string', default: '1m', describe: 'Longest gap between polls' })
    .option('timeout', { type: 'string', describe: 'Give up after this long (e.g. 30m, 6h; default: never)' });
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

interface Watcher {
  update(job: ArkJob): void;
  stop(): void;
}

/** A bar of RequestCounts on a terminal; a line per change otherwise. */
function watcher(quiet: boolean): Watcher {
  if (quiet) return { update() {}, stop() {} };
  if (!process.stderr.isTTY) return { update: (job) => process.stderr.write(`ark-batch: ${progressLine(job)}\n`), stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{id} {phase} {bar} {value}/{total} | {failed} failed', hideCursor: true, clearOnComplete: false, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(job) {
      const c = counts(job);
      const payload = { id: job.Id, phase: job.Status.Phase, failed: c.failed };
      if (!started) {
        bar.start(Math.max(1, c.total), c.done, payload);
        started = true;
      } else {
        bar.setTotal(Math.max(1, c.total));
        bar.update(c.done, payload);
      }
    },
    stop: () => started && bar.stop(),
  };
}

export const waitCommand: CommandModule<object, Args> = {
  command: 'wait <id>',
  describe: 'Wait for a batch job to end: exit 0 on Completed, 1 on Failed/Terminated, 3 on timeout',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler: async (argv) => {
    const intervalMs = parseDuration(argv.interval, '--interval');
    const maxIntervalMs = parseDuration(argv.maxInterval, '--max-interval');
    const timeoutMs = argv.timeout === undefined ? undefined : parseDuration(argv.timeout, '--timeout');
    await withArk(argv, async ({ client, note }) => {
      const view = watcher(argv.quiet || argv.json);
      try {
        const job = await waitForJob(client, argv.id as string, { intervalMs, maxIntervalMs, timeoutMs, signal: interruptSignal(), onProgress: (j) => view.update(j) });
        view.stop();
        if (argv.json) printJson(job);
        else note(progressLine(job));
      } catch (err) {
        view.stop();
        if (argv.json && err instanceof JobEndedError) printJson(err.job);
        throw err;
      }
    });
  },
};
