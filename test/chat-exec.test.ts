import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { execBatch, type ExecOptions } from '../lib/chat/exec.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { LOCAL_API_KEY, startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { cutsArb, splitAt } from './helpers/chunking.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-exec-'));
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await fs.rm(dir, { recursive: true, force: true });
});

let n = 0;
function paths() {
  const base = path.join(dir, `run${++n}`);
  return { batch: `${base}.batch.jsonl`, resultsPath: `${base}.results.jsonl`, errorsPath: `${base}.errors.jsonl` };
}

async function server(options: Parameters<typeof startLocalServer>[0] = {}): Promise<LocalServer> {
  const s = await startLocalServer(options);
  cleanups.push(() => s.close());
  return s;
}

const content = (i: number) => `第${i}条评论 😀 ${'🌌'.repeat(i % 5)} ${i % 3 === 0 ? 'x'.repeat((i % 50) * 40) : ''}`;
const line = (id: string, text: string, extra: Record<string, unknown> = {}) => JSON.stringify({ custom_id: id, body: { messages: [{ role: 'user', content: text }], ...extra } });

async function writeBatch(file: string, count: number, special: Record<number, string> = {}): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) lines.push(special[i] ?? line(`row-${i}`, content(i)));
  await fs.writeFile(file, lines.join('\n') + '\n');
  return lines;
}

