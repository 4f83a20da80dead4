/**
 * The local batch-job engine behind the OpenAPI handler: job records (in memory, persisted to
 * `<dataDir>/ark-jobs/jobs.json` atomically), the phase machine, a per-project running limit, and
 * the runner that executes each input line with a ChatResponder.
 *
 * Durability: each finished line is appended to `<dataDir>/ark-jobs/<id>/journal.jsonl` (fsync'd
 * every `journalSyncEvery` lines and when the runner stops) in completion order. On start the
 * journal is re-read, so a job that was Running when the process died carries on and skips the
 * lines it already finished; a torn last record is cut off. Results reach the ObjectStore only
 * when the job ends (Completed, or Terminated with its partial results): `results.jsonl` always,
 * `errors.jsonl` only when some line failed.
 *
 * Decisions where Ark is undocumented (ark.md §8):
 * - A line's identity is its line number; duplicate custom_ids are run as separate lines.
 * - Blank (whitespace-only) lines are skipped; any other line must be a JSON object with a
 *   non-empty string `custom_id` and an object `body`, checked for the whole file before any
 *   request runs, or the job is Failed naming the first bad line.
 * - The job's model overrides any `model` in a line's body (FoundationModel.Name or CustomModelId).
 * - A line's error reply is final (no retries): a `[[fail:X]]` marker must yield an error line.
 * - Resume keeps the finished lines when the input object's ETag is unchanged, else starts over;
 *   it grants a fresh CompletionWindow (ExpireTime = resume time + window).
 * - Deleting an active job (Queued/Running/Terminating) is refused; delete drops the record and
 *   journal but leaves published objects in the store.
 * - TokenUsage = {PromptTokens, CompletionTokens, TotalTokens}, summed from successful replies.
 */
import { randomInt } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ArkBatchError } from '../errors.ts';
import type { ChatResponder } from './responder-types.ts';
import type { ObjectStore } from './store-types.ts';
import { numberedLines } from './jsonl-lines.ts';
import { Journal, journalLines, journalRecords, repairJournal, writeFileAtomic } from './job-journal.ts';
import { outputLine, parseInputLine, usageOf } from './job-lines.ts';
import type { ParsedLine } from './job-lines.ts';

export type JobPhase = 'Queued' | 'Running' | 'Completed' | 'Terminating' | 'Terminated' | 'Failed';
export const JOB_PHASES: readonly JobPhase[] = ['Queued', 'Running', 'Completed', 'Terminating', 'Terminated', 'Failed'];
const ACTIVE: ReadonlySet<JobPhase> = new Set(['Queued', 'Running', 'Terminating']);
const FINAL: ReadonlySet<JobPhase> = new Set(['Completed', 'Terminated', 'Failed']);

export interface TosLocation {
  readonly BucketName: string;
  readonly ObjectKey: string;
}

export interface ModelReference {
  readonly FoundationModel?: { readonly Name: string; readonly ModelVersion?: string };
  readonly CustomModelId?: string;
}

export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

/** A job exactly as GetBatchInferenceJob returns it. */
export interface BatchJob {
  Id: string;
  Name: string;
  Description: string;
  ProjectName: string;
  Tags: Tag[];
  ModelReference: ModelReference;
  InputFileTosLocation: TosLocation;
  OutputDirTosLocation: TosLocation;
  ErrorFileTosLocation?: TosLocation;
  CompletionWindow: string;
  Status: { Phase: JobPhase; PhaseTime: string; Message: string };
  RequestCounts: { Total: number; Completed: number; Failed: number };
  TokenUsage: { PromptTokens: number; CompletionTokens: number; TotalTokens: number };
  CreateTime: string;
  UpdateTime: string;
  ExpireTime: string;
}

export interface CreateJobInput {
  readonly Name: string;
  readonly Description?: string;
  readonly ProjectName?: string;
  readonly Tags?: readonly Tag[];
  readonly ModelReference: ModelReference;
  readonly InputFileTosLocation: TosLocation;
  readonly OutputDirTosLocation: TosLocation;
  /** `Nd`, 1..28. @default '28d' */
  readonly CompletionWindow?: string;
}

