/** The worker side of lib/join/worker-pool.ts: runs each task it is sent and answers with its result or error. */
import { parentPort } from 'node:worker_threads';
import { matchPartition, spillRange } from './spill-tasks.ts';
import type { JoinTask } from './worker-pool.ts';
import { serializeError } from './worker-pool.ts';

parentPort!.on('message', (task: JoinTask) => {
  try {
    const result = task.kind === 'range' ? spillRange(task) : matchPartition(task);
    parentPort!.postMessage({ ok: true, result });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: serializeError(err) });
  }
});
