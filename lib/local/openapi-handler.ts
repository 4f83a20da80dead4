/**
 * The local Ark control plane: `POST /?Action=<…BatchInferenceJob>&Version=2024-01-01`, signed with
 * Volcengine HMAC-SHA256, answered with the real envelopes (ark.md §1.1):
 * success `{ResponseMetadata:{RequestId,Action,Version,Service,Region}, Result}`, failure the same
 * metadata plus `Error:{CodeN, Code, Message}` and no Result.
 *
 * Parameters come from the JSON body, with query parameters (other than Action/Version) as a
 * fallback, so ResumeBatchInferenceJob's `?Id=` form works. An X-Security-Token is accepted as
 * signed, not validated. Create with `DryRun: true` answers `DryRunOperation` (HTTP 400) when all
 * checks pass, the Volcengine convention. An unexpected failure is answered with 500 InternalError
 * and the returned promise rejects with it, so the server can report it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { isArkBatchError } from '../errors.ts';
import { verifyRequest } from '../ark/signer.ts';
import type { SigningCredentials } from '../ark/signer.ts';
import type { BatchJob, JobEngine } from './jobs.ts';
import type { ObjectStore } from './store-types.ts';
import type { ListQuery } from './openapi-requests.ts';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY } from './credentials.ts';
import {
  ApiError,
  dryRun,
  dryRunPassed,
  invalidParameter,
  missingParameter,
  requireId,
  validateCreate,
  validateList,
  validateName,
  VERIFY_FAILURES,
} from './openapi-requests.ts';

export const OPENAPI_VERSION = '2024-01-01';

/** The fixed, documented credentials of the local service. */
export const LOCAL_CREDENTIALS: SigningCredentials = { accessKeyId: LOCAL_ACCESS_KEY, secretAccessKey: LOCAL_SECRET_KEY };

/** What `createFaults(spec, seed)` in lib/local/faults.ts returns (structural, to stay decoupled). */
export interface FaultDecider {
  decide(operation: string): null | { kind: 'status'; status: number } | { kind: 'reset' } | { kind: 'stall'; ms: number };
}