export interface JobEngineOptions {
  /** Root of the service's data; job state lives under `<dataDir>/ark-jobs/`. */
  readonly dataDir: string;
  readonly store: ObjectStore;
  readonly responder: ChatResponder;
  /** Jobs Running at once per ProjectName; the rest wait as Queued. @default 3 */
  readonly maxRunning?: number;
  /** Requests in flight per running job. @default 8 */
  readonly concurrencyPerJob?: number;
  /** Bytes in one input line before the job fails. @default 8 MiB */
  readonly maxLineBytes?: number;
  /** Journal records between fsyncs. @default 64 */
  readonly journalSyncEvery?: number;
  /** Time source in epoch ms; inject one to make CompletionWindows pass in tests. @default Date.now */
  readonly clock?: () => number;
  /** How often expiry is checked; 0 disables the timer (call `checkExpiry()`). @default 1000 */
  readonly expiryCheckMs?: number;
  /** Value of the system tag `sys:ark:createdBy`. @default 'IAMUser/local/ark-batch' */
  readonly createdBy?: string;
  /**
   * Receives failures that have no caller to return to (the expiry timer, a runner's state write).
   * @default rethrows, so such a failure is an uncaught error rather than a silent one
   */
  readonly onError?: (err: unknown) => void;
}

interface JobState {
  job: BatchJob;
  /** ETag of the input object the journal belongs to. */
  inputEtag?: string;
  /** Aborts the runner; its reason says why: 'stopped', 'expired' or 'shutdown'. */
  abort?: AbortController;
  runner?: Promise<void>;
  /** Order in which queued jobs start (a sequence number). */
  queuedAt: number;
}

interface PersistedState {
  readonly version: 1;
  readonly jobs: ReadonlyArray<{ job: BatchJob; inputEtag?: string; queuedAt: number }>;
}

