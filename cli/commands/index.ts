import type { CommandModule } from 'yargs';

// Each verb is one module under cli/commands; the list is the CLI's table of contents.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [];
