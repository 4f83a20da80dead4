import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ACTIVE_PHASES, getJob, JobEndedError } from '../../lib/ark/jobs.ts';
import { downloadJobResults } from '../../lib/ark/results.ts';
import { ArkBatchError } from '../../lib/errors.ts';
import { formatBytes } from '../../lib/util/size.ts';
import { arkOptions, printJson, progressLine, withArk } from '../ark.ts';
import { interruptSignal } from '../io.ts';

function builder(y: Argv) {
  return arkOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Job id (bi-…)' })
    .option('output', { alias: 'o', type: 'string', describe: 'Folder for results.jsonl and errors.jsonl (default: ./<job id>)' })
    .option('tos-endpoint', { type: 'string', describe: 'TOS endpoint (default: $TOS_ENDPOINT or https://tos-<region>.volces.com)' });
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

export const resultsCommand: CommandModule<object, Args> = {
  command: 'results <id>',
  describe: "Download a finished job's results.jsonl and errors.jsonl (verified, written atomically); prints the paths",
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler: async (argv) => {
    const id = argv.id as string;
    const dir = argv.output ?? id;
    await withArk(argv, async ({ client, tos, note }) => {
      const job = await getJob(client, id);
      if (ACTIVE_PHASES.includes(job.Status.Phase)) {
        throw new ArkBatchError('E_USAGE', `job ${id} is ${job.Status.Phase}; results exist once it is Completed or Terminated (ark-batch wait ${id})`);
      }
      const files = await downloadJobResults({ tos: await tos(), job, dir, signal: interruptSignal(), onFile: (f) => note(`${f.kind}: ${f.path} (${f.lines} lines, ${formatBytes(f.bytes)}) from tos://${f.bucket}/${f.key}`) });
      if (argv.json) printJson({ id, phase: job.Status.Phase, requestCounts: job.RequestCounts, files: files.map(({ kind, path, bytes, lines, bucket, key }) => ({ kind, path, bytes, lines, source: `tos://${bucket}/${key}` })) });
      else for (const f of files) process.stdout.write(`${f.path}\n`);
      if (job.Status.Phase === 'Terminated') note(`job ${id} was Terminated; these are partial results (${progressLine(job)})`);
      // A Failed job usually has nothing to download; its failure is the answer, with exit 1.
      if (job.Status.Phase === 'Failed') throw new JobEndedError(job);
    });
  },
};
