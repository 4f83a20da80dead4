/**
 * What the job commands (submit, status, list, wait, stop, resume, delete, results) share: the
 * connection flags, building the OpenAPI and TOS clients from the environment or `--local`, and
 * the human renderings of jobs.
 */
import type { TosClient } from '@volcengine/tos-sdk';
import type { Argv } from 'yargs';
import type { ArkJob } from '../lib/ark/jobs.ts';
import { createArkOpenApiClient, type ArkOpenApiClient } from '../lib/ark/openapi-client.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { configFromEnv, requireCredentials, startLocalConfig, type CloudConfig } from './config.ts';

/** Flags every job command takes. */
export function arkOptions<T>(y: Argv<T>) {
  return y
    .option('local', { type: 'boolean', default: false, describe: 'Use the embedded local service (data in .ark-batch/local)' })
    .option('project', { type: 'string', describe: 'Ark project (default: $ARK_PROJECT or default)' })
    .option('region', { type: 'string', describe: 'Region (default: $VOLC_REGION or cn-beijing)' })
    .option('openapi-endpoint', { type: 'string', describe: 'OpenAPI endpoint (default: $ARK_OPENAPI_ENDPOINT or https://open.volcengineapi.com)' })
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable JSON on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No notes or progress on stderr' });
}

export interface ArkFlags {
  readonly local: boolean;
  readonly project?: string;
  readonly region?: string;
  readonly openapiEndpoint?: string;
  readonly tosEndpoint?: string;
  readonly json: boolean;
  readonly quiet: boolean;
}

export interface ArkSession {
  readonly config: CloudConfig;
  readonly client: ArkOpenApiClient;
  /** A TOS SDK client for the same account and endpoint (loaded on first use: the SDK is slow to import). */
  tos(): Promise<TosClient>;
  /** A note for people on stderr (not with --quiet or --json). */
  note(text: string): void;
}

/**
 * Runs `fn` with clients for the configured cloud (or the embedded service with --local) and
 * closes everything after, however `fn` ends.
 */
export async function withArk<T>(flags: ArkFlags, fn: (session: ArkSession) => Promise<T>): Promise<T> {
  const local = flags.local ? await startLocalConfig() : undefined;
  try {
    const env = configFromEnv();
    const config: CloudConfig = local
      ? { ...local.config, project: flags.project ?? local.config.project }
      : {
          ...env,
          project: flags.project ?? env.project,
          region: flags.region ?? env.region,
          openapiEndpoint: flags.openapiEndpoint ?? env.openapiEndpoint,
          tosEndpoint: flags.tosEndpoint ?? env.tosEndpoint,
        };
    const credentials = requireCredentials(config);
    const quiet = flags.quiet || flags.json;
    const note = (text: string) => {
      if (!quiet) process.stderr.write(`ark-batch: ${text}\n`);
    };
    const client = createArkOpenApiClient({
      endpoint: config.openapiEndpoint,
      credentials,
      region: config.region,
      onRetry: (r) => note(`${r.action}: ${r.error.remoteCode ?? r.error.status ?? 'error'}${r.error.status ? ` (HTTP ${r.error.status})` : ''}, retrying (${r.retriesLeft} left)`),
    });
    let tos: Promise<TosClient> | undefined;
    try {
      return await fn({ config, client, tos: () => (tos ??= tosClient(config)), note });
    } finally {
      await client.close();
    }
  } finally {
    await local?.server.close();
  }
}

/** The TOS client for result downloads, loaded on first use (the SDK takes a while to import). */
export async function tosClient(config: CloudConfig): Promise<TosClient> {
  requireCredentials(config);
  const { createTosClient } = await import('../lib/tos/client.ts');
  return createTosClient(config);
}

/** `tos://bucket/key` → parts; `folder` requires (and adds) a trailing `/` on the key. */
export async function parseTosUri(uri: string, what: string, options: { folder?: boolean } = {}): Promise<{ bucket: string; key: string }> {
  const { parseTosUri: parse } = await import('../lib/tos/client.ts');
  const location = parse(uri);
  if (options.folder && location.key !== '' && !location.key.endsWith('/')) return { ...location, key: `${location.key}/` };
  if (!options.folder && location.key === '') throw new ArkBatchError('E_USAGE', `Expected ${what} as tos://bucket/key, got ${JSON.stringify(uri)}`);
  return location;
}


export function counts(job: ArkJob): { total: number; completed: number; failed: number; done: number } {
  const c = job.RequestCounts ?? {};
  const completed = c.Completed ?? 0;
  const failed = c.Failed ?? 0;
  return { total: c.Total ?? 0, completed, failed, done: completed + failed };
}

export function modelOf(job: ArkJob): string {
  const m = job.ModelReference;
  if (!m) return '';
  if (m.CustomModelId) return m.CustomModelId;
  return m.FoundationModel ? `${m.FoundationModel.Name}${m.FoundationModel.ModelVersion ? `@${m.FoundationModel.ModelVersion}` : ''}` : '';
}

const uri = (loc?: { BucketName: string; ObjectKey: string }) => (loc ? `tos://${loc.BucketName}/${loc.ObjectKey}` : '');

/** One line a person reads while waiting: `bi-… Running 12/40 done (1 failed)`. */
export function progressLine(job: ArkJob): string {
  const c = counts(job);
  return `${job.Id} ${job.Status.Phase} ${c.done}/${c.total} done (${c.failed} failed)${job.Status.Message ? ` — ${job.Status.Message}` : ''}`;
}

export function describeJob(job: ArkJob): string {
  const c = counts(job);
  const pct = c.total > 0 ? ` (${((100 * c.done) / c.total).toFixed(1)}%)` : '';
  const tokens = job.TokenUsage ? Object.entries(job.TokenUsage).map(([k, v]) => `${k} ${v}`).join(', ') : '';
  const rows: Array<[string, string | undefined]> = [
    ['Id', job.Id],
    ['Name', job.Name],
    ['Description', job.Description],
    ['Project', job.ProjectName],
    ['Phase', `${job.Status.Phase}${job.Status.PhaseTime ? ` since ${job.Status.PhaseTime}` : ''}`],
    ['Message', job.Status.Message],
    ['Model', modelOf(job)],
    ['Input', uri(job.InputFileTosLocation)],
    ['Output', job.OutputDirTosLocation ? `${uri(job.OutputDirTosLocation)}${job.Id}/` : ''],
    ['Errors', uri(job.ErrorFileTosLocation)],
    ['Requests', `${c.completed} completed, ${c.failed} failed, ${c.total} total${pct}`],
    ['Tokens', tokens],
    ['Window', job.CompletionWindow],
    ['Created', job.CreateTime],
    ['Updated', job.UpdateTime],
    ['Expires', job.ExpireTime],
    ['Tags', (job.Tags ?? []).map((t) => `${t.Key}=${t.Value}`).join(', ')],
  ];
  return rows.filter(([, v]) => v).map(([k, v]) => `${k.padEnd(12)}${v}`).join('\n');
}

/** Display width: CJK and emoji take two columns. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|\p{Extended_Pictographic}/u.test(ch) ? 2 : 1;
  return w;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (r: readonly string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i] - width(cell)))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function jobsTable(jobs: readonly ArkJob[]): string {
  return table(
    ['ID', 'PHASE', 'DONE', 'FAILED', 'CREATED', 'NAME'],
    jobs.map((j) => {
      const c = counts(j);
      return [j.Id, j.Status.Phase, `${c.done}/${c.total}`, String(c.failed), j.CreateTime ?? '', j.Name ?? ''];
    }),
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}
