import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEchoResponder, findFailMarker, truncateToTokens } from '../lib/local/echo-model.ts';
import { estimateBodyTokens, estimateTokens } from '../lib/requests/tokens.ts';
import { isArkBatchError } from '../lib/errors.ts';
import { assertArkError, assertChatCompletion } from './helpers/chat-shapes.ts';

const clock = () => 1_764_000_000_000;
const ask = (content: unknown, extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content }], ...extra });

test('the reply echoes the last user message as a valid chat.completion', async () => {
  const respond = createEchoResponder({ seed: 1, now: clock });
  const body = {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'Why is the sky so blue?' },
    ],
  };
  const reply = await respond(body);
  assert.equal(reply.status, 200);
  assertChatCompletion(reply.body);
  assert.equal(reply.body.id, reply.requestId);
  assert.equal(reply.body.model, 'local-echo');
  assert.equal(reply.body.created, 1_764_000_000);
  assert.equal(reply.body.choices[0].message.content, 'echo: Why is the sky so blue?');
  assert.equal(reply.body.choices[0].finish_reason, 'stop');
  assert.equal(reply.body.choices[0].message.reasoning_content, undefined);
  assert.deepEqual(reply.body.usage, {
    prompt_tokens: estimateBodyTokens(body),
    completion_tokens: estimateTokens('echo: Why is the sky so blue?'),
    total_tokens: estimateBodyTokens(body) + estimateTokens('echo: Why is the sky so blue?'),
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  });
  assert.equal(reply.retryAfter, undefined);
});

test('text parts are joined with newlines and image parts are left out of the echo', async () => {
  const reply = await createEchoResponder()(
    ask([{ type: 'text', text: '看图' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }, { type: 'text', text: 'and tell 😀' }]),
  );
  assertChatCompletion(reply.body);
  assert.equal(reply.body.choices[0].message.content, 'echo: 看图\nand tell 😀');
});

test('replies are the same for the same seed and clock, and content never depends on the seed', async () => {
  const body = ask('天空为什么是蓝色的？ 🌌');
  const a = await createEchoResponder({ seed: 3, now: clock })(body);
  const b = await createEchoResponder({ seed: 3, now: clock })(body);
  const c = await createEchoResponder({ seed: 4 })(body);
  assert.deepEqual(a, b);
  assertChatCompletion(c.body);
  assertChatCompletion(a.body);
  assert.deepEqual(c.body.choices, a.body.choices);
  assert.deepEqual(c.body.usage, a.body.usage);
  assert.notEqual(c.requestId, a.requestId);
});

test('any Unicode text comes back unchanged after the echo prefix', async () => {
  const respond = createEchoResponder({ seed: 5 });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), async (text) => {
      fc.pre(!text.includes('[[fail:'));
      const reply = await respond(ask(text));
      assertChatCompletion(reply.body);
      assert.equal(reply.body.choices[0].message.content, `echo: ${text}`);
    }),
    { numRuns: 200 },
  );
});

test('max_tokens cuts the content at a code point to fit and reports finish_reason length', async () => {
  const respond = createEchoResponder({ seed: 6 });
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'grapheme', minLength: 1 }), fc.integer({ min: 1, max: 40 }), async (text, max) => {
      fc.pre(!text.includes('[[fail:'));
      const full = `echo: ${text}`;
      const reply = await respond(ask(text, { max_tokens: max }));
      assertChatCompletion(reply.body);
      const { content } = reply.body.choices[0].message;
      assert.ok(full.startsWith(content));
      assert.equal(Buffer.from(content).toString(), content, 'no half surrogate pair');
      assert.ok(reply.body.usage.completion_tokens <= max);
      assert.equal(reply.body.choices[0].finish_reason, content === full ? 'stop' : 'length');
    }),
    { numRuns: 200 },
  );
});

test('truncation keeps the longest prefix that fits', () => {
  assert.equal(truncateToTokens('echo: 天空为什么', 4), 'echo: 天空');
  assert.equal(truncateToTokens('😀😀', 3), '😀');
  assert.equal(truncateToTokens('abc', 0), '');
  assert.equal(truncateToTokens('short', 10), 'short');
});

test('[[reasoning]] or thinking enabled adds reasoning_content, counted in reasoning_tokens', async () => {
  const respond = createEchoResponder();
  for (const body of [ask('思考一下 [[reasoning]]'), ask('思考一下', { thinking: { type: 'enabled' } })]) {
    const reply = await respond(body);
    assertChatCompletion(reply.body);
    const { message } = reply.body.choices[0];
    const text = (body.messages[0] as { content: string }).content;
    assert.equal(message.reasoning_content, `reasoning: ${text}`);
    assert.equal(reply.body.usage.completion_tokens_details.reasoning_tokens, estimateTokens(`reasoning: ${text}`));
    assert.equal(reply.body.usage.completion_tokens, estimateTokens(`reasoning: ${text}`) + estimateTokens(`echo: ${text}`));
  }
  const plain = await respond(ask('思考一下', { thinking: { type: 'disabled' } }));
  assertChatCompletion(plain.body);
  assert.equal(plain.body.choices[0].message.reasoning_content, undefined);
});

