import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { getJob } from '../../lib/ark/jobs.ts';
import { arkOptions, describeJob, printJson, withArk } from '../ark.ts';

function builder(y: Argv) {
  return arkOptions(y).positional('id', { type: 'string', demandOption: true, describe: 'Job id (bi-…)' });
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

export const statusCommand: CommandModule<object, Args> = {
  command: 'status <id>',
  describe: 'Show a batch job: phase, request counts, tokens, locations',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler: async (argv) => {
    await withArk(argv, async ({ client }) => {
      const job = await getJob(client, argv.id as string);
      if (argv.json) printJson(job);
      else process.stdout.write(describeJob(job) + '\n');
    });
  },
};
