import type { CommandModule } from 'yargs';
import { prepCommand } from './prep.ts';
import { validateCommand } from './validate.ts';
import { serveCommand } from './serve.ts';
import { benchCommand } from './bench.ts';
import { uploadCommand } from './upload.ts';
import { downloadCommand } from './download.ts';
import { lsCommand } from './ls.ts';
import { execCommand } from './exec.ts';

// Each verb is one module under cli/commands; this list is the CLI's table of contents.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [prepCommand, validateCommand, uploadCommand, downloadCommand, lsCommand, execCommand, serveCommand, benchCommand];
