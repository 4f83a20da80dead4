import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { JOB_PHASES, listJobs } from '../../lib/ark/jobs.ts';
import { ArkBatchError } from '../../lib/errors.ts';
import { arkOptions, jobsTable, printJson, withArk } from '../ark.ts';

function builder(y: Argv) {
  return arkOptions(y)
    .option('phase', { type: 'string', array: true, choices: JOB_PHASES, describe: 'Only jobs in these phases; repeatable' })
    .option('name', { type: 'string', describe: 'Only jobs whose name contains this' })
    .option('limit', { type: 'number', describe: 'At most this many jobs (default: all, following every page)' });
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

export const listCommand: CommandModule<object, Args> = {
  command: 'list',
  describe: 'List batch jobs of the project, newest first',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler: async (argv) => {
    if (argv.limit !== undefined && !(Number.isSafeInteger(argv.limit) && argv.limit > 0)) {
      throw new ArkBatchError('E_USAGE', `Expected --limit to be a positive integer, got ${String(argv.limit)}`);
    }
    await withArk(argv, async ({ config, client }) => {
      const jobs = await listJobs(client, { projectName: config.project, phases: argv.phase, name: argv.name, limit: argv.limit });
      if (argv.json) printJson(jobs);
      else process.stdout.write((jobs.length ? jobsTable(jobs) : 'no jobs') + '\n');
    });
  },
};
