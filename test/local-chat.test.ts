import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { createChatHandler, type ChatHandlerOptions, type FaultDecision } from '../lib/local/chat-handler.ts';
import { createEchoResponder } from '../lib/local/echo-model.ts';
import type { ChatResponder } from '../lib/local/responder-types.ts';
import { assertArkError, assertChatCompletion } from './helpers/chat-shapes.ts';

const API_KEY = 'ark-local-api-key';
const agent = new Agent({ keepAliveTimeout: 1000 });
const servers: http.Server[] = [];
after(async () => {
  await agent.close();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function serve(options: Partial<ChatHandlerOptions> = {}): Promise<string> {
  const handler = createChatHandler({ responder: createEchoResponder({ seed: 1 }), apiKey: API_KEY, ...options });
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Call {
  path?: string;
  method?: 'POST' | 'GET';
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** What an OpenAI-compatible client does: POST JSON with a Bearer key, read JSON back. */
async function call(base: string, c: Call = {}) {
  const res = await request(`${base}${c.path ?? '/api/v3/chat/completions'}`, {
    method: c.method ?? 'POST',
    dispatcher: agent,
    signal: c.signal,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...c.headers },
    body: c.method === 'GET' ? undefined : (c.raw ?? JSON.stringify(c.body ?? chat('hello'))),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) as unknown };
}

const chat = (content: unknown, extra: Record<string, unknown> = {}) => ({ model: 'ep-bi-20250101-local', messages: [{ role: 'user', content }], ...extra });

test('both chat paths answer a chat.completion with the Ark headers', async () => {
  const base = await serve();
  for (const path of ['/api/v3/chat/completions', '/api/v3/batch/chat/completions']) {
    const res = await call(base, { path, body: chat('Why is the sky so blue?'), headers: { 'x-client-request-id': '2025030522191200000CA2C7FE1C9A9065' } });
    assert.equal(res.status, 200);
    assertChatCompletion(res.json);
    assert.equal(res.json.choices[0].message.content, 'echo: Why is the sky so blue?');
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['x-request-id'], res.json.id);
    assert.equal(res.headers['x-client-request-id'], '2025030522191200000CA2C7FE1C9A9065');
    assert.equal(res.headers['retry-after'], undefined);
  }
});

test('a missing or wrong API key is refused with 401 AuthenticationError', async () => {
  const base = await serve();
  for (const authorization of ['', 'Bearer wrong-key', `Basic ${API_KEY}`, `Bearer ${API_KEY}x`]) {
    const res = await call(base, { headers: { authorization } });
    assert.equal(res.status, 401);
    assertArkError(res.json, 'AuthenticationError', res.headers['x-request-id'] as string);
    assert.equal(res.json.error.type, 'Unauthorized');
    assert.ok(!res.text.includes(API_KEY), 'the key is never echoed');
  }
  assert.equal((await call(base, { headers: { authorization: `bearer ${API_KEY}` } })).status, 200, 'the scheme is case-insensitive');
});

test('a body that is not JSON or not UTF-8 is a 400 InvalidParameter', async () => {
  const base = await serve();
  for (const raw of ['{"model":', '', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])]) {
    const res = await call(base, { raw });
    assert.equal(res.status, 400);
    assertArkError(res.json, 'InvalidParameter', res.headers['x-request-id'] as string);
    assert.equal(res.json.error.param, 'body');
  }
});

