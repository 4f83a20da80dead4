/**
 * Batch inference jobs over the OpenAPI client (ark.md §1.3–1.7): create (validated locally
 * first, DryRun, idempotent resubmit), get, list (every page), stop, resume, update, delete, and
 * waiting for a job to end. Wire objects keep Ark's spelling (`Id`, `Status.Phase`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ArkBatchError } from '../errors.ts';
import { isArkApiError, type ArkOpenApiClient } from './openapi-client.ts';

/** Documented phases (plus `Initializing`, seen in the wild); other strings are tolerated. */
export const JOB_PHASES = ['Queued', 'Initializing', 'Running', 'Completed', 'Terminating', 'Terminated', 'Failed'] as const;
export type KnownJobPhase = (typeof JOB_PHASES)[number];
export type JobPhase = KnownJobPhase | (string & {});
/** Phases after which a job changes no more (unless resumed). */
export const FINAL_PHASES: readonly JobPhase[] = ['Completed', 'Terminated', 'Failed'];
export const ACTIVE_PHASES: readonly JobPhase[] = ['Queued', 'Initializing', 'Running', 'Terminating'];

export interface WireTosLocation {
  readonly BucketName: string;
  readonly ObjectKey: string;
}

export interface RequestCounts {
  readonly Total?: number;
  readonly Completed?: number;
  readonly Failed?: number;
}

/** A job as GetBatchInferenceJob / ListBatchInferenceJobs return it; unknown fields pass through. */
export interface ArkJob {
  readonly Id: string;
  readonly Name?: string;
  readonly Description?: string;
  readonly ProjectName?: string;
  readonly Tags?: ReadonlyArray<{ readonly Key: string; readonly Value: string }>;
  readonly ModelReference?: { readonly FoundationModel?: { readonly Name: string; readonly ModelVersion?: string }; readonly CustomModelId?: string };
  readonly InputFileTosLocation?: WireTosLocation;
  readonly OutputDirTosLocation?: WireTosLocation;
  /** Get only. */
  readonly ErrorFileTosLocation?: WireTosLocation;
  readonly CompletionWindow?: string;
  readonly Status: { readonly Phase: JobPhase; readonly PhaseTime?: string; readonly Message?: string };
  readonly RequestCounts?: RequestCounts;
  readonly TokenUsage?: Readonly<Record<string, number>>;
  readonly CreateTime?: string;
  readonly UpdateTime?: string;
  readonly ExpireTime?: string;
}

export interface TosLocation {
  readonly bucket: string;
  readonly key: string;
}

export type ModelRef =
  | { readonly name: string; readonly version?: string; readonly customModelId?: undefined }
  | { readonly customModelId: string; readonly name?: undefined; readonly version?: undefined };

export interface CreateJobRequest {
  /** 1–200 letters (any script), digits, `-` or `_`. */
  readonly name: string;
  /** At most 300 characters. */
  readonly description?: string;
  /** @default the service's ('default') */
  readonly projectName?: string;
  readonly model: ModelRef;
  /** The `.jsonl` input object. */
  readonly input: TosLocation;
  /** Output "folder": empty or ending in `/`; results go to `{key}{jobId}/`. */
  readonly outputDir: TosLocation;
  /** `Nd` (or `N days`), 1–28. @default the service's ('28d') */
  readonly completionWindow?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Ask the service to check the request without creating a job. @default false */
  readonly dryRun?: boolean;
}

export interface CreateJobResult {
  /** The new job, the already active job for this input, or undefined for a passed dry run. */
  readonly id?: string;
  /** True when a job for the same project and input was already active and no new one was made. */
  readonly existing: boolean;
  readonly dryRun: boolean;
  /** For a person: what happened when it is not simply "created". */
  readonly notice?: string;
  readonly requestId?: string;
}

export interface JobCallOptions {
  readonly signal?: AbortSignal;
}

const NAME_RE = /^[\p{L}\p{N}_-]{1,200}$/u;
const JOB_ID_RE = /\bbi-\d{14}-[a-z0-9]{5}\b/;

/** Throws E_USAGE unless `name` is a valid job name (console rule, ark.md §1.3). */
export function validateJobName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new ArkBatchError('E_USAGE', `Expected a job name of 1-200 letters, digits, "-" or "_", got ${JSON.stringify(name)}`);
  }
  return name;
}

