import type { TosClient } from '@volcengine/tos-sdk';
import type { Argv } from 'yargs';
import { ArkBatchError } from '../lib/errors.ts';
import type { LocalServer } from '../lib/local/server.ts';
import { createTosClient, tosErrorInfo } from '../lib/tos/client.ts';
import { configFromEnv, requireCredentials, startLocalConfig } from './config.ts';

/** Flags every TOS command shares. */
export function tosOptions<T>(y: Argv<T>) {
  return y
    .option('local', { type: 'boolean', default: false, describe: 'Use the embedded local service (data under .ark-batch/local) instead of TOS' })
    .option('retries', { type: 'number', default: 5, describe: 'Retries per request on 5xx/429/resets/timeouts, with exponential backoff and jitter' })
    .option('timeout', { type: 'number', default: 60, describe: 'Seconds a request may stay idle before it fails (and is retried)' });
}

/** The multipart part loop's flags (upload, prep --upload). */
export function uploadOptions<T>(y: Argv<T>) {
  return y
    .option('part-size', { type: 'string', default: '8MiB', describe: 'Multipart part size (>= 5MiB); raised for large files, grown for long streams' })
    .option('concurrency', { type: 'number', default: 4, describe: 'Parts uploading at once (memory ≈ part size × (concurrency + 1))' })
    .option('checkpoint', { type: 'string', describe: 'Resume file: an interrupted upload continues from it and sends only missing parts' });
}

export interface TosSession {
  readonly client: TosClient;
  readonly local: boolean;
  /** Stops the embedded service, if one was started. */
  close(): Promise<void>;
}

/**
 * A TOS client from the environment (VOLC_ACCESSKEY, VOLC_SECRETKEY, VOLC_SESSION_TOKEN,
 * VOLC_REGION, TOS_ENDPOINT) or, with --local, from the embedded service, where a missing
 * bucket is created on first use so a dry run needs no setup.
 */
export async function openTos(argv: { local: boolean; timeout: number }, bucket: string): Promise<TosSession> {
  let server: LocalServer | undefined;
  let config = configFromEnv();
  if (argv.local) ({ config, server } = await startLocalConfig());
  else requireCredentials(config);
  if (!(argv.timeout > 0)) throw new ArkBatchError('E_USAGE', `Expected --timeout to be a number of seconds > 0, got ${argv.timeout}`);
  try {
    const client = createTosClient(config, { requestTimeoutMs: argv.timeout * 1000 });
    if (server) {
      await client.headBucket(bucket).catch(async (err) => {
        if (tosErrorInfo(err).status !== 404) throw err;
        await client.createBucket({ bucket });
      });
    }
    return { client, local: argv.local, close: async () => server?.close() };
  } catch (err) {
    await server?.close();
    throw err;
  }
}
