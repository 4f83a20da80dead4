/**
 * Where a job's result files are (ark.md §4.1). Results live under `{OutputDir.ObjectKey}{Id}/`;
 * the errors file is at `ErrorFileTosLocation` when Get returns one, and otherwise somewhere
 * under that prefix: `output/errors.jsonl` in the English guide, `error/errors.jsonl` in the
 * Chinese one and in third-party clients. So the prefix is listed and every `.jsonl` taken;
 * nothing else is assumed. The listing is injected, so this module does no I/O of its own.
 */
import { ArkBatchError } from '../errors.ts';
import type { ArkJob } from './jobs.ts';

export interface ListedObject {
  readonly key: string;
  readonly size?: number;
}

/** Every object under `prefix` in `bucket`, in any order, across all pages. */
export type ListObjects = (bucket: string, prefix: string) => AsyncIterable<ListedObject>;

export type ResultKind = 'results' | 'errors';

export interface ResultFile {
  readonly kind: ResultKind;
  readonly bucket: string;
  readonly key: string;
  /** Size from the listing, when known. */
  readonly size?: number;
  /** False for an ErrorFileTosLocation the listing did not show (it may not exist). */
  readonly listed: boolean;
  /** File name to save it as: `results.jsonl`/`errors.jsonl`, numbered when a kind has several. */
  readonly localName: string;
}

/** `{OutputDir.ObjectKey}{Id}/` */
export function jobOutputPrefix(job: Pick<ArkJob, 'Id' | 'OutputDirTosLocation'>): { bucket: string; prefix: string } {
  const out = job.OutputDirTosLocation;
  if (!out?.BucketName) throw new ArkBatchError('E_ARK_API', `job ${job.Id} has no OutputDirTosLocation`);
  return { bucket: out.BucketName, prefix: `${out.ObjectKey}${job.Id}/` };
}

/** An errors file: in an `error/` or `errors/` folder, or named `error*.jsonl`. */
export function kindOfKey(relativeKey: string): ResultKind {
  const parts = relativeKey.toLowerCase().split('/');
  const name = parts.at(-1) ?? '';
  if (parts.slice(0, -1).some((p) => p === 'error' || p === 'errors') || name.startsWith('error')) return 'errors';
  return 'results';
}

/**
 * The job's result files: every `.jsonl` under the prefix, plus ErrorFileTosLocation when it lies
 * elsewhere, each classified and given a local name; results first, then errors, each by key.
 */
export async function locateResults(job: ArkJob, list: ListObjects): Promise<ResultFile[]> {
  const { bucket, prefix } = jobOutputPrefix(job);
  const errorLoc = job.ErrorFileTosLocation?.ObjectKey ? job.ErrorFileTosLocation : undefined;
  const found = new Map<string, { kind: ResultKind; bucket: string; key: string; size?: number; listed: boolean }>();
  for await (const obj of list(bucket, prefix)) {
    if (!obj.key.startsWith(prefix) || !obj.key.toLowerCase().endsWith('.jsonl')) continue;
    const isErrorFile = errorLoc !== undefined && errorLoc.BucketName === bucket && errorLoc.ObjectKey === obj.key;
    found.set(`${bucket}/${obj.key}`, { kind: isErrorFile ? 'errors' : kindOfKey(obj.key.slice(prefix.length)), bucket, key: obj.key, size: obj.size, listed: true });
  }
  if (errorLoc && !found.has(`${errorLoc.BucketName}/${errorLoc.ObjectKey}`)) {
    found.set(`${errorLoc.BucketName}/${errorLoc.ObjectKey}`, { kind: 'errors', bucket: errorLoc.BucketName, key: errorLoc.ObjectKey, listed: false });
  }
  const files = [...found.values()].sort((a, b) => (a.kind === b.kind ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.kind === 'results' ? -1 : 1));
  const counts = { results: 0, errors: 0 };
  for (const f of files) counts[f.kind]++;
  const seq = { results: 0, errors: 0 };
  return files.map((f) => {
    const n = ++seq[f.kind];
    return { ...f, localName: counts[f.kind] === 1 ? `${f.kind}.jsonl` : `${f.kind}-${n}.jsonl` };
  });
}