/** `3d`, `3 days`, `1 day` → `3d`; throws E_USAGE outside whole days 1–28. */
export function normalizeCompletionWindow(value: string): string {
  const m = /^\s*(\d{1,2})\s*(?:d|days?)\s*$/i.exec(value);
  const days = m ? Number(m[1]) : NaN;
  if (!(days >= 1 && days <= 28)) throw new ArkBatchError('E_USAGE', `Expected a completion window of whole days from 1d to 28d, got ${JSON.stringify(value)}`);
  return `${days}d`;
}

/** The CreateBatchInferenceJob body for a request, or E_USAGE naming the first problem. */
export function createJobBody(req: CreateJobRequest): Record<string, unknown> {
  validateJobName(req.name);
  if (req.description !== undefined && [...req.description].length > 300) {
    throw new ArkBatchError('E_USAGE', `Expected a description of at most 300 characters, got ${[...req.description].length}`);
  }
  const m = req.model;
  let ModelReference: Record<string, unknown>;
  if (m.customModelId !== undefined) {
    if (m.name !== undefined || m.version !== undefined) throw new ArkBatchError('E_USAGE', 'A model reference is either a foundation model (name, version) or a custom model id, not both');
    if (!m.customModelId.trim()) throw new ArkBatchError('E_USAGE', 'Expected a non-empty custom model id');
    ModelReference = { CustomModelId: m.customModelId };
  } else {
    if (!m.name?.trim()) throw new ArkBatchError('E_USAGE', 'Expected a model name (e.g. doubao-seed-1-6) or a custom model id');
    if (m.version !== undefined && !m.version.trim()) throw new ArkBatchError('E_USAGE', 'Expected a non-empty model version');
    ModelReference = { FoundationModel: m.version === undefined ? { Name: m.name } : { Name: m.name, ModelVersion: m.version } };
  }
  if (!req.input.bucket || !req.input.key || req.input.key.endsWith('/')) {
    throw new ArkBatchError('E_USAGE', `Expected the input to be an object tos://bucket/key.jsonl, got tos://${req.input.bucket}/${req.input.key}`);
  }
  if (!req.outputDir.bucket || (req.outputDir.key !== '' && !req.outputDir.key.endsWith('/'))) {
    throw new ArkBatchError('E_USAGE', `Expected the output to be a folder tos://bucket/prefix/ (ending in /), got tos://${req.outputDir.bucket}/${req.outputDir.key}`);
  }
  const body: Record<string, unknown> = {
    Name: req.name,
    ModelReference,
    InputFileTosLocation: { BucketName: req.input.bucket, ObjectKey: req.input.key },
    OutputDirTosLocation: { BucketName: req.outputDir.bucket, ObjectKey: req.outputDir.key },
  };
  if (req.description !== undefined) body.Description = req.description;
  if (req.projectName !== undefined) body.ProjectName = req.projectName;
  if (req.completionWindow !== undefined) body.CompletionWindow = normalizeCompletionWindow(req.completionWindow);
  const tags = Object.entries(req.tags ?? {});
  if (tags.length > 50) throw new ArkBatchError('E_USAGE', `Expected at most 50 tags, got ${tags.length}`);
  for (const [key] of tags) {
    if (!key || key.startsWith('sys:')) throw new ArkBatchError('E_USAGE', `Expected a tag key that is not empty and does not start with sys:, got ${JSON.stringify(key)}`);
  }
  if (tags.length) body.Tags = tags.map(([Key, Value]) => ({ Key, Value }));
  if (req.dryRun) body.DryRun = true;
  return body;
}

/** The job id an idempotency-conflict message names, if any (ark.md §1.3: the Code is undocumented). */
export function activeJobIdFromMessage(message: string): string | undefined {
  return JOB_ID_RE.exec(message)?.[0];
}

/**
 * Creates a job. When the service refuses because a job for the same project and input is
 * active, and its message names that job, the job is fetched to confirm it uses this input and
 * its id is returned with `existing: true`: submitting twice never makes two jobs.
 */