export interface OpenApiHandlerOptions {
  readonly jobs: JobEngine;
  /** Used by DryRun to check that the input object exists. */
  readonly store: ObjectStore;
  /** Accepted access keys. @default LOCAL_CREDENTIALS */
  readonly credentials?: SigningCredentials | readonly SigningCredentials[];
  /** Signing scope region, echoed in ResponseMetadata. @default 'cn-beijing' */
  readonly region?: string;
  /** Consulted with the action name first, then `openapi`. */
  readonly faults?: FaultDecider;
  /** Largest request body accepted. @default 1 MiB */
  readonly maxBodyBytes?: number;
  /** Allowed clock skew of X-Date. @default 900_000 */
  readonly maxSkewMs?: number;
  /** Time source for RequestIds and the skew check. @default Date.now */
  readonly clock?: () => number;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const ACTIONS = [
  'CreateBatchInferenceJob',
  'GetBatchInferenceJob',
  'ListBatchInferenceJobs',
  'StopBatchInferenceJob',
  'ResumeBatchInferenceJob',
  'UpdateBatchInferenceJob',
  'DeleteBatchInferenceJob',
] as const;
type Action = (typeof ACTIONS)[number];

/** `yyyyMMddHHmmss` (UTC+8) + 20 uppercase hex characters. */
export function openApiRequestId(nowMs: number): string {
  const stamp = new Date(nowMs + 8 * 3_600_000).toISOString().slice(0, 19).replace(/[-:T]/g, '');
  return stamp + randomBytes(10).toString('hex').toUpperCase();
}

/** Status codes the fault injector may ask for, mapped to plausible gateway errors. */
function faultError(status: number): ApiError {
  if (status === 429) return new ApiError(429, 'AccountFlowLimitExceeded', 'Request was denied due to user flow control.', 100018);
  if (status >= 500) return new ApiError(status, 'InternalError', 'The service encountered an internal error; please retry.', 100014);
  return new ApiError(status, 'InjectedFault', `Injected fault HTTP ${status}.`);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiError(413, 'RequestEntityTooLarge', `The request body exceeds ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A list item: the Get shape without ErrorFileTosLocation and TokenUsage (as in the SDK structs). */
function listItem(job: BatchJob): Omit<BatchJob, 'ErrorFileTosLocation' | 'TokenUsage'> {
  const { ErrorFileTosLocation: _e, TokenUsage: _t, ...item } = job;
  return item;
}

export function selectJobs(all: readonly BatchJob[], q: ListQuery): { TotalCount: number; Items: BatchJob[] } {
  const matches = all.filter((j) => {
    if (q.projectName !== undefined && j.ProjectName !== q.projectName) return false;
    if (q.ids && !q.ids.includes(j.Id)) return false;
    if (q.name !== undefined && !j.Name.includes(q.name)) return false;
    if (q.phases && q.phases.length > 0 && !q.phases.includes(j.Status.Phase)) return false;
    if (q.customModelIds && q.customModelIds.length > 0 && !q.customModelIds.includes(j.ModelReference.CustomModelId ?? '')) return false;
    if (q.foundationModels && q.foundationModels.length > 0) {
      const fm = j.ModelReference.FoundationModel;
      const ok = q.foundationModels.some(
        (f) => fm && f.Name === fm.Name && (!f.ModelVersions || f.ModelVersions.length === 0 || f.ModelVersions.includes(fm.ModelVersion ?? '')),
      );
      if (!ok) return false;
    }
    for (const tf of q.tagFilters ?? []) {
      const tag = j.Tags.find((t) => t.Key === tf.Key);
      if (!tag || (tf.Values && tf.Values.length > 0 && !tf.Values.includes(tag.Value))) return false;
    }
    return true;
  });
  const dir = q.sortOrder === 'Asc' ? 1 : -1;
  // Id breaks ties, so pages never overlap when times are equal to the second.
  matches.sort((a, b) => dir * (Date.parse(a[q.sortBy]) - Date.parse(b[q.sortBy]) || (a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0)));
  const start = (q.pageNumber - 1) * q.pageSize;
  return { TotalCount: matches.length, Items: matches.slice(start, start + q.pageSize) };
}

export function createOpenApiHandler(options: OpenApiHandlerOptions): RequestHandler {
  const region = options.region ?? 'cn-beijing';
  const creds = options.credentials === undefined ? [LOCAL_CREDENTIALS] : Array.isArray(options.credentials) ? options.credentials : [options.credentials as SigningCredentials];
  const secrets = new Map(creds.map((c) => [c.accessKeyId, c.secretAccessKey]));
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const clock = options.clock ?? Date.now;
  const { jobs, store, faults } = options;

  async function dispatch(action: Action, p: Record<string, unknown>): Promise<unknown> {
    switch (action) {
      case 'CreateBatchInferenceJob': {
        const input = validateCreate(p);
        if (dryRun(p)) {
          const active = jobs.findActive(input.ProjectName ?? 'default', input.InputFileTosLocation);
          if (active) throw new ApiError(409, 'ConflictOperation', `An active batch inference job ${active.Id} already uses this input.`);
          const { BucketName, ObjectKey } = input.InputFileTosLocation;
          if (!(await store.headObject(BucketName, ObjectKey))) throw invalidParameter('InputFileTosLocation', `tos://${BucketName}/${ObjectKey} does not exist`);
          throw dryRunPassed();
        }
        const job = await jobs.create(input);
        return { Id: job.Id };
      }
      case 'GetBatchInferenceJob': {
        const id = requireId(p);
        const job = jobs.get(id);
        if (!job) throw notFound(id);
        return job;
      }
      case 'ListBatchInferenceJobs': {
        const q = validateList(p);
        const { TotalCount, Items } = selectJobs(jobs.list(), q);
        return { TotalCount, PageNumber: q.pageNumber, PageSize: q.pageSize, Items: Items.map(listItem) };
      }
      case 'StopBatchInferenceJob': {
        const id = requireId(p);
        if (dryRun(p)) {
          if (!jobs.get(id)) throw notFound(id);
          throw dryRunPassed();
        }
        await jobs.stop(id);
        return {};
      }
      case 'ResumeBatchInferenceJob': {
        const id = requireId(p);
        await jobs.resume(id);
        return { Id: id };
      }
      case 'UpdateBatchInferenceJob': {
        const id = requireId(p);
        const fields: { Name?: string; Description?: string } = {};
        if (p.Name !== undefined && p.Name !== null) fields.Name = validateName(p.Name);
        if (p.Description !== undefined && p.Description !== null) {
          if (typeof p.Description !== 'string' || [...p.Description].length > 300) throw invalidParameter('Description', 'expected at most 300 characters');
          fields.Description = p.Description;
        }
        if (dryRun(p)) {
          if (!jobs.get(id)) throw notFound(id);
          throw dryRunPassed();
        }
        await jobs.update(id, fields);
        return {};
      }
      case 'DeleteBatchInferenceJob': {
        const id = requireId(p);
        if (dryRun(p)) {
          if (!jobs.get(id)) throw notFound(id);
          throw dryRunPassed();
        }
        await jobs.delete(id);
        return {};
      }
    }
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://local.invalid');
    const actionParam = url.searchParams.get('Action') ?? '';
    const version = url.searchParams.get('Version') ?? '';
    const meta = { RequestId: openApiRequestId(clock()), Action: actionParam, Version: version, Service: 'ark', Region: region };
    const send = (status: number, payload: unknown) => {
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'X-Tt-Logid': meta.RequestId });
      res.end(text);
    };
    const sendError = (e: ApiError) => send(e.status, { ResponseMetadata: { ...meta, Error: { CodeN: e.codeN, Code: e.code, Message: e.message } } });

    try {
      const body = await readBody(req, maxBodyBytes);
      const fault = (faults?.decide(actionParam) ?? null) || (faults?.decide('openapi') ?? null);
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'stall') await new Promise((r) => setTimeout(r, fault.ms));
      if (fault?.kind === 'status') throw faultError(fault.status);

      if (!actionParam) throw missingParameter('Action');
      if (!version) throw missingParameter('Version');
      const verdict = verifyRequest({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body,
        secretFor: (ak) => secrets.get(ak),
        region,
        service: 'ark',
        now: new Date(clock()),
        maxSkewMs: options.maxSkewMs,
      });
      if (!verdict.ok) {
        const f = VERIFY_FAILURES[verdict.code];
        throw new ApiError(f.status, verdict.code, verdict.message, f.codeN);
      }
      if (version !== OPENAPI_VERSION || !(ACTIONS as readonly string[]).includes(actionParam)) {
        throw new ApiError(404, 'InvalidActionOrVersion', `Could not find operation ${actionParam} for version ${version}.`, 100008);
      }
      const params: Record<string, unknown> = {};
      for (const [k, v] of url.searchParams) if (k !== 'Action' && k !== 'Version') params[k] = v;
      if (body.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new ApiError(400, 'InvalidParameter', 'The request body is not valid JSON.');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ApiError(400, 'InvalidParameter', 'The request body must be a JSON object.');
        Object.assign(params, parsed);
      }
      const result = await dispatch(actionParam as Action, params);
      send(200, { ResponseMetadata: meta, Result: result });
    } catch (err) {
      if (err instanceof ApiError) return sendError(err);
      if (isArkBatchError(err) && err.remoteCode) return sendError(new ApiError(err.status ?? 400, err.remoteCode, err.detail));
      // The client gets an answer; the caller (server.ts) still gets the error to report.
      if (!res.headersSent) sendError(new ApiError(500, 'InternalError', 'The service encountered an internal error.', 100014));
      throw err;
    }
  };
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'NotFound.BatchInferenceJob', `The specified batch inference job ${id} is not found.`);
}
