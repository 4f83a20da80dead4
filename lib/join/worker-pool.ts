/**
 * A small pool of worker threads for the join's heavy steps (lib/join/spill-tasks.ts). Tasks are
 * plain data; each worker takes the next queued task when it is free, and a task's promise
 * settles with its result or its error (an ArkBatchError keeps its code and context). Workers
 * load TypeScript the way the CLI does (tsx's loader) when this file runs as TypeScript.
 */
import { Worker } from 'node:worker_threads';
import { ArkBatchError, type ErrorCode } from '../errors.ts';
import type { MatchPartitionResult, MatchPartitionTask, SpillRangeResult, SpillRangeTask } from './spill-tasks.ts';

export type JoinTask = SpillRangeTask | MatchPartitionTask;
type ResultOf<T extends JoinTask> = T extends SpillRangeTask ? SpillRangeResult : MatchPartitionResult;

/** An error as data, to cross a thread. */
export interface SerializedError {
  readonly code?: ErrorCode;
  readonly detail?: string;
  readonly fields?: Record<string, unknown>;
  readonly message: string;
  readonly causeMessage?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ArkBatchError) {
    const { code, detail, name: _n, ...fields } = err as ArkBatchError & Record<string, unknown>;
    const cause = err.cause;
    return { code, detail, fields, message: err.message, causeMessage: cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause) };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

export function deserializeError(e: SerializedError): Error {
  const cause = e.causeMessage === undefined ? undefined : new Error(e.causeMessage);
  if (e.code !== undefined) return new ArkBatchError(e.code, e.detail!, { ...e.fields, cause });
  return new Error(e.message);
}

export interface WorkerPool {
  /** Number of workers. */
  readonly size: number;
  run<T extends JoinTask>(task: T): Promise<ResultOf<T>>;
  /** Stops the workers; queued and running tasks fail with E_ABORTED. Safe to call twice. */
  close(): Promise<void>;
}

interface Pending {
  readonly task: JoinTask;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

const EXT = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

/**
 * Starts a worker on a module beside this one (`name` without extension), loading TypeScript
 * through tsx's loader first when the toolkit runs as TypeScript.
 */
export function startWorker(name: string, options: { readonly youngGenerationMb?: number } = {}): Worker {
  const url = new URL(`./${name}.${EXT}`, import.meta.url).href;
  const code =
    EXT === 'ts'
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`
      : `import(${JSON.stringify(url)});`;
  // A small young generation: a worker's garbage is short-lived, and each one counts toward RSS.
  return new Worker(code, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? 8 } });
}

export function createWorkerPool(options: { readonly workers: number }): WorkerPool {
  const queue: Pending[] = [];
  const idle: Worker[] = [];
  const busy = new Map<Worker, Pending>();
  const all: Worker[] = [];
  let closed = false;

  const failAll = (err: unknown) => {
    for (const p of queue.splice(0)) p.reject(err);
    for (const p of busy.values()) p.reject(err);
    busy.clear();
  };

  const pump = () => {
    while (!closed && idle.length > 0 && queue.length > 0) {
      const w = idle.pop()!;
      const p = queue.shift()!;
      busy.set(w, p);
      w.postMessage(p.task);
    }
  };

  for (let i = 0; i < options.workers; i++) {
    const w = startWorker('join-worker');
    all.push(w);
    w.on('message', (msg: { ok: true; result: unknown } | { ok: false; error: SerializedError }) => {
      const p = busy.get(w);
      busy.delete(w);
      idle.push(w);
      if (p) {
        if (msg.ok) p.resolve(msg.result);
        else p.reject(deserializeError(msg.error));
      }
      pump();
    });
    w.on('error', (err) => {
      closed = true;
      failAll(err);
    });
    w.on('exit', (exitCode) => {
      if (!closed) {
        closed = true;
        failAll(new ArkBatchError('E_IO', `a join worker stopped (exit code ${exitCode})`));
      }
    });
    idle.push(w);
  }

  return {
    size: options.workers,
    run<T extends JoinTask>(task: T): Promise<ResultOf<T>> {
      if (closed) return Promise.reject(new ArkBatchError('E_ABORTED', 'the join worker pool is closed'));
      return new Promise<ResultOf<T>>((resolve, reject) => {
        queue.push({ task, resolve: resolve as (v: unknown) => void, reject });
        pump();
      });
    },
    async close() {
      if (!closed) {
        closed = true;
        failAll(new ArkBatchError('E_ABORTED', 'the join worker pool was closed'));
      }
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
