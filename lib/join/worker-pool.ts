/**
 * Worker threads for the join's heavy steps (lib/join/spill-tasks.ts, match-partition.ts,
 * csv-join-range.ts). A list of tasks is shared out through one atomic counter: each worker, and
 * this thread when it calls `help()` (or `helpOnce()`), claims the next unclaimed task until none
 * is left, so the work balances itself and this thread joins in as soon as it is free. Tasks write their own files, so who ran which never changes the
 * output. A failed task does not stop the others; its error (an ArkBatchError keeps its code and
 * context) is its outcome. Workers load TypeScript the way the CLI does (tsx's loader).
 */
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../streams/ts-worker.ts';
import { ArkBatchError, deserializeError, type SerializedError } from '../errors.ts';
import type { JoinCounts } from './csv-join-pass.ts';
import { joinCsvRange, type CsvJoinRangeTask } from './csv-join-range.ts';
import { matchPartition, type MatchPartitionResult, type MatchPartitionTask } from './match-partition.ts';
import { spillRange, type SpillRangeResult, type SpillRangeTask } from './spill-tasks.ts';

export type JoinTask = SpillRangeTask | MatchPartitionTask | CsvJoinRangeTask;
export type ResultOf<T extends JoinTask> = T extends SpillRangeTask ? SpillRangeResult : T extends MatchPartitionTask ? MatchPartitionResult : JoinCounts;
export type Outcome<R> = { readonly ok: true; readonly result: R } | { readonly ok: false; readonly error: unknown };

/** The pool's messages: a task list to work on, and per task its outcome. */
export interface TaskListMessage {
  readonly tasks: readonly JoinTask[];
  readonly counter: SharedArrayBuffer;
}
export type TaskReply = { readonly i: number; readonly ok: true; readonly result: unknown } | { readonly i: number; readonly ok: false; readonly error: SerializedError };

/** Runs the task on this thread. */
export function runTask<T extends JoinTask>(task: T): ResultOf<T> {
  return (task.kind === 'range' ? spillRange(task) : task.kind === 'match' ? matchPartition(task) : joinCsvRange(task)) as ResultOf<T>;
}

export interface TaskRun<R> {
  /** Works on the list on this thread until every task is claimed. */
  help(): Promise<void>;
  /** Runs the next unclaimed task on this thread; false when none was left. */
  helpOnce(): Promise<boolean>;
  /** Task i's outcome once it is done (rejects like `settled` when the pool fails). */
  done(i: number): Promise<Outcome<R>>;
  /** Task i's outcome if it is done already. */
  outcome(i: number): Outcome<R> | undefined;
  /** Every task's outcome, by index, once all are done. */
  readonly settled: Promise<Outcome<R>[]>;
}

export interface WorkerPool {
  /** Worker threads (this thread comes on top when it helps). */
  readonly size: number;
  /** Starts a task list on the workers (one list at a time). */
  start<T extends JoinTask>(tasks: readonly T[]): TaskRun<ResultOf<T>>;
  /** Stops the workers; unfinished runs fail with E_ABORTED. Safe to call twice. */
  close(): Promise<void>;
}

/** A worker on one of join's worker modules; a small young generation, since each worker counts toward RSS. */
export function startWorker(name: 'join-worker', options: { readonly youngGenerationMb?: number } = {}): Worker {
  return startTsWorker(`lib/join/${name}.ts`, { resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? 8 } });
}

export function createWorkerPool(options: { readonly workers: number }): WorkerPool {
  const workers: Worker[] = [];
  let closed = false;
  let failure: unknown = null;
  /** The run in progress: where outcomes go, and how it ends. */
  let current: { record(i: number, o: Outcome<unknown>): void; fail(err: unknown): void; counter: Int32Array; n: number } | null = null;

  const fail = (err: unknown) => {
    if (closed) return;
    closed = true;
    failure = err;
    current?.fail(err);
  };
  for (let i = 0; i < options.workers; i++) {
    const w = startWorker('join-worker');
    workers.push(w);
    w.on('message', (m: TaskReply) => current?.record(m.i, m.ok ? { ok: true, result: m.result } : { ok: false, error: deserializeError(m.error) }));
    w.on('error', fail);
    w.on('exit', (code) => fail(new ArkBatchError('E_IO', `a join worker stopped (exit code ${code})`)));
  }

  function start<T extends JoinTask>(tasks: readonly T[]): TaskRun<ResultOf<T>> {
    const counter = new SharedArrayBuffer(4);
    const claim = new Int32Array(counter);
    const outcomes: Outcome<ResultOf<T>>[] = new Array(tasks.length);
    const waiters = new Map<number, { resolve(o: Outcome<ResultOf<T>>): void; reject(err: unknown): void }>();
    let left = tasks.length;
    let resolve!: (o: Outcome<ResultOf<T>>[]) => void;
    let reject!: (err: unknown) => void;
    const settled = new Promise<Outcome<ResultOf<T>>[]>((res, rej) => ((resolve = res), (reject = rej)));
    // Handled here too: a caller may stop before it awaits (the join is destroyed early).
    settled.catch(() => {});
    const run = {
      counter: claim,
      n: tasks.length,
      record(i: number, o: Outcome<unknown>) {
        outcomes[i] = o as Outcome<ResultOf<T>>;
        waiters.get(i)?.resolve(outcomes[i]!);
        waiters.delete(i);
        if (--left === 0) {
          if (current === run) current = null;
          resolve(outcomes);
        }
      },
      fail(err: unknown) {
        Atomics.store(claim, 0, tasks.length);
        if (current === run) current = null;
        reject(err);
        for (const w of waiters.values()) w.reject(err);
        waiters.clear();
      },
    };
    if (tasks.length === 0) resolve(outcomes);
    else if (closed) run.fail(failure);
    else {
      current = run;
      for (const w of workers) w.postMessage({ tasks, counter } satisfies TaskListMessage);
    }
    const helpOnce = async (): Promise<boolean> => {
      const i = Atomics.add(claim, 0, 1);
      if (i >= tasks.length) return false;
      try {
        run.record(i, { ok: true, result: runTask(tasks[i]!) });
      } catch (error) {
        run.record(i, { ok: false, error });
      }
      // Let the workers' answers in between tasks.
      await new Promise((r) => setImmediate(r));
      return true;
    };
    let failed: { error: unknown } | null = null;
    settled.catch((error) => (failed = { error }));
    return {
      settled,
      helpOnce,
      async help() {
        while (await helpOnce());
      },
      outcome: (i) => outcomes[i],
      done(i) {
        if (outcomes[i]) return Promise.resolve(outcomes[i]!);
        if (failed) return Promise.reject(failed.error);
        return new Promise((resolve, reject) => waiters.set(i, { resolve, reject }));
      },
    };
  }

  return {
    size: options.workers,
    start,
    async close() {
      fail(new ArkBatchError('E_ABORTED', 'the join worker pool was closed'));
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
