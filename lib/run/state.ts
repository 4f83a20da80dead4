import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ArkBatchError } from '../errors.ts';

/** The stages of `run`, in order. */
export const RUN_STAGES = ['upload', 'submit', 'wait', 'results', 'join'] as const;
export type RunStage = (typeof RUN_STAGES)[number];

export interface UploadedInput {
  readonly bucket: string;
  readonly key: string;
  readonly lines: number;
  readonly bytes: number;
}

/** What a run has finished so far; written after every stage so a rerun continues there. */
export interface RunState {
  readonly version: 1;
  /** Fingerprint of everything that decides the run's output (source, options, model, place). */
  readonly key: string;
  /** Stages finished, in order. */
  readonly done: readonly RunStage[];
  readonly input?: UploadedInput;
  /** Set before the job is waited for: a rerun never submits a second job. */
  readonly jobId?: string;
  readonly resultFiles?: readonly string[];
  readonly output?: string;
  readonly updatedAt: string;
}

/** A stable fingerprint of the run's identity: same input and options → same key → resume. */
export function runKey(parts: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(JSON.stringify(canonical(parts))).digest('hex').slice(0, 24);
}

/** Objects with sorted keys at every depth, so key order never changes the fingerprint. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
}

export function statePath(dir: string, key: string): string {
  return join(dir, `${key}.json`);
}

export async function loadRunState(path: string, key: string): Promise<RunState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, key, done: [], updatedAt: new Date().toISOString() };
    throw new ArkBatchError('E_IO', `Cannot read run state: ${(err as Error).message}`, { file: path, cause: err });
  }
  let state: RunState;
  try {
    state = JSON.parse(text) as RunState;
  } catch (err) {
    throw new ArkBatchError('E_IO', 'Run state is not JSON; remove it to start over', { file: path, cause: err });
  }
  if (state.version !== 1 || state.key !== key) {
    throw new ArkBatchError('E_IO', `Run state belongs to another run (key ${state.key}); remove it to start over`, { file: path });
  }
  return state;
}

/** Atomic: a crash leaves the old state or the new one, never half of either. */
export async function saveRunState(path: string, state: RunState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2) + '\n');
  await rename(tmp, path);
}
