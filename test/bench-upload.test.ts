import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { createTosClient } from '../lib/tos/client.ts';
import { listObjects } from '../lib/tos/list.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');
const RUN_PREFIX = /^tos:\/\/bench-bkt\/team\/ark-batch-bench\/\d{8}T\d{6}Z-[0-9a-f]{6}\/$/;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `ark-batch bench …` as a user would run it, with TOS configured through the environment only. */
function bench(args: readonly string[], env: Record<string, string>, whileRunning?: (pid: number) => Promise<void>): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'bench', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    whileRunning?.(child.pid!).catch(reject);
  });
}

/** The bench's TOS config points at a serve acting as the real TOS: endpoint, region and keys from the environment. */
function tosEnv(server: LocalServer): Record<string, string> {
  return { TOS_ENDPOINT: server.tosEndpoint, VOLC_ACCESSKEY: server.accessKey, VOLC_SECRETKEY: server.secretKey, VOLC_REGION: server.region };
}

async function keysUnder(server: LocalServer, prefix: string): Promise<{ key: string; size: number }[]> {
  const client = createTosClient({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey, region: server.region, tosEndpoint: server.tosEndpoint });
  const out: { key: string; size: number }[] = [];
  for await (const e of listObjects({ client, bucket: 'bench-bkt', prefix })) if (e.type === 'object') out.push({ key: e.key, size: e.size });
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

async function uploadsUnder(server: LocalServer, prefix: string): Promise<string[]> {
  return (await server.store.listMultipartUploads('bench-bkt', { prefix })).uploads.map((u) => u.key);
}

describe('bench --stages upload against TOS (a serve standing in for it)', () => {
  let server: LocalServer;
  before(async () => {
    server = await startLocalServer();
    await server.store.createBucket('bench-bkt');
    await server.store.putObject('bench-bkt', 'team/keep.txt', Buffer.from('not the bench\'s'));
  });
  after(() => server.close());

  test('--keep leaves one object per run under a fresh, named prefix; the report names the target and never a secret', async () => {
    const r = await bench(['--synthetic', '--rows', '300', '--stages', 'upload', '--runs', '2', '--upload-prefix', 'tos://bench-bkt/team', '--keep', '--json'], tosEnv(server));
    assert.equal(r.code, 0, r.stderr);
    const [result] = JSON.parse(r.stdout) as { stage: string; uploadTarget: string; lines: number; runs: { bytesOut: number }[] }[];
    assert.equal(result!.stage, 'upload');
    assert.match(result!.uploadTarget, RUN_PREFIX);
    assert.match(r.stderr, /upload stage → tos:\/\/bench-bkt\/team\/ark-batch-bench\/.* \(kept afterwards: --keep\)/);
    const prefix = result!.uploadTarget.slice('tos://bench-bkt/'.length);
    const objects = await keysUnder(server, prefix);
    assert.deepEqual(objects.map((o) => o.key), [`${prefix}synthetic-300.csv-1.jsonl`, `${prefix}synthetic-300.csv-2.jsonl`]);
    assert.deepEqual(objects.map((o) => o.size), result!.runs.map((run) => run.bytesOut));
    for (const text of [r.stdout, r.stderr]) assert.ok(!text.includes(server.secretKey) && !text.includes(server.accessKey), 'no credentials in the output');
  });

  test('without --keep the objects are written and then removed; nothing beside the run prefix is touched', async () => {
    const before = await keysUnder(server, 'team/');
    const r = await bench(['--synthetic', '--rows', '200', '--stages', 'prep,upload', '--runs', '1', '--upload-prefix', 'tos://bench-bkt/team/', '--json'], tosEnv(server));
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as { stage: string; uploadTarget?: string; runs: { bytesOut: number }[] }[];
    assert.deepEqual(results.map((x) => x.stage), ['prep', 'upload']);
    assert.equal(results[0]!.uploadTarget, undefined);
    assert.equal(results[1]!.runs[0]!.bytesOut, results[0]!.runs[0]!.bytesOut, 'the upload carried every byte prep wrote');
    assert.match(r.stderr, /bench: removed 1 object under tos:\/\/bench-bkt\/team\/ark-batch-bench\//);
    assert.deepEqual(await keysUnder(server, 'team/'), before, 'only the earlier --keep run and team/keep.txt remain');
    assert.deepEqual(await uploadsUnder(server, 'team/'), []);
  });

  test('a run that dies mid-upload fails the bench, and its unfinished multipart upload is aborted', async () => {
    const stalling = await startLocalServer({ faults: 'uploadPart=1:stall:20000' });
    try {
      await stalling.store.createBucket('bench-bkt');
      // The child prep is killed outright while its first part hangs: it cannot abort its own upload.
      const r = await bench(['--synthetic', '--rows', '20000', '--stages', 'upload', '--runs', '1', '--part-size', '5MiB', '--upload-prefix', 'tos://bench-bkt/team/', '-q'], tosEnv(stalling), async (pid) => {
        while ((await uploadsUnder(stalling, 'team/')).length === 0) await sleep(50);
        for (const child of await childrenOf(pid)) process.kill(child, 'SIGKILL');
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /prep failed during the benchmark/);
      assert.deepEqual(await uploadsUnder(stalling, 'team/'), [], 'the bench aborted the upload its run left behind');
      assert.deepEqual(await keysUnder(stalling, 'team/'), []);
    } finally {
      await stalling.close();
    }
  });

  test('stopping the bench (SIGTERM) stops its run, leaves nothing under the prefix and exits 130', async () => {
    // Every part fails and is retried with backoff: the run is mid-upload for seconds.
    const stalling = await startLocalServer({ faults: 'uploadPart=1:500' });
    try {
      await stalling.store.createBucket('bench-bkt');
      const r = await bench(['--synthetic', '--rows', '20000', '--stages', 'upload', '--runs', '3', '--part-size', '5MiB', '--upload-prefix', 'tos://bench-bkt/team/'], tosEnv(stalling), async (pid) => {
        while ((await uploadsUnder(stalling, 'team/')).length === 0) await sleep(50);
        process.kill(pid, 'SIGTERM');
      });
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /SIGTERM, stopping and cleaning up/);
      assert.match(r.stderr, /bench: removed 0 objects.* under tos:\/\/bench-bkt\/team\/ark-batch-bench\//);
      assert.doesNotMatch(r.stderr, /run 2:/);
      assert.deepEqual(await uploadsUnder(stalling, 'team/'), []);
      assert.deepEqual(await keysUnder(stalling, 'team/'), []);
    } finally {
      await stalling.close();
    }
  });

  test('the upload target flags are checked before anything runs', async () => {
    const cases: [string[], RegExp][] = [
      [['--upload-to', 'tos'], /--upload-to tos needs --upload-prefix/],
      [['--upload-to', 'local', '--upload-prefix', 'tos://bench-bkt/x/'], /does not go with --upload-to local/],
      [['--upload-prefix', 'tos://bench-bkt/x/', '--checkpoint', 'c.json'], /--checkpoint does not apply/],
    ];
    for (const [flags, message] of cases) {
      const r = await bench(['--synthetic', '--rows', '10', '--stages', 'upload', '--runs', '1', ...flags], tosEnv(server));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
    const prepOnly = await bench(['--synthetic', '--rows', '10', '--runs', '1', '--upload-prefix', 'tos://bench-bkt/x/'], tosEnv(server));
    assert.equal(prepOnly.code, 2);
    assert.match(prepOnly.stderr, /add upload to --stages/);
    const noKeys = await bench(['--synthetic', '--rows', '10', '--stages', 'upload', '--runs', '1', '--upload-prefix', 'tos://bench-bkt/x/'], { TOS_ENDPOINT: server.tosEndpoint });
    assert.equal(noKeys.code, 2);
    assert.match(noKeys.stderr, /E_CONFIG VOLC_ACCESSKEY is not set/);
    const noBucket = await bench(['--synthetic', '--rows', '10', '--stages', 'upload', '--runs', '1', '--upload-prefix', 'tos://no-such-bkt/x/'], tosEnv(server));
    assert.equal(noBucket.code, 3);
    assert.match(noBucket.stderr, /HeadBucket of tos:\/\/no-such-bkt failed: HTTP 404/);
  });
});

/** Direct children of a process (the bench's running `prep`). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}
