import type { CommandModule } from 'yargs';
import { prepCommand } from './prep.ts';
import { validateCommand } from './validate.ts';
import { uploadCommand } from './upload.ts';
import { downloadCommand } from './download.ts';
import { lsCommand } from './ls.ts';
import { submitCommand } from './submit.ts';
import { statusCommand } from './status.ts';
import { listCommand } from './list.ts';
import { waitCommand } from './wait.ts';
import { stopCommand } from './stop.ts';
import { resumeCommand } from './resume.ts';
import { deleteCommand } from './delete.ts';
import { resultsCommand } from './results.ts';
import { joinCommand } from './join.ts';
import { retryCommand } from './retry.ts';
import { runCommand } from './run.ts';
import { execCommand } from './exec.ts';
import { serveCommand } from './serve.ts';
import { benchCommand } from './bench.ts';

// Each verb is one module under cli/commands; this list is the CLI's table of contents,
// in pipeline order.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  prepCommand,
  validateCommand,
  uploadCommand,
  downloadCommand,
  lsCommand,
  submitCommand,
  statusCommand,
  listCommand,
  waitCommand,
  stopCommand,
  resumeCommand,
  deleteCommand,
  resultsCommand,
  joinCommand,
  retryCommand,
  runCommand,
  execCommand,
  serveCommand,
  benchCommand,
];