export interface JobEngine {
  create(input: CreateJobInput): Promise<BatchJob>;
  get(id: string): BatchJob | undefined;
  list(): BatchJob[];
  /** The Queued/Running job with this ProjectName and input object, if any (idempotency rule). */
  findActive(projectName: string, input: TosLocation): BatchJob | undefined;
  stop(id: string): Promise<BatchJob>;
  resume(id: string): Promise<BatchJob>;
  update(id: string, fields: { Name?: string; Description?: string }): Promise<BatchJob>;
  delete(id: string): Promise<void>;
  /** Moves Queued/Running jobs past their ExpireTime to Terminated. */
  checkExpiry(): Promise<void>;
  /** Resolves when the job is in one of `phases` (default: any final phase). */
  waitFor(id: string, phases?: readonly JobPhase[]): Promise<BatchJob>;
  /** Stops runners without changing phases (like a killed process, but with journals flushed). */
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function parseCompletionWindow(value: string): number | null {
  const m = /^([1-9]\d?)d$/.exec(value);
  if (!m || +m[1] > 28) return null;
  return +m[1] * DAY_MS;
}

/** RFC 3339 without fractional seconds, as Ark prints times. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `bi-<yyyyMMddHHmmss in UTC+8>-<5 lowercase alnum>` */
export function newJobId(nowMs: number): string {
  const t = new Date(nowMs + 8 * 3_600_000).toISOString();
  const stamp = t.slice(0, 19).replace(/[-:T]/g, '');
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += alphabet[randomInt(alphabet.length)];
  return `bi-${stamp}-${suffix}`;
}

function notFound(id: string): ArkBatchError {
  return new ArkBatchError('E_ARK_API', `The specified batch inference job ${id} is not found.`, { remoteCode: 'NotFound.BatchInferenceJob', status: 404 });
}

function invalidState(id: string, phase: JobPhase, action: string): ArkBatchError {
  return new ArkBatchError('E_ARK_API', `Cannot ${action} batch inference job ${id} in phase ${phase}.`, {
    remoteCode: 'OperationDenied.InvalidState',
    status: 400,
  });
}

export async function createJobEngine(options: JobEngineOptions): Promise<JobEngine> {
  const o = {
    maxRunning: options.maxRunning ?? 3,
    concurrencyPerJob: options.concurrencyPerJob ?? 8,
    maxLineBytes: options.maxLineBytes ?? 8 * 1024 * 1024,
    journalSyncEvery: options.journalSyncEvery ?? 64,
    clock: options.clock ?? Date.now,
    expiryCheckMs: options.expiryCheckMs ?? 1000,
    createdBy: options.createdBy ?? 'IAMUser/local/ark-batch',
    onError:
      options.onError ??
      ((err: unknown) => {
        throw err;
      }),
  };
  const { store, responder } = options;
  const root = join(options.dataDir, 'ark-jobs');
  const statePath = join(root, 'jobs.json');
  await mkdir(root, { recursive: true });

  const jobs = new Map<string, JobState>();
  const waiters = new Set<() => void>();
  let closed = false;
  let persistChain: Promise<void> = Promise.resolve();
  let nextSeq = 1;

  const jobDir = (id: string) => join(root, id);
  const journalPath = (id: string) => join(jobDir(id), 'journal.jsonl');
  const now = () => o.clock();

  function persist(): Promise<void> {
    const snapshot: PersistedState = {
      version: 1,
      jobs: [...jobs.values()].map((s) => ({ job: s.job, inputEtag: s.inputEtag, queuedAt: s.queuedAt })),
    };
    const text = JSON.stringify(snapshot);
    const write = persistChain.then(() => writeFileAtomic(statePath, text));
    // One failed write must not poison the ones after it; the caller still sees this failure.
    persistChain = write.catch(() => undefined);
    return write;
  }

  function notify(): void {
    for (const w of [...waiters]) w();
  }

  function setPhase(s: JobState, phase: JobPhase, message: string): void {
    const t = rfc3339(now());
    s.job.Status = { Phase: phase, PhaseTime: t, Message: message };
    s.job.UpdateTime = t;
    notify();
  }

  async function recoverCounts(s: JobState): Promise<void> {
    const c = { Completed: 0, Failed: 0 };
    const u = { PromptTokens: 0, CompletionTokens: 0, TotalTokens: 0 };
    for await (const r of journalRecords(journalPath(s.job.Id))) {
      if (r.ok) c.Completed++;
      else c.Failed++;
      if (r.u) {
        u.PromptTokens += r.u[0];
        u.CompletionTokens += r.u[1];
        u.TotalTokens += r.u[2];
      }
    }
    s.job.RequestCounts = { Total: s.job.RequestCounts.Total, ...c };
    s.job.TokenUsage = u;
  }

  /** Publishes the journal as results.jsonl (+ errors.jsonl when there are failures). */
  async function publish(s: JobState): Promise<void> {
    const { job } = s;
    const prefix = `${job.OutputDirTosLocation.ObjectKey}${job.Id}/`;
    const bucket = job.OutputDirTosLocation.BucketName;
    const path = journalPath(job.Id);
    await store.putObject(bucket, `${prefix}output/results.jsonl`, Readable.from(journalLines(path, true)), { contentType: 'application/jsonl' });
    if (job.RequestCounts.Failed > 0) {
      const key = `${prefix}error/errors.jsonl`;
      await store.putObject(bucket, key, Readable.from(journalLines(path, false)), { contentType: 'application/jsonl' });
      job.ErrorFileTosLocation = { BucketName: bucket, ObjectKey: key };
    }
  }

  function modelName(job: BatchJob): string {
    return job.ModelReference.CustomModelId ?? job.ModelReference.FoundationModel?.Name ?? '';
  }

  async function* inputLines(s: JobState, signal: AbortSignal): AsyncGenerator<ParsedLine | { error: string }> {
    const { BucketName, ObjectKey } = s.job.InputFileTosLocation;
    const obj = await store.getObject(BucketName, ObjectKey);
    if (!obj) {
      yield { error: `输入文件不存在 (input file tos://${BucketName}/${ObjectKey} does not exist)` };
      return;
    }
    if (s.inputEtag !== undefined && s.inputEtag !== obj.info.etag) {
      // The input changed since the journal was written: its line numbers mean other requests now.
      await rm(journalPath(s.job.Id), { force: true });
      await recoverCounts(s);
    }
    s.inputEtag = obj.info.etag;
    try {
      for await (const { lineNo, text } of numberedLines(obj.body, o.maxLineBytes, ObjectKey)) {
        if (signal.aborted) return;
        const parsed = parseInputLine(lineNo, text);
        if (parsed) yield parsed;
      }
    } catch (err) {
      if ((err as ArkBatchError).code === 'E_LINE_TOO_LARGE') {
        const n = (err as ArkBatchError).line ?? 0;
        yield { error: `第${n}行超过长度限制 (line ${n} exceeds ${o.maxLineBytes} bytes)` };
        return;
      }
      throw err;
    } finally {
      obj.body.destroy();
    }
  }

  async function run(s: JobState): Promise<void> {
    const { job } = s;
    const abort = s.abort!;
    await mkdir(jobDir(job.Id), { recursive: true });
    // Pass 1: the whole file must be valid before anything runs, as on Ark.
    let total = 0;
    for await (const item of inputLines(s, abort.signal)) {
      if ('error' in item) {
        setPhase(s, 'Failed', item.error);
        await persist();
        return;
      }
      total++;
    }
    if (abort.signal.aborted) return finishAborted(s);
    if (total === 0) {
      setPhase(s, 'Failed', '输入文件为空 (input file has no requests)');
      await persist();
      return;
    }
    job.RequestCounts.Total = total;
    await repairJournal(journalPath(job.Id));
    const done = new Set<number>();
    for await (const r of journalRecords(journalPath(job.Id))) done.add(r.n);
    await recoverCounts(s);
    await persist();

    // Pass 2: execute unfinished lines with at most concurrencyPerJob in flight.
    const journal = await Journal.open(journalPath(job.Id), o.journalSyncEvery);
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const model = modelName(job);
    try {
      for await (const item of inputLines(s, abort.signal)) {
        if (abort.signal.aborted || failure !== undefined) break;
        if ('error' in item || done.has(item.lineNo)) continue;
        const task = (async () => {
          const reply = await responder({ ...item.body, model }, abort.signal);
          if (abort.signal.aborted) return;
          const { ok, out } = outputLine(item.customId, reply);
          const u = ok ? usageOf(reply) : undefined;
          await journal.append({ n: item.lineNo, ok, u, out });
          if (ok) job.RequestCounts.Completed++;
          else job.RequestCounts.Failed++;
          if (u) {
            job.TokenUsage.PromptTokens += u[0];
            job.TokenUsage.CompletionTokens += u[1];
            job.TokenUsage.TotalTokens += u[2];
          }
        })().catch((err: unknown) => {
          // An aborted request is simply unfinished; it runs again on resume or restart.
          if (!abort.signal.aborted) failure ??= err;
        });
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
        if (inFlight.size >= o.concurrencyPerJob) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    } finally {
      await journal.close();
    }
    if (abort.signal.aborted) return finishAborted(s);
    if (failure !== undefined) {
      setPhase(s, 'Failed', `内部错误 (internal error: ${(failure as Error).message ?? String(failure)})`);
      await persist();
      return;
    }
    await recoverCounts(s);
    await publish(s);
    setPhase(s, 'Completed', '批量推理任务已完成 (batch inference job completed)');
    await persist();
  }

  async function finishAborted(s: JobState): Promise<void> {
    const reason = s.abort?.signal.reason as string | undefined;
    if (reason === 'shutdown') return;
    await terminate(s, reason === 'expired' ? 'expired' : 'stopped');
  }

  async function terminate(s: JobState, why: 'stopped' | 'expired'): Promise<void> {
    await recoverCounts(s);
    if (s.job.RequestCounts.Completed + s.job.RequestCounts.Failed > 0) await publish(s);
    setPhase(
      s,
      'Terminated',
      why === 'expired'
        ? `任务已过期 (completion window ${s.job.CompletionWindow} elapsed; unfinished requests cancelled)`
        : '任务已终止 (batch inference job stopped)',
    );
    await persist();
  }

  function start(s: JobState): void {
    s.abort = new AbortController();
    if (s.job.Status.Phase === 'Queued') setPhase(s, 'Running', '任务运行中 (running)');
    s.runner = run(s)
      .catch(async (err: unknown) => {
        if (s.abort?.signal.reason === 'shutdown') return;
        setPhase(s, 'Failed', `内部错误 (internal error: ${(err as Error).message ?? String(err)})`);
        await persist();
      })
      .catch(o.onError)
      .finally(() => {
        s.runner = undefined;
        notify();
        if (!closed) schedule();
      });
  }

  function schedule(): void {
    if (closed) return;
    const running = new Map<string, number>();
    for (const s of jobs.values()) {
      if (s.job.Status.Phase === 'Running' || s.job.Status.Phase === 'Terminating' || s.runner) {
        running.set(s.job.ProjectName, (running.get(s.job.ProjectName) ?? 0) + 1);
      }
    }
    const queued = [...jobs.values()].filter((s) => s.job.Status.Phase === 'Queued' && !s.runner).sort((a, b) => a.queuedAt - b.queuedAt);
    for (const s of queued) {
      const n = running.get(s.job.ProjectName) ?? 0;
      if (n >= o.maxRunning) continue;
      running.set(s.job.ProjectName, n + 1);
      start(s);
    }
  }

  function mustGet(id: string): JobState {
    const s = jobs.get(id);
    if (!s) throw notFound(id);
    return s;
  }

  async function stopJob(s: JobState, why: 'stopped' | 'expired'): Promise<void> {
    const phase = s.job.Status.Phase;
    if (phase !== 'Queued' && phase !== 'Running') throw invalidState(s.job.Id, phase, 'stop');
    setPhase(s, 'Terminating', why === 'expired' ? '任务过期终止中 (expired, terminating)' : '任务终止中 (terminating)');
    await persist();
    if (s.runner) {
      s.abort?.abort(why);
      return;
    }
    await terminate(s, why);
    schedule();
  }

  // --- load persisted state ----------------------------------------------------------------
  try {
    const state = JSON.parse(await readFile(statePath, 'utf8')) as PersistedState;
    for (const j of state.jobs) {
      jobs.set(j.job.Id, { job: j.job, inputEtag: j.inputEtag, queuedAt: j.queuedAt });
      nextSeq = Math.max(nextSeq, j.queuedAt + 1);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const s of jobs.values()) {
    await recoverCounts(s);
    if (s.job.Status.Phase === 'Terminating') {
      // The process died while stopping; finish the stop with what the journal holds.
      await terminate(s, 'stopped');
    }
  }
  // Jobs that were Running resume first, then the queue, both under maxRunning.
  for (const s of jobs.values()) if (s.job.Status.Phase === 'Running') start(s);
  schedule();

  const timer = o.expiryCheckMs > 0 ? setInterval(() => engine.checkExpiry().catch(o.onError), o.expiryCheckMs) : undefined;
  timer?.unref();

  const engine: JobEngine = {
    async create(input) {
      const windowMs = parseCompletionWindow(input.CompletionWindow ?? '28d');
      if (windowMs === null) throw new ArkBatchError('E_USAGE', `invalid CompletionWindow ${input.CompletionWindow}`);
      const projectName = input.ProjectName || 'default';
      const active = engine.findActive(projectName, input.InputFileTosLocation);
      if (active) {
        throw new ArkBatchError(
          'E_ARK_API',
          `An active batch inference job ${active.Id} already uses input tos://${input.InputFileTosLocation.BucketName}/${input.InputFileTosLocation.ObjectKey} in project ${projectName}.`,
          { remoteCode: 'ConflictOperation', status: 409 },
        );
      }
      const t = now();
      let id = newJobId(t);
      while (jobs.has(id)) id = newJobId(t);
      const ts = rfc3339(t);
      const job: BatchJob = {
        Id: id,
        Name: input.Name,
        Description: input.Description ?? '',
        ProjectName: projectName,
        Tags: [{ Key: 'sys:ark:createdBy', Value: o.createdBy }, ...(input.Tags ?? []).map((x) => ({ Key: x.Key, Value: x.Value }))],
        ModelReference: structuredClone(input.ModelReference) as ModelReference,
        InputFileTosLocation: { ...input.InputFileTosLocation },
        OutputDirTosLocation: { ...input.OutputDirTosLocation },
        CompletionWindow: input.CompletionWindow ?? '28d',
        Status: { Phase: 'Queued', PhaseTime: ts, Message: '任务排队中 (queued)' },
        RequestCounts: { Total: 0, Completed: 0, Failed: 0 },
        TokenUsage: { PromptTokens: 0, CompletionTokens: 0, TotalTokens: 0 },
        CreateTime: ts,
        UpdateTime: ts,
        ExpireTime: rfc3339(Math.floor(t / 1000) * 1000 + windowMs),
      };
      jobs.set(id, { job, queuedAt: nextSeq++ });
      await persist();
      const view = structuredClone(job);
      schedule();
      return view;
    },
    get(id) {
      const s = jobs.get(id);
      return s && structuredClone(s.job);
    },
    list() {
      return [...jobs.values()].map((s) => structuredClone(s.job));
    },
    findActive(projectName, input) {
      for (const s of jobs.values()) {
        const j = s.job;
        if (
          (j.Status.Phase === 'Queued' || j.Status.Phase === 'Running') &&
          j.ProjectName === projectName &&
          j.InputFileTosLocation.BucketName === input.BucketName &&
          j.InputFileTosLocation.ObjectKey === input.ObjectKey
        ) {
          return structuredClone(j);
        }
      }
      return undefined;
    },
    async stop(id) {
      await stopJob(mustGet(id), 'stopped');
      return structuredClone(mustGet(id).job);
    },
    async resume(id) {
      const s = mustGet(id);
      const phase = s.job.Status.Phase;
      if (phase !== 'Terminated' && phase !== 'Failed') throw invalidState(id, phase, 'resume');
      const active = engine.findActive(s.job.ProjectName, s.job.InputFileTosLocation);
      if (active) {
        throw new ArkBatchError('E_ARK_API', `An active batch inference job ${active.Id} already uses this input.`, {
          remoteCode: 'ConflictOperation',
          status: 409,
        });
      }
      const t = now();
      s.job.ExpireTime = rfc3339(Math.floor(t / 1000) * 1000 + (parseCompletionWindow(s.job.CompletionWindow) ?? 28 * DAY_MS));
      s.queuedAt = nextSeq++;
      setPhase(s, 'Queued', '任务排队中 (queued)');
      await persist();
      schedule();
      return structuredClone(s.job);
    },
    async update(id, fields) {
      const s = mustGet(id);
      if (fields.Name !== undefined) s.job.Name = fields.Name;
      if (fields.Description !== undefined) s.job.Description = fields.Description;
      s.job.UpdateTime = rfc3339(now());
      await persist();
      return structuredClone(s.job);
    },
    async delete(id) {
      const s = mustGet(id);
      if (ACTIVE.has(s.job.Status.Phase)) throw invalidState(id, s.job.Status.Phase, 'delete');
      jobs.delete(id);
      await rm(jobDir(id), { recursive: true, force: true });
      await persist();
    },
    async checkExpiry() {
      const t = now();
      for (const s of jobs.values()) {
        const p = s.job.Status.Phase;
        if ((p === 'Queued' || p === 'Running') && Date.parse(s.job.ExpireTime) <= t) await stopJob(s, 'expired');
      }
    },
    waitFor(id, phases = ['Completed', 'Terminated', 'Failed']) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const s = jobs.get(id);
          if (!s) {
            waiters.delete(check);
            reject(notFound(id));
          } else if (phases.includes(s.job.Status.Phase) && !(s.runner && FINAL.has(s.job.Status.Phase))) {
            // A final phase counts once its runner has also finished writing state.
            waiters.delete(check);
            resolve(structuredClone(s.job));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      const runners: Promise<void>[] = [];
      for (const s of jobs.values()) {
        if (s.runner) {
          s.abort?.abort('shutdown');
          runners.push(s.runner);
        }
      }
      await Promise.all(runners);
      await persist();
    },
  };
  return engine;
}
