import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEchoResponder } from '../lib/local/echo-model.ts';
import { startLocalServer } from '../lib/local/server.ts';
import { abortable } from './helpers/test-responder.ts';
import { cliRunner, type Cli } from './helpers/cli.ts';
import { heldResponder, inputLines, startArkService, type ArkService } from './helpers/ark-service.ts';

const BIN = fileURLToPath(new URL('../bin/ark-batch.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let cli: Cli;
const cleanups: Array<() => Promise<void> | void> = [];
before(async () => {
  cli = await cliRunner({ after: (fn) => cleanups.push(fn) });
});
after(async () => {
  for (const fn of cleanups) await fn();
});

/** The real binary in its own process, with only the variables given (no credentials leak in from the host). */
function spawnCli(args: readonly string[], env: Record<string, string>, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env }, cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

function envFor(svc: ArkService): Record<string, string> {
  return {
    VOLC_ACCESSKEY: svc.server.accessKey,
    VOLC_SECRETKEY: svc.server.secretKey,
    ARK_OPENAPI_ENDPOINT: svc.server.openapiEndpoint,
    TOS_ENDPOINT: svc.server.tosEndpoint,
  };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const SUBMIT = ['--model', 'doubao-seed-1-6', '--model-version', '250615', '--output', 'tos://out-bkt/runs'];

test('submit → status → list → wait → results works end to end while 20% of OpenAPI calls fail with 503', async (t) => {
  const svc = await startArkService(t, { faults: 'openapi=0.2:503', seed: 5 });
  const env = envFor(svc);
  const dir = await tempDir(t);
  await svc.put('in-bkt', 'reviews 评论.jsonl', inputLines(30, (i) => (i % 7 === 0 ? 'AccessDenied' : undefined)));
  await svc.put('out-bkt', '.keep', '');

  const submit = await spawnCli(['submit', 'tos://in-bkt/reviews 评论.jsonl', ...SUBMIT, '--tag', 'team=nlp', '--window', '3d'], env);
  assert.equal(submit.code, 0, submit.stderr);
  const id = submit.stdout.trim();
  assert.match(id, /^bi-\d{14}-[a-z0-9]{5}$/);

  const wait = await cli(['wait', id, '--interval', '20ms', '--json'], env);
  assert.equal(wait.code, 0, wait.stderr);
  const job = JSON.parse(wait.stdout);
  assert.deepEqual(job.RequestCounts, { Total: 30, Completed: 26, Failed: 4 });
  assert.equal(job.Name, 'reviews-评论');

  const status = await cli(['status', id], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^Id\s+bi-/);
  assert.match(status.stdout, /Phase\s+Completed/);
  assert.match(status.stdout, /Requests\s+26 completed, 4 failed, 30 total \(100\.0%\)/);
  assert.match(status.stdout, /Output\s+tos:\/\/out-bkt\/runs\/bi-/);

  const list = await cli(['list', '--phase', 'Completed'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ID\s+PHASE\s+DONE\s+FAILED\s+CREATED\s+NAME\n/);
  assert.match(list.stdout, new RegExp(`${id}\\s+Completed\\s+30/30\\s+4\\s`));

  const results = await cli(['results', id, '-o', dir], env);
  assert.equal(results.code, 0, results.stderr);
  assert.deepEqual(results.stdout.trim().split('\n'), [join(dir, 'results.jsonl'), join(dir, 'errors.jsonl')]);
  const lines = async (name: string) => (await readFile(join(dir, name), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).custom_id as string);
  assert.equal((await lines('results.jsonl')).length, 26);
  assert.deepEqual((await lines('errors.jsonl')).sort(), ['row-14', 'row-21', 'row-28', 'row-7']);
});

test('wait exits 1 naming the phase on Failed, and 3 on timeout', async (t) => {
  const held = heldResponder();
  const echo = createEchoResponder({ seed: 1 });
  const svc = await startArkService(t, {
    responder: async (body, signal) => (JSON.stringify(body).includes('slow') ? held.responder(body, signal) : echo(body, signal)),
  });
  const env = envFor(svc);
  await svc.put('in-bkt', 'bad.jsonl', '{"custom_id":"a","body":{"messages":[]}}\nnot json\n');
  await svc.put('in-bkt', 'slow.jsonl', JSON.stringify({ custom_id: 'a', body: { messages: [{ role: 'user', content: 'slow' }] } }) + '\n');
  const failed = (await cli(['submit', 'tos://in-bkt/bad.jsonl', ...SUBMIT], env)).stdout.trim();
  const slow = (await cli(['submit', 'tos://in-bkt/slow.jsonl', ...SUBMIT], env)).stdout.trim();

  const f = await cli(['wait', failed, '--interval', '20ms'], env);
  assert.equal(f.code, 1, f.stderr);
  assert.match(f.stderr, new RegExp(`E_JOB_FAILED job ${failed} ended Failed: .*2`));

  const s = await cli(['wait', slow, '--interval', '20ms', '--timeout', '300ms'], env);
  assert.equal(s.code, 3, s.stderr);
  assert.match(s.stderr, /E_TIMEOUT .*still Running/);
  assert.match(s.stderr, new RegExp(`${slow} Running 0/1 done`), 'a line per change when stderr is not a terminal');
  held.release();
});

test('a second submit of the same input prints the active job id with a notice; bad flags fail with 2 before any request', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder });
  const env = envFor(svc);
  await svc.put('in-bkt', 'same.jsonl', inputLines(2));
  const first = await cli(['submit', 'tos://in-bkt/same.jsonl', ...SUBMIT], env);
  const second = await cli(['submit', 'tos://in-bkt/same.jsonl', ...SUBMIT, '--name', 'again'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, first.stdout);
  assert.match(second.stderr, /already runs for tos:\/\/in-bkt\/same\.jsonl; no new job was created/);
  const json = await cli(['submit', 'tos://in-bkt/same.jsonl', ...SUBMIT, '--json'], env);
  assert.deepEqual(JSON.parse(json.stdout).existing, true);

  // Nothing listens here: a usage error proves no request was attempted.
  const dead = http.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const nowhere = { ...env, ARK_OPENAPI_ENDPOINT: `http://127.0.0.1:${port}` };
  for (const [args, re] of [
    [['--window', '30d'], /completion window/],
    [['--name', 'bad name'], /job name/],
    [['--custom-model-id', 'cm-1'], /not both/],
  ] as const) {
    const r = await cli(['submit', 'tos://in-bkt/same.jsonl', ...SUBMIT, ...args], nowhere);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const noCreds = await cli(['status', 'bi-20250101000000-aaaaa'], { ARK_OPENAPI_ENDPOINT: env.ARK_OPENAPI_ENDPOINT });
  assert.deepEqual([noCreds.code, /VOLC_ACCESSKEY is not set/.test(noCreds.stderr)], [2, true]);
  held.release();
});

test('stop, resume and delete work by id; delete needs no --yes without a terminal; results refuse a running job', async (t) => {
  let block = true;
  let calls = 0;
  const echo = createEchoResponder({ seed: 2 });
  const svc = await startArkService(t, {
    concurrencyPerJob: 1,
    responder: async (body, signal) => {
      calls++;
      if (block && calls > 1) await abortable(new Promise<void>(() => {}), signal);
      return echo(body, signal);
    },
  });
  const env = envFor(svc);
  const dir = await tempDir(t);
  await svc.put('in-bkt', 'ctl.jsonl', inputLines(4));
  const id = (await cli(['submit', 'tos://in-bkt/ctl.jsonl', ...SUBMIT], env)).stdout.trim();
  const early = await cli(['results', id, '-o', dir], env);
  assert.equal(early.code, 2);
  assert.match(early.stderr, /is (Queued|Running); results exist once/);

  const stop = await cli(['stop', id, '--json'], env);
  assert.equal(stop.code, 0, stop.stderr);
  assert.deepEqual(JSON.parse(stop.stdout), { id, action: 'stop', ok: true });
  const ended = await cli(['wait', id, '--interval', '20ms', '--json'], env);
  assert.equal(ended.code, 1);
  assert.equal(JSON.parse(ended.stdout).Status.Phase, 'Terminated', ended.stdout);
  const partial = await cli(['results', id, '-o', dir], env);
  assert.equal(partial.code, 0, partial.stderr);
  assert.match(partial.stderr, /Terminated; these are partial results/);
  assert.equal((await readFile(join(dir, 'results.jsonl'), 'utf8')).trim().split('\n').length, 1);

  block = false;
  assert.equal((await cli(['resume', id], env)).code, 0);
  assert.equal((await cli(['wait', id, '--interval', '20ms'], env)).code, 0);
  const del = await cli(['delete', id], env);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stderr, new RegExp(`deleted ${id}`));
  const gone = await cli(['status', id], env);
  assert.equal(gone.code, 3);
  assert.match(gone.stderr, /NotFound\.BatchInferenceJob/);
});

test('--local keeps jobs in .ark-batch/local: a job submitted by one command runs while wait holds the service', async (t) => {
  const cwd = await tempDir(t);
  const seed = await startLocalServer({ dataDir: join(cwd, '.ark-batch/local') });
  await seed.store.createBucket('in-bkt');
  await seed.store.createBucket('out-bkt');
  await seed.store.putObject('in-bkt', 'local.jsonl', Buffer.from(inputLines(5, (i) => (i === 2 ? 'InvalidParameter' : undefined))));
  await seed.close();
  const submit = await cli(['submit', 'tos://in-bkt/local.jsonl', ...SUBMIT, '--local'], {}, cwd);
  assert.equal(submit.code, 0, submit.stderr);
  const id = submit.stdout.trim();
  const wait = await cli(['wait', id, '--local', '--interval', '20ms'], {}, cwd);
  assert.equal(wait.code, 0, wait.stderr);
  const results = await cli(['results', id, '--local', '--json'], {}, cwd);
  assert.equal(results.code, 0, results.stderr);
  const summary = JSON.parse(results.stdout);
  assert.deepEqual(summary.files.map((f: { kind: string; lines: number }) => [f.kind, f.lines]), [['results', 4], ['errors', 1]]);
  assert.deepEqual((await readdir(join(cwd, id))).sort(), ['errors.jsonl', 'results.jsonl']);
});
