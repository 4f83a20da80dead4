import { randomBytes } from 'node:crypto';
import { ArkBatchError } from '../lib/errors.ts';
import type { BenchUploadTarget } from '../lib/bench/prep-bench.ts';
import { formatTosUri, parseTosUri, tosError } from '../lib/tos/client.ts';
import { parseSize } from '../lib/util/size.ts';
import { openTos } from './tos.ts';

/** The upload stage's flags of `ark-batch bench`. */
export interface BenchUploadFlags {
  readonly uploadTo?: 'local' | 'tos';
  readonly uploadPrefix?: string;
  readonly keep: boolean;
  readonly partSize: string;
  readonly concurrency: number;
  readonly checkpoint?: string;
}

export interface OpenedUploadTarget {
  readonly target: BenchUploadTarget;
  /** Removes what the stage wrote (unless --keep) and releases the client or the local serve. */
  close(): Promise<void>;
}

/** Folder under the user's prefix that holds every bench run: recognisable in a bucket listing. */
export const BENCH_FOLDER = 'ark-batch-bench/';

/**
 * Where the upload stage writes. With `--upload-prefix tos://BUCKET/DIR/` (or `--upload-to tos`):
 * real TOS, configured as for `upload` (VOLC_* and TOS_ENDPOINT, through `openTos`), under a
 * fresh `DIR/ark-batch-bench/<time>-<random>/` that is removed when the bench ends — objects
 * deleted, unfinished multipart uploads aborted — unless `--keep`. Otherwise a loopback serve
 * started in this process, gone when the bench ends.
 */
export async function openUploadTarget(argv: BenchUploadFlags, log: (s: string) => void): Promise<OpenedUploadTarget> {
  if (argv.checkpoint !== undefined) throw new ArkBatchError('E_USAGE', 'bench uploads a fresh object per run; --checkpoint does not apply');
  parseSize(argv.partSize, '--part-size');
  const mode = argv.uploadTo ?? (argv.uploadPrefix !== undefined ? 'tos' : 'local');
  const args = ['--part-size', argv.partSize, '--concurrency', String(argv.concurrency)];
  const run = `${BENCH_FOLDER}${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}/`;
  if (mode === 'local') {
    if (argv.uploadPrefix !== undefined) throw new ArkBatchError('E_USAGE', '--upload-prefix names a TOS target; it does not go with --upload-to local');
    const { startLocalServer } = await import('../lib/local/server.ts');
    const server = await startLocalServer();
    try {
      await server.store.createBucket('bench');
    } catch (err) {
      await server.close();
      throw err;
    }
    log('bench: upload stage → a loopback serve in this process (give --upload-prefix tos://BUCKET/DIR/ to measure TOS)');
    // The child prep must see the local service only, never the user's own TOS settings.
    const env = { ...process.env, TOS_ENDPOINT: server.tosEndpoint, VOLC_ACCESSKEY: server.accessKey, VOLC_SECRETKEY: server.secretKey, VOLC_REGION: server.region, VOLC_SESSION_TOKEN: '' };
    return { target: { bucket: 'bench', keyPrefix: run, label: 'local serve', env, args }, close: () => server.close() };
  }
  if (argv.uploadPrefix === undefined) throw new ArkBatchError('E_USAGE', '--upload-to tos needs --upload-prefix tos://BUCKET/DIR/ (where the bench may write and remove its objects)');
  const location = parseTosUri(argv.uploadPrefix);
  const base = location.key === '' || location.key.endsWith('/') ? location.key : `${location.key}/`;
  const keyPrefix = base + run;
  const label = formatTosUri({ bucket: location.bucket, key: keyPrefix });
  // The same config and client factory as `upload`: a missing key is an E_CONFIG naming the variable.
  const tos = await openTos({ local: false, timeout: 60 }, location.bucket);
  try {
    // Fail before any timing when the bucket is wrong or the credentials do not reach it.
    await tos.client.headBucket(location.bucket).catch((err) => {
      throw tosError('E_TOS', `HeadBucket of tos://${location.bucket}`, err);
    });
  } catch (err) {
    await tos.close();
    throw err;
  }
  log(`bench: upload stage → ${label} (${argv.keep ? 'kept afterwards: --keep' : 'removed afterwards'})`);
  return {
    target: { bucket: location.bucket, keyPrefix, label, args },
    async close() {
      try {
        if (argv.keep) {
          log(`bench: kept the uploaded objects under ${label}`);
          return;
        }
        const { removePrefix } = await import('../lib/tos/remove-prefix.ts');
        const r = await removePrefix({ client: tos.client, bucket: location.bucket, prefix: keyPrefix });
        log(`bench: removed ${r.deleted} object${r.deleted === 1 ? '' : 's'}${r.aborted ? ` and aborted ${r.aborted} unfinished upload${r.aborted === 1 ? '' : 's'}` : ''} under ${label}`);
      } finally {
        await tos.close();
      }
    },
  };
}
