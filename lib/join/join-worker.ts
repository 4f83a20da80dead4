/** The worker side of lib/join/worker-pool.ts: claims tasks of each list it is sent until none is left. */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../errors.ts';
import { runTask, type TaskListMessage, type TaskReply } from './worker-pool.ts';

parentPort!.on('message', ({ tasks, counter }: TaskListMessage) => {
  const claim = new Int32Array(counter);
  for (let i = Atomics.add(claim, 0, 1); i < tasks.length; i = Atomics.add(claim, 0, 1)) {
    let reply: TaskReply;
    try {
      reply = { i, ok: true, result: runTask(tasks[i]!) };
    } catch (err) {
      reply = { i, ok: false, error: serializeError(err) };
    }
    parentPort!.postMessage(reply);
  }
});
