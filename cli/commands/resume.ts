import { resumeJob } from '../../lib/ark/jobs.ts';
import { jobActionCommand } from '../job-action.ts';

export const resumeCommand = jobActionCommand({
  verb: 'resume',
  past: 'resumed',
  describe: 'Resume a Terminated or Failed job',
  run: resumeJob,
});