export async function createJob(client: ArkOpenApiClient, req: CreateJobRequest, options: JobCallOptions = {}): Promise<CreateJobResult> {
  const body = createJobBody(req);
  try {
    const res = await client.call<{ Id?: string }>('CreateBatchInferenceJob', body, options);
    if (req.dryRun) return { dryRun: true, existing: false, requestId: res.requestId, notice: 'dry run passed' };
    if (!res.result.Id) throw new ArkBatchError('E_ARK_API', 'CreateBatchInferenceJob returned no Id', { requestId: res.requestId });
    return { id: res.result.Id, existing: false, dryRun: false, requestId: res.requestId };
  } catch (err) {
    if (!isArkApiError(err)) throw err;
    if (req.dryRun && err.remoteCode === 'DryRunOperation') return { dryRun: true, existing: false, requestId: err.requestId, notice: 'dry run passed' };
    const activeId = err.status !== undefined && err.status >= 400 && err.status < 500 ? activeJobIdFromMessage(err.remoteMessage) : undefined;
    if (activeId === undefined) throw err;
    // Unconfirmed (the job cannot be read, or uses another input): the service's own error is the answer.
    const job = await getJob(client, activeId, options).catch(() => undefined);
    const loc = job?.InputFileTosLocation;
    const sameInput = loc?.BucketName === req.input.bucket && loc?.ObjectKey === req.input.key;
    if (!job || !sameInput || !ACTIVE_PHASES.includes(job.Status.Phase)) throw err;
    return {
      id: activeId,
      existing: true,
      dryRun: req.dryRun ?? false,
      requestId: err.requestId,
      notice: `job ${activeId} (${job.Status.Phase}) already runs for tos://${req.input.bucket}/${req.input.key}; no new job was created`,
    };
  }
}

export async function getJob(client: ArkOpenApiClient, id: string, options: JobCallOptions = {}): Promise<ArkJob> {
  const res = await client.call<ArkJob>('GetBatchInferenceJob', { Id: requireJobId(id) }, options);
  return res.result;
}

export interface ListJobsOptions extends JobCallOptions {
  readonly projectName?: string;
  readonly phases?: readonly string[];
  /** Substring of the job name. */
  readonly name?: string;
  readonly ids?: readonly string[];
  /** Stop after this many jobs. @default all */
  readonly limit?: number;
  /** Jobs per request (1–100). @default 100 */
  readonly pageSize?: number;
  /** @default 'CreateTime' */
  readonly sortBy?: 'CreateTime' | 'UpdateTime';
  /** @default 'Desc' */
  readonly sortOrder?: 'Asc' | 'Desc';
}

interface ListResult {
  TotalCount?: number;
  PageNumber?: number;
  PageSize?: number;
  Items?: ArkJob[];
}

/**
 * Every matching job, page after page, without holding more than one page. A job seen on an
 * earlier page (the list shifted while paging) is not yielded twice.
 */
export async function* iterateJobs(client: ArkOpenApiClient, options: ListJobsOptions = {}): AsyncGenerator<ArkJob> {
  const pageSize = options.pageSize ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) throw new ArkBatchError('E_USAGE', `Expected a page size from 1 to 100, got ${pageSize}`);
  const limit = options.limit ?? Infinity;
  const filter: Record<string, unknown> = {};
  if (options.phases?.length) filter.Phases = [...options.phases];
  if (options.name) filter.Name = options.name;
  if (options.ids?.length) filter.Ids = [...options.ids];
  const seen = new Set<string>();
  let yielded = 0;
  for (let page = 1; yielded < limit; page++) {
    const body: Record<string, unknown> = { PageNumber: page, PageSize: pageSize, SortBy: options.sortBy ?? 'CreateTime', SortOrder: options.sortOrder ?? 'Desc' };
    if (options.projectName) body.ProjectName = options.projectName;
    if (Object.keys(filter).length) body.Filter = filter;
    const { result } = await client.call<ListResult>('ListBatchInferenceJobs', body, options);
    const items = result.Items ?? [];
    let fresh = 0;
    for (const job of items) {
      if (seen.has(job.Id)) continue;
      seen.add(job.Id);
      fresh++;
      yield job;
      if (++yielded >= limit) return;
    }
    const total = result.TotalCount;
    // A short page, the reported total, or a page of nothing new (a service ignoring PageNumber) ends it.
    if (items.length < pageSize || fresh === 0 || (total !== undefined && page * pageSize >= total)) return;
  }
}

export async function listJobs(client: ArkOpenApiClient, options: ListJobsOptions = {}): Promise<ArkJob[]> {
  const jobs: ArkJob[] = [];
  for await (const job of iterateJobs(client, options)) jobs.push(job);
  return jobs;
}

export async function stopJob(client: ArkOpenApiClient, id: string, options: JobCallOptions = {}): Promise<void> {
  await client.call('StopBatchInferenceJob', { Id: requireJobId(id) }, options);
}