test('model and messages are required, and streaming is refused', async () => {
  const base = await serve();
  const cases: [unknown, string, string][] = [
    [{ messages: [{ role: 'user', content: 'x' }] }, 'MissingParameter', 'model'],
    [{ model: 'ep-bi-1' }, 'MissingParameter', 'messages'],
    [{ model: 'ep-bi-1', messages: [] }, 'InvalidParameter', 'messages'],
    [chat('x', { stream: true }), 'InvalidParameter', 'stream'],
    [chat('x', { max_tokens: -5 }), 'InvalidParameter', 'max_tokens'],
    [[1, 2], 'InvalidParameter', 'body'],
  ];
  for (const [body, code, param] of cases) {
    const res = await call(base, { body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assertArkError(res.json, code, res.headers['x-request-id'] as string);
    assert.equal(res.json.error.param, param);
    assert.equal(res.json.error.type, 'BadRequest');
  }
  assert.equal((await call(base, { body: chat('x', { stream: false }) })).status, 200);
});

test('other paths under /api/v3 are 404 and other methods 405, with error bodies', async () => {
  const base = await serve();
  const missing = await call(base, { path: '/api/v3/embeddings' });
  assert.equal(missing.status, 404);
  assertArkError(missing.json, 'NotFound', missing.headers['x-request-id'] as string);
  const get = await call(base, { method: 'GET' });
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
  assertArkError(get.json, 'MethodNotAllowed', get.headers['x-request-id'] as string);
});

test('a model outside the configured list is 404 InvalidEndpointOrModel.NotFound', async () => {
  const base = await serve({ models: ['ep-bi-known'] });
  const res = await call(base, { body: { ...chat('x'), model: 'ep-bi-unknown' } });
  assert.equal(res.status, 404);
  assertArkError(res.json, 'InvalidEndpointOrModel.NotFound', res.headers['x-request-id'] as string);
  assert.match(res.json.error.message, /ep-bi-unknown/);
  assert.equal((await call(base, { body: { ...chat('x'), model: 'ep-bi-known' } })).status, 200);
});

test('fail markers travel over HTTP, 429s with a Retry-After header', async () => {
  const base = await serve({ responder: createEchoResponder({ retryAfterSeconds: 3 }) });
  const limited = await call(base, { body: chat('[[fail:RateLimitExceeded.EndpointRPMExceeded]]') });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['retry-after'], '3');
  assertArkError(limited.json, 'RateLimitExceeded.EndpointRPMExceeded', limited.headers['x-request-id'] as string);
  const overloaded = await call(base, { body: chat('[[fail:ServerOverloaded]]') });
  assert.equal(overloaded.status, 503);
  assertArkError(overloaded.json, 'ServerOverloaded', overloaded.headers['x-request-id'] as string);
});

test('injected faults answer Ark errors, reset the socket, or stall, and consult the chat operation', async () => {
  const plan: FaultDecision[] = [
    { kind: 'status', status: 429 },
    { kind: 'status', status: 503 },
    { kind: 'status', status: 500 },
    { kind: 'status', status: 502 },
    { kind: 'reset' },
    { kind: 'stall', ms: 5 },
    null,
  ];
  const ops: string[] = [];
  const base = await serve({ retryAfterSeconds: 2, faults: { decide: (op) => (ops.push(op), plan.shift() ?? null) } });

  const r429 = await call(base);
  assert.equal(r429.status, 429);
  assert.equal(r429.headers['retry-after'], '2');
  assertArkError(r429.json, 'RateLimitExceeded.EndpointRPMExceeded', r429.headers['x-request-id'] as string);
  const r503 = await call(base);
  assertArkError(r503.json, 'ServerOverloaded', r503.headers['x-request-id'] as string);
  assert.equal(r503.status, 503);
  const r500 = await call(base);
  assert.equal(r500.status, 500);
  assertArkError(r500.json, 'InternalServiceError', r500.headers['x-request-id'] as string);
  const r502 = await call(base);
  assert.equal(r502.status, 502);
  assert.equal(r502.headers['retry-after'], undefined);

  await assert.rejects(call(base), (err: Error & { code?: string }) => err.code === 'UND_ERR_SOCKET' || err.code === 'ECONNRESET');
  const stalled = await call(base);
  assert.equal(stalled.status, 200);
  assertChatCompletion(stalled.json);
  assert.equal((await call(base)).status, 200);
  assert.deepEqual(ops, Array(7).fill('chat'));
});

test('faults are not consulted for requests refused before the model', async () => {
  let decided = 0;
  const base = await serve({ faults: { decide: () => (decided++, { kind: 'status', status: 503 }) } });
  assert.equal((await call(base, { headers: { authorization: 'Bearer nope' } })).status, 401);
  assert.equal((await call(base, { raw: 'not json' })).status, 400);
  assert.equal(decided, 0);
});

test('CJK and emoji go in and come back intact over HTTP', async () => {
  const base = await serve();
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 200 }), async (text) => {
      fc.pre(!text.includes('[[fail:'));
      const res = await call(base, { body: chat(`天空 ${text} 😀`) });
      assert.equal(res.status, 200);
      assertChatCompletion(res.json);
      assert.equal(res.json.choices[0].message.content, `echo: 天空 ${text} 😀`);
    }),
    { numRuns: 40 },
  );
});

test('a responder that throws becomes a 500 InternalServiceError', async () => {
  const broken: ChatResponder = async () => {
    throw new Error('disk on fire');
  };
  const base = await serve({ responder: broken });
  const res = await call(base);
  assert.equal(res.status, 500);
  assertArkError(res.json, 'InternalServiceError', res.headers['x-request-id'] as string);
  assert.match(res.json.error.message, /disk on fire/);
});

test('a body over maxBodyBytes is refused with 400 and the connection closed', async () => {
  const base = await serve({ maxBodyBytes: 1024 });
  const res = await call(base, { body: chat('x'.repeat(4096)) });
  assert.equal(res.status, 400);
  assert.equal(res.headers.connection, 'close');
  assertArkError(res.json, 'InvalidParameter', res.headers['x-request-id'] as string);
  assert.equal((await call(base, { body: chat('small') })).status, 200);
});

test('a client that hangs up aborts the responder', async () => {
  let sawAbort!: () => void;
  const aborted = new Promise<void>((r) => (sawAbort = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const waiting: ChatResponder = (_body, signal) =>
    new Promise((_, reject) => {
      started();
      signal?.addEventListener('abort', () => {
        sawAbort();
        reject(signal.reason);
      });
    });
  const base = await serve({ responder: waiting });
  const controller = new AbortController();
  const pending = call(base, { signal: controller.signal });
  await running;
  controller.abort();
  await assert.rejects(pending);
  await aborted;
});