async function readLines(file: string): Promise<Record<string, any>[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends with a newline`);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** custom_id → how many times it appears across RESULTS and ERRORS. */
async function outcomes(p: { resultsPath: string; errorsPath: string }) {
  const results = await readLines(p.resultsPath);
  const errors = await readLines(p.errorsPath);
  const count = new Map<string, number>();
  for (const l of [...results, ...errors]) count.set(l.custom_id, (count.get(l.custom_id) ?? 0) + 1);
  return { results, errors, count };
}

function run(s: LocalServer, p: ReturnType<typeof paths>, extra: Partial<ExecOptions> = {}) {
  return execBatch({
    input: extra.input ?? createReadStream(p.batch),
    inputName: p.batch,
    model: 'ep-bi-test',
    baseUrl: s.chatBaseUrl,
    apiKey: LOCAL_API_KEY,
    resultsPath: p.resultsPath,
    errorsPath: p.errorsPath,
    concurrency: 32,
    minDelayMs: 2,
    maxDelayMs: 20,
    // The injected 429s say Retry-After: 1; honouring a shorter pause keeps this test quick.
    maxRetryAfterMs: 30,
    ...extra,
  });
}

test('under 503 and 429 faults every line ends in RESULTS or ERRORS exactly once, in the Ark line shapes', async () => {
  const s = await server({ faults: 'chat=0.1:503,chat=0.05:429', seed: 7 });
  const p = paths();
  const fail = { 5: line('row-5', 'bad [[fail:InvalidParameter]]'), 50: line('row-50', 'denied [[fail:AccessDenied]]') };
  await writeBatch(p.batch, 300, fail);
  const summary = await run(s, p);
  const { results, errors, count } = await outcomes(p);
  assert.equal(count.size, 300);
  assert.ok([...count.values()].every((c) => c === 1), 'no custom_id twice');
  assert.deepEqual(errors.map((e) => e.custom_id).sort(), ['row-5', 'row-50']);
  assert.equal(results.length, 298);
  assert.ok(summary.attempts > 300, `faults forced retries (${summary.attempts} attempts)`);
  assert.equal(summary.succeeded, 298);
  assert.equal(summary.failed, 2);
  assert.ok(summary.tokens > 0);
  for (const r of results) {
    assert.deepEqual(Object.keys(r), ['id', 'custom_id', 'error', 'response']);
    assert.equal(r.error, null);
    assert.equal(r.response.status_code, 200);
    assert.equal(r.response.request_id, r.id);
    assert.equal(r.response.body.choices[0].message.content, `echo: ${content(Number(r.custom_id.slice(4)))}`);
  }
  const denied = errors.find((e) => e.custom_id === 'row-50')!;
  assert.equal(denied.response.status_code, 403);
  assert.equal(denied.error.code, 'AccessDenied');
  assert.equal(denied.error.type, 'Forbidden');
});

test('a rerun skips what is done; --retry-errors resends only the failures and replaces their error lines', async () => {
  const s = await server();
  const p = paths();
  await writeBatch(p.batch, 40, { 3: line('row-3', 'flaky [[fail:InvalidParameter]]') });
  await run(s, p);
  const again = await run(s, p);
  assert.equal(again.skipped, 40);
  assert.equal(again.attempts, 0);

  // The line is fixed and resent; its old error line goes away.
  await writeBatch(p.batch, 40);
  const retried = await run(s, p, { retryErrors: true });
  assert.equal(retried.skipped, 39);
  assert.equal(retried.succeeded, 1);
  const { results, errors, count } = await outcomes(p);
  assert.equal(results.length, 40);
  assert.equal(errors.length, 0);
  assert.ok([...count.values()].every((c) => c === 1));
});

test('a torn last line left by a crash is cut off and that request runs again', async () => {
  const s = await server();
  const p = paths();
  await writeBatch(p.batch, 10);
  await run(s, p);
  const text = await fs.readFile(p.resultsPath, 'utf8');
  const lines = text.split('\n').filter(Boolean);
  const lost = JSON.parse(lines.at(-1)!).custom_id as string;
  // Simulate a kill mid-write: the last line loses its tail (inside a multi-byte character).
  const torn = Buffer.from(lines.slice(0, -1).join('\n') + '\n' + lines.at(-1)!);
  await fs.writeFile(p.resultsPath, torn.subarray(0, torn.length - 7));
  const again = await run(s, p);
  assert.equal(again.skipped, 9);
  assert.equal(again.succeeded, 1);
  const { results, count } = await outcomes(p);
  assert.equal(results.length, 10);
  assert.equal(count.get(lost), 1);
});

test('stream:true lines are refused before sending and recorded in ERRORS with their line number', async () => {
  let requests = 0;
  const s = await server();
  const counting = await proxy(s, () => requests++);
  const p = paths();
  await writeBatch(p.batch, 3, { 2: line('row-2', 'please stream', { stream: true }) });
  const refused: ArkBatchError[] = [];
  const summary = await run(s, p, { baseUrl: counting, maxRejects: 1, onReject: (e) => refused.push(e) });
  assert.equal(requests, 2, 'the stream:true line never reached the server');
  assert.equal(summary.rejected, 1);
  assert.equal(refused[0].code, 'E_BODY_INVALID');
  assert.equal(refused[0].line, 2);
  assert.equal(refused[0].customId, 'row-2');
  const { errors } = await outcomes(p);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].custom_id, 'row-2');
  assert.equal(errors[0].response, null);
  assert.equal(errors[0].error.code, 'InvalidParameter');
  assert.match(errors[0].error.message, /stream.*line 2/);
});

test('a malformed line stops the run by default, located; with maxRejects the run goes on', async () => {
  const s = await server();
  const p = paths();
  await writeBatch(p.batch, 6, { 4: '{"custom_id": "row-4", "body": {', 5: '["not", "an", "object"]' });
  await assert.rejects(run(s, p, { concurrency: 1 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_TOO_MANY_REJECTS' && e.line === 4 && e.file === p.batch);
  const first = await outcomes(p);
  assert.deepEqual([...first.count.keys()].sort(), ['row-1', 'row-2', 'row-3'], 'lines before the bad one finished; none after it started');

  const refused: ArkBatchError[] = [];
  const summary = await run(s, p, { maxRejects: 2, onReject: (e) => refused.push(e) });
  assert.deepEqual(refused.map((e) => [e.code, e.line]), [['E_JSONL_PARSE', 4], ['E_LINE_NOT_OBJECT', 5]]);
  assert.equal(summary.skipped, 3);
  assert.equal(summary.succeeded, 1);
  assert.deepEqual([...(await outcomes(p)).count.keys()].sort(), ['row-1', 'row-2', 'row-3', 'row-6']);
});

test('a custom_id repeated inside the file is refused, not sent twice', async () => {
  const s = await server();
  const p = paths();
  await writeBatch(p.batch, 3, { 3: line('row-1', 'again') });
  const refused: ArkBatchError[] = [];
  const summary = await run(s, p, { maxRejects: 5, onReject: (e) => refused.push(e) });
  assert.equal(summary.succeeded, 2);
  assert.deepEqual(refused.map((e) => [e.code, e.line, e.customId]), [['E_ID_DUPLICATE', 3, 'row-1']]);
  assert.equal((await outcomes(p)).count.get('row-1'), 1);
});

test('Retry-After from a 429 pauses every worker for that model, not only the one that got it', async () => {
  const arrivals: { at: number; id: string }[] = [];
  let first429 = 0;
  const upstream = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const id = JSON.parse(body).messages[0].content as string;
    arrivals.push({ at: Date.now(), id });
    if (arrivals.length === 1) {
      first429 = Date.now();
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'RateLimitExceeded', message: 'slow down', param: '', type: 'TooManyRequests' } }));
      return;
    }
    // The second request, already in flight when the 429 lands, answers a little later.
    if (arrivals.length === 2) await new Promise((r) => setTimeout(r, 100));
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req-${arrivals.length}` });
    res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: id }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { upstream.closeAllConnections(); upstream.close(r); }));
  const p = paths();
  await fs.writeFile(p.batch, ['a', 'b', 'c', 'd'].map((id) => line(id, id)).join('\n'));
  const summary = await execBatch({
    input: createReadStream(p.batch),
    model: 'ep-bi-rate',
    baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    path: '/chat/completions',
    apiKey: 'k',
    resultsPath: p.resultsPath,
    errorsPath: p.errorsPath,
    concurrency: 2,
    minDelayMs: 1,
    maxDelayMs: 2,
  });
  assert.equal(summary.succeeded, 4);
  const later = arrivals.slice(2);
  assert.equal(later.length, 3, 'a retried, c and d sent');
  for (const a of later) assert.ok(a.at - first429 >= 950, `${a.id} was sent ${a.at - first429} ms after the 429 with Retry-After: 1`);
});

