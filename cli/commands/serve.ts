import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import { LOCAL_ACCESS_KEY, LOCAL_API_KEY, LOCAL_REGION, LOCAL_SECRET_KEY } from '../../lib/local/credentials.ts';

interface ServeArgs {
  host: string;
  port: number;
  data?: string;
  accessKey: string;
  secretKey: string;
  apiKey: string;
  region: string;
  maxRunning: number;
  model?: string;
  upstream?: string;
  upstreamKey?: string;
  faults?: string;
  seed: number;
  latency: number;
  stallMs: number;
}

/**
 * `ark-batch serve`: the local TOS + Ark service. Prints one JSON line with the endpoints and
 * credentials on stdout (for scripts), a note on stderr (for people), and runs until SIGINT/SIGTERM.
 */
export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Run a local TOS + Ark OpenAPI + chat service on 127.0.0.1 (for tests and dry runs)',
  builder: (yargs: Argv<object>) =>
    yargs
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Interface to listen on' })
      .option('port', { type: 'number', default: 0, describe: 'Port; 0 picks a free one' })
      .option('data', { type: 'string', describe: 'Data dir for objects, uploads and jobs (default: a temp dir removed on exit)' })
      .option('access-key', { type: 'string', default: LOCAL_ACCESS_KEY, describe: 'Access key clients must sign with' })
      .option('secret-key', { type: 'string', default: LOCAL_SECRET_KEY, describe: 'Secret key clients must sign with' })
      .option('api-key', { type: 'string', default: LOCAL_API_KEY, describe: 'Bearer API key for the chat endpoint' })
      .option('region', { type: 'string', default: LOCAL_REGION })
      .option('max-running', { type: 'number', default: 3, describe: 'Batch jobs running at once' })
      .option('model', { type: 'string', choices: ['echo'], describe: 'Built-in model answering chat requests (default: echo)' })
      .option('upstream', { type: 'string', describe: 'Forward chat requests to this OpenAI-compatible base URL instead' })
      .option('upstream-key', { type: 'string', describe: 'API key for --upstream' })
      .option('faults', { type: 'string', describe: 'Fault spec, e.g. uploadPart=0.2:500,getObject=0.05:reset,chat=0.1:503' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed for --faults' })
      .option('latency', { type: 'number', default: 0, describe: 'Milliseconds of delay before each request and each model answer (also inside batch jobs)' })
      .option('stall-ms', { type: 'number', default: 60_000, describe: 'How long a "stall" fault holds a request' })
      .conflicts('model', 'upstream')
      .check((argv) => {
        if (argv.upstreamKey !== undefined && argv.upstream === undefined) throw new ArkBatchError('E_USAGE', '--upstream-key needs --upstream');
        for (const name of ['port', 'seed', 'latency', 'max-running', 'stall-ms'] as const) {
          const value = argv[name];
          if (!Number.isInteger(value) || value < 0) throw new ArkBatchError('E_USAGE', `Expected --${name} to be an integer >= 0, got ${String(value)}`);
        }
        return true;
      }) as unknown as Argv<ServeArgs>,
  handler: async (argv: ArgumentsCamelCase<ServeArgs>) => {
    const { startLocalServer } = await import('../../lib/local/server.ts');
    const server = await startLocalServer({
      host: argv.host,
      port: argv.port,
      dataDir: argv.data,
      accessKey: argv.accessKey,
      secretKey: argv.secretKey,
      apiKey: argv.apiKey,
      region: argv.region,
      faults: argv.faults,
      seed: argv.seed,
      latencyMs: argv.latency,
      stallMs: argv.stallMs,
      maxRunning: argv.maxRunning,
      model: argv.upstream === undefined ? (argv.model ?? 'echo') : undefined,
      upstream: argv.upstream,
      upstreamKey: argv.upstreamKey,
      onError: (err) => process.stderr.write(`ark-batch serve: request failed: ${(err as Error)?.stack ?? String(err)}\n`),
    });
    const { tosEndpoint, openapiEndpoint, chatBaseUrl, region, accessKey, secretKey, apiKey } = server;
    process.stdout.write(`${JSON.stringify({ tosEndpoint, openapiEndpoint, chatBaseUrl, region, accessKey, secretKey, apiKey })}\n`);
    process.stderr.write(
      `ark-batch serve: listening on ${tosEndpoint} (TOS, OpenAPI ?Action=…, chat ${chatBaseUrl}); data in ${server.dataDir}` +
        `${argv.data === undefined ? ' (temporary)' : ''}${argv.faults ? `; faults ${argv.faults} seed ${argv.seed}` : ''}. Stop with Ctrl-C.\n`,
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(`ark-batch serve: ${signal}, shutting down\n`);
    await server.close();
  },
};
