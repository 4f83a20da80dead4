/**
 * Ctrl-C during `prep --upload` while a part upload stalls: the run cleans up (the multipart
 * upload is aborted) and the process exits with 130 then, not when the stalled request — which
 * the TOS SDK cannot cancel — finally times out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalServer } from '../lib/local/server.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');

test('SIGTERM during a stalled part upload: exit 130 soon after, no multipart upload left open', async () => {
  const server = await startLocalServer({ faults: 'uploadPart=1:stall:120000' });
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-interrupt-'));
  try {
    await server.store.createBucket('bkt');
    const csv = join(dir, 'in.csv');
    await writeFile(csv, `id,text\n${Array.from({ length: 30_000 }, (_, i) => `r${i},${'some text '.repeat(30)}${i}`).join('\n')}\n`);
    const env = { ...process.env, TOS_ENDPOINT: server.tosEndpoint, VOLC_ACCESSKEY: server.accessKey, VOLC_SECRETKEY: server.secretKey, VOLC_REGION: server.region };
    const child = spawn(process.execPath, [BIN, 'prep', csv, '--id', 'id', '--user', '{{text}}', '--upload', 'tos://bkt/batch.jsonl', '--part-size', '5MiB', '--quiet'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const open = async () => (await server.store.listMultipartUploads('bkt', {})).uploads.length;
    while ((await open()) === 0) {
      if (child.exitCode !== null) assert.fail(`prep ended before its upload began: ${stderr}`);
      await sleep(20);
    }
    await sleep(300); // a part is on its way and stalls
    child.kill('SIGTERM');
    // The stall lasts 120 s and the SDK's request timeout is 60 s: either would show here.
    const code = await Promise.race([closed, sleep(30_000).then(() => 'still running')]);
    assert.equal(code, 130, stderr);
    assert.equal(await open(), 0, 'the multipart upload was aborted');
    if (child.exitCode === null) child.kill('SIGKILL');
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
