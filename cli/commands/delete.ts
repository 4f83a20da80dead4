import { createInterface } from 'node:readline/promises';
import { deleteJob } from '../../lib/ark/jobs.ts';
import { ArkBatchError } from '../../lib/errors.ts';
import { jobActionCommand } from '../job-action.ts';

export const deleteCommand = jobActionCommand({
  verb: 'delete',
  past: 'deleted',
  describe: 'Delete a finished job record (asks for confirmation on a terminal unless --yes)',
  run: deleteJob,
  extra: (y) => y.option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask' }),
  confirm: async (argv) => {
    // Scripts and pipes have no one to ask; a person at a terminal confirms or passes --yes.
    if (argv.yes || !process.stdin.isTTY) return;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`Delete batch job ${argv.id}? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) throw new ArkBatchError('E_USAGE', `not deleted: ${argv.id} (answer y, or pass --yes)`);
    } finally {
      rl.close();
    }
  },
});
