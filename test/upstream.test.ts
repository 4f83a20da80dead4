import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { createUpstreamResponder, parseRetryAfter, type UpstreamResponderOptions } from '../lib/local/upstream.ts';
import { createChatHandler } from '../lib/local/chat-handler.ts';
import { isArkRequestId } from '../lib/local/ids.ts';
import { assertArkError } from './helpers/chat-shapes.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-123';
const servers: http.Server[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers) await close();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Script = (seen: Seen, res: http.ServerResponse) => void;

/** A fake OpenAI-compatible upstream on loopback that records requests and answers with `script`. */
async function fakeUpstream(script: Script) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    seen.push(s);
    script(s, res);
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, seen, connections: () => connections };
}

function responder(options: Partial<UpstreamResponderOptions> & { baseUrl: string }) {
  const r = createUpstreamResponder({ apiKey: UPSTREAM_KEY, timeoutMs: 10_000, ...options });
  closers.push(r.close);
  return r;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Script => (_s, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const completion = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'doubao', choices: [{ index: 0, message: { role: 'assistant', content: '你好 😀' }, finish_reason: 'stop' }] };
const body = { model: 'ep-bi-1', messages: [{ role: 'user', content: '你好 😀' }] };

test('a body is POSTed to {baseUrl}/chat/completions with the Bearer key, and the answer comes back as is', async () => {
  const up = await fakeUpstream(json(200, completion, { 'x-request-id': 'req-upstream-1' }));
  const reply = await responder({ baseUrl: `${up.base}/api/v3/` })(body);
  assert.deepEqual(reply, { status: 200, body: completion, requestId: 'req-upstream-1' });
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0].method, 'POST');
  assert.equal(up.seen[0].url, '/api/v3/chat/completions');
  assert.equal(up.seen[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  assert.equal(up.seen[0].headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(up.seen[0].body), body);
});

test('the model can be replaced and the path changed', async () => {
  const up = await fakeUpstream(json(200, completion));
  await responder({ baseUrl: up.base, model: 'ep-real', path: '/batch/chat/completions' })({ messages: body.messages });
  assert.equal(up.seen[0].url, '/batch/chat/completions');
  assert.deepEqual(JSON.parse(up.seen[0].body), { messages: body.messages, model: 'ep-real' });
});

test('error statuses, bodies and Retry-After pass through unchanged', async () => {
  const limited = { error: { code: 'RateLimitExceeded.EndpointRPMExceeded', message: 'slow down Request ID: x', param: '', type: 'TooManyRequests' } };
  const up = await fakeUpstream(json(429, limited, { 'x-request-id': 'req-429', 'retry-after': '5' }));
  const reply = await responder({ baseUrl: up.base })(body);
  assert.deepEqual(reply, { status: 429, body: limited, requestId: 'req-429', retryAfter: 5 });
});

test('an answer without x-request-id gets a local Ark request id', async () => {
  const up = await fakeUpstream(json(200, completion));
  const reply = await responder({ baseUrl: up.base })(body);
  assert.ok(isArkRequestId(reply.requestId));
  assert.deepEqual(reply.body, completion);
});

test('an answer that is not a JSON object becomes UpstreamBadResponse, keeping an error status', async () => {
  const cases: [number, string, number][] = [
    [502, '<html>Bad Gateway</html>', 502],
    [503, 'overloaded', 503],
    [200, 'not json', 502],
    [200, '[1,2]', 502],
  ];
  for (const [status, text, expected] of cases) {
    const up = await fakeUpstream((_s, res) => {
      res.writeHead(status, { 'content-type': 'text/html', 'x-request-id': 'req-html' });
      res.end(text);
    });
    const reply = await responder({ baseUrl: up.base })(body);
    assert.equal(reply.status, expected);
    assert.equal(reply.requestId, 'req-html');
    assertArkError(reply.body, 'UpstreamBadResponse', 'req-html', false);
  }
});

test('an unreachable upstream is a 502 UpstreamUnavailable that does not leak the key', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const reply = await responder({ baseUrl: `http://127.0.0.1:${port}/api/v3` })(body);
  assert.equal(reply.status, 502);
  assertArkError(reply.body, 'UpstreamUnavailable', reply.requestId);
  assert.match(reply.body.error.message, /ECONNREFUSED/);
  assert.ok(!JSON.stringify(reply).includes(UPSTREAM_KEY));
});

test('an upstream that does not answer within timeoutMs is a 504 UpstreamTimeout', async () => {
  const up = await fakeUpstream(() => {
    /* never answers */
  });
  const reply = await responder({ baseUrl: up.base, timeoutMs: 50 })(body);
  assert.equal(reply.status, 504);
  assertArkError(reply.body, 'UpstreamTimeout', reply.requestId);
});