/** Resume a Terminated or Failed job; the Id goes in the query, as in the official example. */
export async function resumeJob(client: ArkOpenApiClient, id: string, options: JobCallOptions = {}): Promise<void> {
  await client.call('ResumeBatchInferenceJob', {}, { ...options, query: { Id: requireJobId(id) } });
}

export async function deleteJob(client: ArkOpenApiClient, id: string, options: JobCallOptions = {}): Promise<void> {
  await client.call('DeleteBatchInferenceJob', { Id: requireJobId(id) }, options);
}

export async function updateJob(client: ArkOpenApiClient, id: string, fields: { readonly name?: string; readonly description?: string }, options: JobCallOptions = {}): Promise<void> {
  const body: Record<string, unknown> = { Id: requireJobId(id) };
  if (fields.name !== undefined) body.Name = validateJobName(fields.name);
  if (fields.description !== undefined) {
    if ([...fields.description].length > 300) throw new ArkBatchError('E_USAGE', 'Expected a description of at most 300 characters');
    body.Description = fields.description;
  }
  await client.call('UpdateBatchInferenceJob', body, options);
}

function requireJobId(id: string): string {
  if (typeof id !== 'string' || !/^\S+$/.test(id)) throw new ArkBatchError('E_USAGE', `Expected a job id like bi-20240918194641-r2nwq, got ${JSON.stringify(id)}`);
  return id;
}

/** A job that ended Failed or Terminated; `job` is its last state (Terminated jobs keep partial results). */
export class JobEndedError extends ArkBatchError {
  readonly job: ArkJob;
  constructor(job: ArkJob) {
    const c = job.RequestCounts ?? {};
    super('E_JOB_FAILED', `job ${job.Id} ended ${job.Status.Phase}: ${job.Status.Message ?? ''} (${c.Completed ?? 0} completed, ${c.Failed ?? 0} failed of ${c.Total ?? 0})`);
    this.name = 'JobEndedError';
    this.job = job;
  }
}

export interface WaitForJobOptions extends JobCallOptions {
  /** First and smallest gap between polls. @default 5000 */
  readonly intervalMs?: number;
  /** Gaps grow by `backoff` while nothing changes, up to this. @default 60000 */
  readonly maxIntervalMs?: number;
  /** @default 1.5 */
  readonly backoff?: number;
  /** Give up (E_TIMEOUT) after this long. @default no limit */
  readonly timeoutMs?: number;
  /** Called with the job on the first poll and whenever its phase or counts change. */
  readonly onProgress?: (job: ArkJob) => void;
  /** @default timers/promises setTimeout */
  readonly delay?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Polls until the job ends. Resolves with a Completed job (which may have failed lines), rejects
 * with JobEndedError (E_JOB_FAILED) on Failed or Terminated, and with E_TIMEOUT after `timeoutMs`.
 */
export async function waitForJob(client: ArkOpenApiClient, id: string, options: WaitForJobOptions = {}): Promise<ArkJob> {
  const minInterval = options.intervalMs ?? 5000;
  const maxInterval = Math.max(minInterval, options.maxIntervalMs ?? 60_000);
  const backoff = options.backoff ?? 1.5;
  const now = options.now ?? Date.now;
  const delay = options.delay ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  const deadline = options.timeoutMs === undefined ? Infinity : now() + options.timeoutMs;
  let interval = minInterval;
  let last = '';
  for (;;) {
    const job = await getJob(client, id, options);
    const c = job.RequestCounts ?? {};
    const state = `${job.Status.Phase}|${c.Total}|${c.Completed}|${c.Failed}`;
    if (state !== last) {
      last = state;
      interval = minInterval;
      options.onProgress?.(job);
    } else {
      interval = Math.min(maxInterval, interval * backoff);
    }
    if (job.Status.Phase === 'Completed') return job;
    if (job.Status.Phase === 'Failed' || job.Status.Phase === 'Terminated') throw new JobEndedError(job);
    const left = deadline - now();
    if (left <= 0) {
      throw new ArkBatchError('E_TIMEOUT', `job ${id} is still ${job.Status.Phase} after ${options.timeoutMs} ms (${c.Completed ?? 0} completed, ${c.Failed ?? 0} failed of ${c.Total ?? 0})`);
    }
    await delay(Math.min(interval, left), options.signal).catch((err: unknown) => {
      throw options.signal?.aborted ? new ArkBatchError('E_ABORTED', `waiting for job ${id} aborted (the job keeps running)`, { cause: err }) : err;
    });
  }
}