test('max_completion_tokens caps reasoning and content together', async () => {
  const reply = await createEchoResponder()(ask('one two three four five six [[reasoning]]', { max_completion_tokens: 6 }));
  assertChatCompletion(reply.body);
  assert.ok(reply.body.usage.completion_tokens <= 6);
  assert.equal(reply.body.choices[0].finish_reason, 'length');
  const { message } = reply.body.choices[0];
  assert.ok('reasoning: one two three four five six [[reasoning]]'.startsWith(message.reasoning_content ?? 'missing'));
  assert.equal(message.content, '', 'the reasoning used the whole budget');
});

const FAILS: readonly [code: string, status: number, type: string][] = [
  ['InvalidParameter', 400, 'BadRequest'],
  ['MissingParameter', 400, 'BadRequest'],
  ['AuthenticationError', 401, 'Unauthorized'],
  ['AccountOverdueError', 403, 'Forbidden'],
  ['AccessDenied', 403, 'Forbidden'],
  ['InvalidEndpointOrModel.NotFound', 404, 'NotFound'],
  ['RateLimitExceeded', 429, 'TooManyRequests'],
  ['RateLimitExceeded.EndpointRPMExceeded', 429, 'TooManyRequests'],
  ['RateLimitExceeded.EndpointTPMExceeded', 429, 'TooManyRequests'],
  ['InternalServiceError', 500, 'InternalServiceError'],
  ['ServerOverloaded', 503, 'ServiceUnavailable'],
  ['SomethingElse.Entirely', 400, 'BadRequest'],
];

for (const [code, status, type] of FAILS) {
  test(`a [[fail:${code}]] marker answers ${status} ${type}`, async () => {
    const reply = await createEchoResponder({ retryAfterSeconds: 7 })(ask(`please [[fail:${code}]] now`));
    assert.equal(reply.status, status);
    assertArkError(reply.body, code, reply.requestId);
    assert.equal(reply.body.error.type, type);
    assert.equal(reply.retryAfter, status === 429 ? 7 : undefined);
  });
}

test('a fail marker in an earlier user message counts, one in a system message does not', async () => {
  const respond = createEchoResponder();
  const early = await respond({ messages: [{ role: 'user', content: '[[fail:AccessDenied]]' }, { role: 'user', content: 'hi' }] });
  assert.equal(early.status, 403);
  const system = await respond({ messages: [{ role: 'system', content: '[[fail:AccessDenied]]' }, { role: 'user', content: 'hi' }] });
  assert.equal(system.status, 200);
  const part = await respond(ask([{ type: 'text', text: '[[fail:ServerOverloaded]]' }]));
  assert.equal(part.status, 503);
});

test('malformed markers are echoed, not obeyed', () => {
  assert.equal(findFailMarker(['[[fail:]]', '[[fail:bad code]]', '[[fail:X', 'fail:X]]']), undefined);
  assert.deepEqual(findFailMarker(['[[fail:a b]] [[fail:ServerOverloaded:3]]']), { code: 'ServerOverloaded', times: 3 });
});

test('[[fail:CODE:N]] fails the first N attempts of the same body, then answers', async () => {
  const respond = createEchoResponder();
  const body = ask('retry me [[fail:ServerOverloaded:2]]');
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await respond(structuredClone(body))).status);
  assert.deepEqual(statuses, [503, 503, 200, 200]);
  assert.equal((await respond(ask('another [[fail:ServerOverloaded:2]]'))).status, 503, 'counted per body');
});

test('more tracked retry bodies than maxTrackedBodies fail loudly', async () => {
  const respond = createEchoResponder({ maxTrackedBodies: 2 });
  await respond(ask('a [[fail:ServerOverloaded:1]]'));
  await respond(ask('b [[fail:ServerOverloaded:1]]'));
  await respond(ask('a [[fail:ServerOverloaded:1]]'));
  await assert.rejects(respond(ask('c [[fail:ServerOverloaded:1]]')), (err) => isArkBatchError(err) && err.code === 'E_BUFFER_LIMIT');
});

test('bodies that break the data-plane rules get the 400 the endpoint would send', async () => {
  const respond = createEchoResponder();
  const cases: [Record<string, unknown>, string, string][] = [
    [{}, 'MissingParameter', 'messages'],
    [{ messages: [] }, 'InvalidParameter', 'messages'],
    [{ messages: [{ role: 'wizard', content: 'x' }] }, 'InvalidParameter', 'messages[0].role'],
    [ask('x', { stream: true }), 'InvalidParameter', 'stream'],
    [ask('x', { max_tokens: 0 }), 'InvalidParameter', 'max_tokens'],
  ];
  for (const [body, code, param] of cases) {
    const reply = await respond(body);
    assert.equal(reply.status, 400);
    assertArkError(reply.body, code, reply.requestId);
    assert.equal(reply.body.error.param, param);
  }
  const noModel = await respond(ask('a batch job line has no model'));
  assert.equal(noModel.status, 200);
});

test('an aborted request stops waiting for latency', async () => {
  const respond = createEchoResponder({ latencyMs: 60_000 });
  const controller = new AbortController();
  const pending = respond(ask('slow'), controller.signal);
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
});
