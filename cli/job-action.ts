import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { JobCallOptions } from '../lib/ark/jobs.ts';
import type { ArkOpenApiClient } from '../lib/ark/openapi-client.ts';
import { arkOptions, printJson, withArk, type ArkFlags } from './ark.ts';

/** The shape of stop, resume and delete: one id, one call, a one-line report. */
export function jobActionCommand(spec: {
  verb: string;
  past: string;
  describe: string;
  run: (client: ArkOpenApiClient, id: string, options: JobCallOptions) => Promise<void>;
  extra?: (y: Argv) => Argv;
  confirm?: (argv: ArgumentsCamelCase<ArkFlags & { id: string; yes?: boolean }>) => Promise<void>;
}): CommandModule {
  return {
    command: `${spec.verb} <id>`,
    describe: spec.describe,
    builder: (y: Argv) => {
      const withId = arkOptions(y).positional('id', { type: 'string', demandOption: true, describe: 'Job id (bi-…)' });
      return (spec.extra ? spec.extra(withId as unknown as Argv) : withId) as Argv;
    },
    handler: async (raw) => {
      const argv = raw as unknown as ArgumentsCamelCase<ArkFlags & { id: string; yes?: boolean }>;
      await spec.confirm?.(argv);
      await withArk(argv, async ({ client, note }) => {
        await spec.run(client, argv.id, {});
        if (argv.json) printJson({ id: argv.id, action: spec.verb, ok: true });
        else note(`${spec.past} ${argv.id}`);
      });
    },
  };
}
