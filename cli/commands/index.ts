import type { CommandModule } from 'yargs';
import { prepCommand } from './prep.ts';
import { validateCommand } from './validate.ts';
import { serveCommand } from './serve.ts';
import { joinCommand } from './join.ts';
import { retryCommand } from './retry.ts';

// Each verb is one module under cli/commands; this list is the CLI's table of contents.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [prepCommand, validateCommand, serveCommand, joinCommand, retryCommand];
