import { stopJob } from '../../lib/ark/jobs.ts';
import { jobActionCommand } from '../job-action.ts';

export const stopCommand = jobActionCommand({
  verb: 'stop',
  past: 'stopping',
  describe: 'Stop a Queued or Running job (it ends Terminated; finished lines stay downloadable)',
  run: stopJob,
});