test('a caller that aborts gets a rejection, not a made-up reply', async () => {
  const up = await fakeUpstream(() => {
    /* never answers */
  });
  const controller = new AbortController();
  const pending = responder({ baseUrl: up.base })(body, controller.signal);
  controller.abort(new Error('caller gave up'));
  await assert.rejects(pending, /caller gave up/);
});

test('an answer over maxResponseBytes is refused', async () => {
  const up = await fakeUpstream(json(200, { ...completion, padding: 'x'.repeat(10_000) }));
  const reply = await responder({ baseUrl: up.base, maxResponseBytes: 1000 })(body);
  assert.equal(reply.status, 502);
  assertArkError(reply.body, 'UpstreamBadResponse', reply.requestId);
});

test('sequential requests reuse keep-alive connections', async () => {
  const up = await fakeUpstream(json(200, completion));
  const forward = responder({ baseUrl: up.base });
  for (let i = 0; i < 10; i++) assert.equal((await forward(body)).status, 200);
  assert.ok(up.connections() <= 2, `${up.connections()} connections for 10 requests`);
});

test('a given dispatcher is used and left open by close()', async () => {
  const up = await fakeUpstream(json(200, completion));
  const dispatcher = new Agent();
  const forward = createUpstreamResponder({ baseUrl: up.base, apiKey: UPSTREAM_KEY, timeoutMs: 5000, dispatcher });
  assert.equal((await forward(body)).status, 200);
  await forward.close();
  assert.equal((await forward(body)).status, 200);
  await dispatcher.close();
});

test('the chat endpoint in front of an upstream passes status, body and request id through', async () => {
  const up = await fakeUpstream((seen, res) => {
    const content = (JSON.parse(seen.body) as typeof body).messages[0].content;
    const status = content === 'limit' ? 429 : 200;
    const payload = status === 200 ? { ...completion, choices: [{ ...completion.choices[0], message: { role: 'assistant', content } }] } : { error: { code: 'RateLimitExceeded', message: 'm', param: '', type: 'TooManyRequests' } };
    json(status, payload, { 'x-request-id': `req-${Buffer.from(content).toString('hex')}`, ...(status === 429 ? { 'retry-after': '9' } : {}) })(seen, res);
  });
  const handler = createChatHandler({ responder: responder({ baseUrl: up.base }), apiKey: 'ark-local-api-key' });
  const front = http.createServer((req, res) => void handler(req, res));
  servers.push(front);
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/api/v3/chat/completions`;
  const ask = async (content: string) => {
    const res = await request(url, { method: 'POST', headers: { authorization: 'Bearer ark-local-api-key' }, body: JSON.stringify({ ...body, messages: [{ role: 'user', content }] }) });
    return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as { choices?: { message: { content: string } }[] } };
  };
  const ok = await ask('天空 🌌');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-request-id'], `req-${Buffer.from('天空 🌌').toString('hex')}`);
  assert.equal(ok.json.choices?.[0].message.content, '天空 🌌');
  const limited = await ask('limit');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['x-request-id'], `req-${Buffer.from('limit').toString('hex')}`);
  assert.equal(limited.headers['retry-after'], '9');
  assert.equal(up.seen[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'the upstream key, not the local one');
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2025-03-05T14:22:26Z');
  assert.equal(parseRetryAfter('7', now), 7);
  assert.equal(parseRetryAfter('Wed, 05 Mar 2025 14:22:36 GMT', now), 10);
  assert.equal(parseRetryAfter('Wed, 05 Mar 2025 14:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('-3', now), undefined);
});

test('with retry (as the job runner uses it) 503s and Retry-After are retried through exec\'s loop until a final answer', async () => {
  let calls = 0;
  const up = await fakeUpstream((seen, res) => {
    calls++;
    if (calls === 1) return json(503, { error: { code: 'ServerOverloaded', message: 'busy', param: '', type: 'ServiceUnavailable' } })(seen, res);
    if (calls === 2) return json(429, { error: { code: 'RateLimitExceeded', message: 'slow', param: '', type: 'TooManyRequests' } }, { 'retry-after': '0' })(seen, res);
    json(200, completion, { 'x-request-id': 'req-final' })(seen, res);
  });
  const reply = await responder({ baseUrl: up.base, retry: { minDelayMs: 1, maxDelayMs: 2 } })(body);
  assert.deepEqual(reply, { status: 200, body: completion, requestId: 'req-final' });
  assert.equal(calls, 3);
  const final = await fakeUpstream(json(400, { error: { code: 'InvalidParameter', message: 'no', param: 'messages', type: 'BadRequest' } }));
  assert.equal((await responder({ baseUrl: final.base, retry: true })(body)).status, 400);
  assert.equal(final.seen.length, 1, 'a 400 is final');
});
