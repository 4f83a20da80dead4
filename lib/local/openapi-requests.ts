/**
 * Pure request validation and error vocabulary for the local Ark OpenAPI (`*BatchInferenceJob`).
 * Codes and CodeN of the common errors follow Volcengine's public table; codes that table does
 * not cover (`InvalidParameter`, `ConflictOperation`, `NotFound.BatchInferenceJob`,
 * `OperationDenied.InvalidState`, `DryRunOperation`) are our choice and carry CodeN 0.
 */
import type { CreateJobInput, JobPhase, ModelReference, Tag, TosLocation } from './jobs.ts';
import { JOB_PHASES, parseCompletionWindow } from './jobs.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly codeN: number;
  constructor(status: number, code: string, message: string, codeN = 0) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.codeN = codeN;
  }
}

export const missingParameter = (name: string) => new ApiError(400, 'MissingParameter', `The request is missing ${name} parameter.`, 100002);
export const invalidParameter = (name: string, why: string) =>
  new ApiError(400, 'InvalidParameter', `The parameter ${name} is invalid: ${why}.`);

/** HTTP status and CodeN of each signature failure, from the common error table. */
export const VERIFY_FAILURES: Readonly<Record<string, { status: number; codeN: number }>> = {
  MissingAuthenticationToken: { status: 401, codeN: 100003 },
  MissingRequestInfo: { status: 400, codeN: 100004 },
  InvalidTimestamp: { status: 400, codeN: 100006 },
  InvalidAccessKey: { status: 401, codeN: 100009 },
  SignatureDoesNotMatch: { status: 401, codeN: 100010 },
};

type Params = Record<string, unknown>;

const NAME_RE = /^[\p{L}\p{N}_-]{1,200}$/u;

function isObject(v: unknown): v is Params {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(p: Params, name: string, max?: number): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidParameter(name, `expected a string, got ${typeof v}`);
  if (max !== undefined && [...v].length > max) throw invalidParameter(name, `longer than ${max} characters`);
  return v;
}

export function requireId(p: Params): string {
  const id = optString(p, 'Id');
  if (!id) throw missingParameter('Id');
  return id;
}

export function validateName(v: unknown, field = 'Name'): string {
  if (typeof v !== 'string') throw invalidParameter(field, `expected a string, got ${typeof v}`);
  if (!NAME_RE.test(v)) throw invalidParameter(field, '1-200 letters, CJK characters, digits, "-" or "_"');
  return v;
}

export function dryRun(p: Params): boolean {
  const v = p.DryRun;
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw invalidParameter('DryRun', 'expected a boolean');
}

export const dryRunPassed = () => new ApiError(400, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');

function tosLocation(p: Params, name: string, requireKey: boolean): TosLocation {
  const v = p[name];
  if (v === undefined || v === null) throw missingParameter(name);
  if (!isObject(v)) throw invalidParameter(name, 'expected an object {BucketName, ObjectKey}');
  if (typeof v.BucketName !== 'string' || v.BucketName === '') throw missingParameter(`${name}.BucketName`);
  if (typeof v.ObjectKey !== 'string' || (requireKey && v.ObjectKey === '')) throw missingParameter(`${name}.ObjectKey`);
  return { BucketName: v.BucketName, ObjectKey: v.ObjectKey };
}

function modelReference(p: Params): ModelReference {
  const v = p.ModelReference;
  if (v === undefined || v === null) throw missingParameter('ModelReference');
  if (!isObject(v)) throw invalidParameter('ModelReference', 'expected an object');
  const hasFm = v.FoundationModel !== undefined && v.FoundationModel !== null;
  const hasCustom = v.CustomModelId !== undefined && v.CustomModelId !== null;
  if (hasFm === hasCustom) throw invalidParameter('ModelReference', 'exactly one of FoundationModel or CustomModelId is required');
  if (hasCustom) {
    if (typeof v.CustomModelId !== 'string' || v.CustomModelId === '') throw invalidParameter('ModelReference.CustomModelId', 'expected a non-empty string');
    return { CustomModelId: v.CustomModelId };
  }
  const fm = v.FoundationModel;
  if (!isObject(fm) || typeof fm.Name !== 'string' || fm.Name === '') throw invalidParameter('ModelReference.FoundationModel.Name', 'expected a non-empty string');
  if (fm.ModelVersion !== undefined && typeof fm.ModelVersion !== 'string') throw invalidParameter('ModelReference.FoundationModel.ModelVersion', 'expected a string');
  return { FoundationModel: fm.ModelVersion === undefined ? { Name: fm.Name } : { Name: fm.Name, ModelVersion: fm.ModelVersion } };
}

function tags(p: Params): Tag[] | undefined {
  const v = p.Tags;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 50) throw invalidParameter('Tags', 'expected at most 50 {Key, Value} objects');
  return v.map((t, i) => {
    if (!isObject(t) || typeof t.Key !== 'string' || t.Key === '' || (t.Value !== undefined && typeof t.Value !== 'string')) {
      throw invalidParameter(`Tags.${i + 1}`, 'expected {Key: non-empty string, Value: string}');
    }
    if (t.Key.startsWith('sys:')) throw invalidParameter(`Tags.${i + 1}.Key`, 'the sys: prefix is reserved');
    return { Key: t.Key, Value: (t.Value as string | undefined) ?? '' };
  });
}

