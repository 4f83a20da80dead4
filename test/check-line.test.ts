import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBatchLine } from '../lib/validate/check-line.ts';

const ok = { custom_id: 'a', body: { messages: [{ role: 'user', content: 'hi' }] } };
const code = (v: unknown, target: 'ark' | 'openai' = 'ark') => checkBatchLine(v, target, { file: 'f.jsonl', line: 3 })?.code ?? null;
const msg = (v: unknown) => checkBatchLine(v, 'ark', { line: 1 })?.message;

test('a well-formed Ark line passes', () => {
  assert.equal(code(ok), null);
  assert.equal(code({ custom_id: 'b', body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'image_url', image_url: { url: 'tos://b/k.png' } }] }], temperature: 2, top_p: 0, max_tokens: 1, stop: ['a', 'b'] } }), null);
  assert.equal(code({ custom_id: 'c', body: { messages: [{ role: 'assistant', tool_calls: [] }, { role: 'tool', tool_call_id: 't', content: 'r' }] } }), null);
});

test('each precheck rule has its own code', () => {
  assert.equal(code([1]), 'E_LINE_NOT_OBJECT');
  assert.equal(code('x'), 'E_LINE_NOT_OBJECT');
  assert.equal(code({ body: ok.body }), 'E_ID_EMPTY');
  assert.equal(code({ custom_id: '', body: ok.body }), 'E_ID_EMPTY');
  assert.equal(code({ custom_id: 7, body: ok.body }), 'E_ROW_INVALID');
  assert.equal(code({ custom_id: 'a', body: [] }), 'E_BODY_INVALID');
  assert.equal(code({ custom_id: 'a' }), 'E_BODY_INVALID');
  assert.equal(code({ custom_id: 'a', method: 'POST', body: ok.body }), 'E_ROW_INVALID');
});

test('the chat body schema checks ranges, roles, content and streaming', () => {
  const body = (extra: object, messages: unknown = ok.body.messages) => ({ custom_id: 'a', body: { messages, ...extra } });
  assert.equal(code(body({}, [])), 'E_BODY_INVALID');
  assert.equal(code(body({}, [{ role: 'robot', content: 'x' }])), 'E_BODY_INVALID');
  assert.equal(code(body({}, [{ role: 'user' }])), 'E_BODY_INVALID');
  assert.equal(code(body({}, [{ role: 'user', content: 5 }])), 'E_BODY_INVALID');
  assert.equal(code(body({ temperature: 2.5 })), 'E_BODY_INVALID');
  assert.equal(code(body({ top_p: -0.1 })), 'E_BODY_INVALID');
  assert.equal(code(body({ max_tokens: 0 })), 'E_BODY_INVALID');
  assert.equal(code(body({ max_tokens: 1.5 })), 'E_BODY_INVALID');
  assert.equal(code(body({ stop: ['a', 'b', 'c', 'd', 'e'] })), 'E_BODY_INVALID');
  assert.equal(code(body({ stream: true })), 'E_BODY_INVALID');
  assert.equal(code(body({ stream: false })), null);
  assert.equal(code(body({ some_new_param: { x: 1 } })), null);
  assert.match(msg(body({ stream: true }))!, /body\.stream must not be true/);
  assert.match(msg(body({}, [{ role: 'robot', content: 'x' }]))!, /body\.messages\[0\]\.role must be one of system, user, assistant, tool/);
  assert.match(msg(body({ temperature: 3 }))!, /body\.temperature must be <= 2/);
});

test('the OpenAI target wants method, url and model', () => {
  const line = { custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: ok.body.messages } };
  assert.equal(code(line, 'openai'), null);
  assert.equal(code({ ...line, method: 'GET' }, 'openai'), 'E_ROW_INVALID');
  assert.equal(code({ ...line, body: ok.body }, 'openai'), 'E_BODY_INVALID');
  assert.equal(code(line, 'ark'), 'E_ROW_INVALID');
});

test('errors name the file, line and custom_id', () => {
  const e = checkBatchLine({ custom_id: 'x1', body: { messages: [] } }, 'ark', { file: 'in.jsonl', line: 9 });
  assert.match(e!.message, /^in\.jsonl:9: E_BODY_INVALID .*\(custom_id=x1\)$/);
});
