import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  estimateBodyTokens,
  estimateTokens,
  TOKENS_PER_IMAGE,
  TOKENS_PER_IMAGE_LOW,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_REPLY,
  TOKENS_PER_VIDEO,
} from '../lib/requests/tokens.ts';

const anyText = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), fc.string());

test('empty text and whitespace cost nothing', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens(' \t\r\n\u00a0\u3000'), 0);
});

test('English words of up to five letters are one token, punctuation one each', () => {
  assert.equal(estimateTokens('Hello, world!'), 4);
  assert.equal(estimateTokens('Why is the sky so blue?'), 7);
  assert.equal(estimateTokens('internationalization'), 4);
});

test('CJK, kana and hangul cost one token per character, fullwidth punctuation too', () => {
  assert.equal(estimateTokens('天空为什么是蓝色的？'), 10);
  assert.equal(estimateTokens('こんにちは'), 5);
  assert.equal(estimateTokens('カタカナ'), 4);
  assert.equal(estimateTokens('안녕하세요'), 5);
  assert.equal(estimateTokens('𠀀𠀁'), 2, 'CJK extension B (surrogate pairs) is one token per character');
});

test('emoji cost two tokens, joiners and variation selectors nothing, a lone surrogate one', () => {
  assert.equal(estimateTokens('😀'), 2);
  assert.equal(estimateTokens('❤\ufe0f'), 1);
  assert.equal(estimateTokens('👨\u200d👩'), 4);
  assert.equal(estimateTokens('\ud83d'), 1);
  assert.equal(estimateTokens('\ude00x'), 2);
});

test('letters of other scripts cost more than ASCII letters', () => {
  assert.ok(estimateTokens('Привет') > estimateTokens('Privet'));
  assert.equal(estimateTokens('naïve café'), 3);
});

test('the estimate never decreases when text is appended, even inside a surrogate pair', () => {
  fc.assert(
    fc.property(anyText, anyText, (a, b) => {
      assert.ok(estimateTokens(a + b) >= estimateTokens(a));
    }),
    { numRuns: 500 },
  );
});

test('the estimate of a concatenation is at most the sum of the estimates', () => {
  fc.assert(
    fc.property(anyText, anyText, (a, b) => {
      assert.ok(estimateTokens(a + b) <= estimateTokens(a) + estimateTokens(b));
    }),
    { numRuns: 500 },
  );
});

test('any non-blank text costs at least one token and at most two per code unit', () => {
  fc.assert(
    fc.property(anyText, (s) => {
      const n = estimateTokens(s);
      assert.ok(Number.isSafeInteger(n) && n >= 0 && n <= 2 * s.length);
      if (/[^\s\u200b-\u200d\u2060\ufeff\ufe00-\ufe0f\u0000-\u001f\u007f-\u009f]/u.test(s)) assert.ok(n >= 1, JSON.stringify(s));
    }),
    { numRuns: 500 },
  );
});

test('a huge text is estimated proportionally', () => {
  const unit = 'The quick brown fox jumps over the lazy dog. 天空为什么是蓝色的？\n';
  assert.equal(estimateTokens(unit.repeat(100_000)), estimateTokens(unit) * 100_000);
});

test('a body costs its message texts plus per-message and reply overheads', () => {
  const body = {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Why is the sky so blue?' },
    ],
  };
  assert.equal(estimateBodyTokens(body), TOKENS_PER_REPLY + 2 * TOKENS_PER_MESSAGE + estimateTokens('Be brief.') + 7);
});

test('text parts are counted and image and video parts cost their fixed amounts', () => {
  const content = [
    { type: 'text', text: '描述这张图片' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
    { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
    { type: 'video_url', video_url: { url: 'https://example.com/a.mp4' } },
  ];
  assert.equal(
    estimateBodyTokens({ messages: [{ role: 'user', content }] }),
    TOKENS_PER_REPLY + TOKENS_PER_MESSAGE + 6 + TOKENS_PER_IMAGE + TOKENS_PER_IMAGE_LOW + TOKENS_PER_VIDEO,
  );
});

test('names, tool calls and tool declarations add to the estimate', () => {
  const plain = { messages: [{ role: 'assistant', content: null }] };
  const withCall = {
    messages: [{ role: 'assistant', content: null, name: 'bot', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"北京"}' } }] }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
  };
  assert.equal(estimateBodyTokens(plain), TOKENS_PER_REPLY + TOKENS_PER_MESSAGE);
  assert.ok(estimateBodyTokens(withCall) > estimateBodyTokens(plain) + 10);
});

test('bodies of the wrong shape estimate to 0 instead of throwing', () => {
  for (const body of [null, 42, 'text', [], {}, { messages: [] }, { messages: 'hi' }, { messages: [null, 3] }]) {
    assert.ok(estimateBodyTokens(body) <= TOKENS_PER_REPLY);
  }
  assert.equal(estimateBodyTokens({ messages: [] }), 0);
});

test('an embeddings input is counted like text', () => {
  assert.equal(estimateBodyTokens({ input: ['天空', 'sky'] }), 3);
});