export function validateCreate(p: Params): CreateJobInput {
  if (p.Name === undefined || p.Name === null || p.Name === '') throw missingParameter('Name');
  const Name = validateName(p.Name);
  const Description = optString(p, 'Description', 300);
  const ProjectName = optString(p, 'ProjectName', 64);
  const ModelReference = modelReference(p);
  const InputFileTosLocation = tosLocation(p, 'InputFileTosLocation', true);
  const OutputDirTosLocation = tosLocation(p, 'OutputDirTosLocation', false);
  const CompletionWindow = optString(p, 'CompletionWindow');
  if (CompletionWindow !== undefined && parseCompletionWindow(CompletionWindow) === null) {
    throw invalidParameter('CompletionWindow', 'expected whole days from "1d" to "28d"');
  }
  return { Name, Description, ProjectName: ProjectName || undefined, ModelReference, InputFileTosLocation, OutputDirTosLocation, CompletionWindow, Tags: tags(p) };
}

export interface ListQuery {
  readonly projectName?: string;
  readonly pageNumber: number;
  readonly pageSize: number;
  readonly sortBy: 'CreateTime' | 'UpdateTime';
  readonly sortOrder: 'Asc' | 'Desc';
  readonly ids?: readonly string[];
  readonly name?: string;
  readonly phases?: readonly JobPhase[];
  readonly foundationModels?: ReadonlyArray<{ Name: string; ModelVersions?: readonly string[] }>;
  readonly customModelIds?: readonly string[];
  readonly tagFilters?: ReadonlyArray<{ Key: string; Values?: readonly string[] }>;
}

function intParam(p: Params, name: string, dflt: number, min: number, max: number): number {
  const v = p[name];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw invalidParameter(name, `expected an integer from ${min} to ${max}`);
  return n;
}

function stringArray(v: unknown, name: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidParameter(name, 'expected an array of strings');
  return v as string[];
}

export function validateList(p: Params): ListQuery {
  const sortBy = optString(p, 'SortBy') ?? 'CreateTime';
  if (sortBy !== 'CreateTime' && sortBy !== 'UpdateTime') throw invalidParameter('SortBy', 'expected CreateTime or UpdateTime');
  const sortOrder = optString(p, 'SortOrder') ?? 'Desc';
  if (sortOrder !== 'Asc' && sortOrder !== 'Desc') throw invalidParameter('SortOrder', 'expected Asc or Desc');
  const filter = p.Filter ?? {};
  if (!isObject(filter)) throw invalidParameter('Filter', 'expected an object');
  const phases = stringArray(filter.Phases, 'Filter.Phases');
  for (const ph of phases ?? []) if (!(JOB_PHASES as readonly string[]).includes(ph)) throw invalidParameter('Filter.Phases', `unknown phase ${ph}`);
  const name = filter.Name;
  if (name !== undefined && name !== null && typeof name !== 'string') throw invalidParameter('Filter.Name', 'expected a string');
  const fms = filter.FoundationModels;
  if (fms !== undefined && fms !== null && (!Array.isArray(fms) || fms.some((f) => !isObject(f) || typeof f.Name !== 'string'))) {
    throw invalidParameter('Filter.FoundationModels', 'expected [{Name, ModelVersions}]');
  }
  const tf = p.TagFilters;
  if (tf !== undefined && tf !== null && (!Array.isArray(tf) || tf.some((f) => !isObject(f) || typeof f.Key !== 'string'))) {
    throw invalidParameter('TagFilters', 'expected [{Key, Values}]');
  }
  return {
    projectName: optString(p, 'ProjectName') || undefined,
    pageNumber: intParam(p, 'PageNumber', 1, 1, 1_000_000),
    pageSize: intParam(p, 'PageSize', 10, 1, 100),
    sortBy,
    sortOrder,
    ids: stringArray(filter.Ids, 'Filter.Ids'),
    name: (name as string | undefined) || undefined,
    phases: phases as JobPhase[] | undefined,
    foundationModels: (fms as ListQuery['foundationModels']) ?? undefined,
    customModelIds: stringArray(filter.CustomModelIds, 'Filter.CustomModelIds'),
    tagFilters: (tf as ListQuery['tagFilters']) ?? undefined,
  };
}