test('kill -9 mid-run, then rerun: every line exactly once, nothing lost', async () => {
  const s = await server({ latencyMs: 5, faults: 'chat=0.1:503', seed: 3 });
  const p = paths();
  const ids = (await writeBatch(p.batch, 1200)).map((l) => JSON.parse(l).custom_id as string);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/exec-cli.ts', 'exec', p.batch, '--model', 'ep-bi-kill', '-o', p.resultsPath, '--errors', p.errorsPath, '--base-url', s.chatBaseUrl, '--concurrency', '8', '--flush-interval', '10ms', '--quiet'],
    { env: { ...process.env, ARK_API_KEY: LOCAL_API_KEY }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  for (;;) {
    const size = (await fs.stat(p.resultsPath).catch(() => ({ size: 0 }))).size;
    if (size > 40_000) break;
    if (child.exitCode !== null) assert.fail(`the child ended before it could be killed: ${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  await exited;
  const before = await outcomes(p);
  assert.ok(before.count.size > 0 && before.count.size < 1200, `${before.count.size} lines done before the kill`);

  const rerun = await run(s, p, { concurrency: 64 });
  assert.ok(rerun.skipped >= before.count.size - 1, 'what was complete was skipped');
  const { count } = await outcomes(p);
  assert.deepEqual([...count.keys()].sort(), [...ids].sort());
  assert.ok([...count.values()].every((c) => c === 1), 'no custom_id twice');
});

test('a bad API key ends each line in ERRORS as 401, never retried', async () => {
  const s = await server();
  const p = paths();
  await writeBatch(p.batch, 3);
  const summary = await run(s, p, { apiKey: 'wrong-key' });
  assert.equal(summary.failed, 3);
  assert.equal(summary.attempts, 3);
  const { errors } = await outcomes(p);
  assert.ok(errors.every((e) => e.response.status_code === 401 && e.error.code === 'AuthenticationError'));
  assert.ok(!JSON.stringify(errors).includes('wrong-key'));
});

test('stdin-like streams work and an abort stops with E_ABORTED, leaving only complete lines', async () => {
  const s = await server({ latencyMs: 50 });
  const p = paths();
  const lines = Array.from({ length: 200 }, (_, i) => line(`s-${i}`, content(i)));
  const controller = new AbortController();
  const pending = run(s, p, { input: Readable.from([lines.join('\n')]), concurrency: 4, flushIntervalMs: 5, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('user pressed ctrl-c')), 150);
  await assert.rejects(pending, (e: unknown) => e instanceof ArkBatchError && e.code === 'E_ABORTED');
  const { count } = await outcomes(p);
  assert.ok(count.size < 200);
  assert.ok([...count.values()].every((c) => c === 1));
});

/** A loopback proxy in front of the local service that calls `onRequest` per chat request. */
async function proxy(s: LocalServer, onRequest: () => void): Promise<string> {
  const front = http.createServer(async (req, res) => {
    onRequest();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r = await fetch(`${s.chatBaseUrl}${req.url!.replace(/^\/api\/v3/, '')}`, { method: 'POST', headers: { authorization: req.headers.authorization!, 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
    res.writeHead(r.status, { 'content-type': 'application/json', 'x-request-id': r.headers.get('x-request-id') ?? '' });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { front.closeAllConnections(); front.close(r); }));
  return `http://127.0.0.1:${(front.address() as AddressInfo).port}/api/v3`;
}

/** An in-memory sender: echoes the user text; ids ending in 4 get a 400, ending in 7 fail twice with 503 or a dead connection first. */
function fakeSender() {
  const tries = new Map<string, number>();
  const send = (async (body: Record<string, unknown>) => {
    const text = (body.messages as { content: string }[])[0].content;
    const id = text.split('|')[0];
    const n = (tries.get(id) ?? 0) + 1;
    tries.set(id, n);
    if (id.endsWith('7') && n === 1) return { kind: 'network', reason: 'ECONNRESET' };
    if (id.endsWith('7') && n === 2) return { kind: 'answer', status: 503, body: { error: { code: 'ServerOverloaded' } }, requestId: 'r503', retryAfter: undefined, tooLarge: false };
    if (id.endsWith('4')) return { kind: 'answer', status: 400, body: { error: { code: 'InvalidParameter', message: 'no', type: 'BadRequest' } }, requestId: `r-${id}`, retryAfter: undefined, tooLarge: false };
    return { kind: 'answer', status: 200, body: { id: `r-${id}`, object: 'chat.completion', model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { total_tokens: 3 } }, requestId: `r-${id}`, retryAfter: undefined, tooLarge: false };
  }) as unknown as ExecOptions['sender'] & object;
  return Object.assign(send, { close: async () => undefined });
}

test('the outcome set does not depend on how the input is chunked (split UTF-8, CR LF, blank lines) or on concurrency', async () => {
  const textArb = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/\|/g, '/'));
  await fc.assert(
    fc.asyncProperty(fc.array(textArb, { minLength: 1, maxLength: 40 }), cutsArb, fc.integer({ min: 1, max: 16 }), fc.boolean(), async (texts, cuts, concurrency, crlf) => {
      const p = paths();
      const eol = crlf ? '\r\n' : '\n';
      const ids = texts.map((_, i) => `id-${i}`);
      const bytes = Buffer.from(texts.map((t, i) => line(ids[i], `${ids[i]}|${t}`)).join(eol + (texts.length % 3 === 0 ? eol : '')) + eol);
      const summary = await execBatch({ input: Readable.from(splitAt(bytes, cuts)), model: 'ep-bi-prop', sender: fakeSender(), resultsPath: p.resultsPath, errorsPath: p.errorsPath, concurrency, minDelayMs: 1, maxDelayMs: 2 });
      const { results, errors, count } = await outcomes(p);
      assert.deepEqual([...count.keys()].sort(), [...ids].sort());
      assert.ok([...count.values()].every((c) => c === 1));
      assert.deepEqual(errors.map((e) => e.custom_id).sort(), ids.filter((id) => id.endsWith('4')).sort());
      for (const r of results) assert.equal(r.response.body.choices[0].message.content, `${r.custom_id}|${texts[Number(r.custom_id.slice(3))]}`);
      assert.equal(summary.attempts, ids.length + 2 * ids.filter((id) => id.endsWith('7')).length);
    }),
    { numRuns: 25 },
  );
});
