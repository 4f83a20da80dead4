import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { generateRows } from '../lib/bench/synthetic.ts';
import { describeTokenCounter, estimatedTokens, loadTokenizer } from '../lib/requests/tokenizer.ts';
import { estimateBodyTokens, TOKENS_PER_IMAGE, TOKENS_PER_MESSAGE, TOKENS_PER_REPLY } from '../lib/requests/tokens.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'tokenizer');
const FILE = join(DIR, 'tokenizer.json');

/** The library's own count, straight from its encode: what ours must equal. */
async function reference(): Promise<(text: string) => number> {
  const tokenizer = new Tokenizer(JSON.parse(await readFile(FILE, 'utf8')), {});
  return (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length;
}

const TEXTS = [
  'Why is the sky so blue?',
  '天空为什么是蓝色的？质量很好，物流很快。',
  'She said "great price", then left.\nSecond line\ttabbed — with an em dash and emoji 😀👍🏽',
  'internationalization ' + 'x'.repeat(5000),
  '<|endoftext|> the special token, as a user might paste it',
  ...[...generateRows({ rows: 40, seed: 5 })].map((r) => r.text),
];

test('a tokenizer.json gives exactly the library\'s own token counts on real text, through the cache too', async () => {
  const count = await reference();
  const exact = await loadTokenizer(FILE, { cacheEntries: 8 });
  assert.equal(exact.kind, 'exact');
  assert.equal(describeTokenCounter(exact), `exact (tokenizer ${FILE})`);
  for (const round of [1, 2]) {
    for (const text of TEXTS) assert.equal(exact.countText(text), count(text), `round ${round}: ${text.slice(0, 40)}`);
  }
  assert.equal(exact.countText(''), 0);
  const differs = TEXTS.filter((t) => exact.countText(t) !== estimatedTokens.countText(t));
  assert.ok(differs.length > TEXTS.length / 2, 'the exact counts are not the estimate under another name');
});

test('property: the count of any text equals the library\'s, cached or not', async () => {
  const count = await reference();
  const exact = await loadTokenizer(FILE, { cacheEntries: 16, cacheMaxTextLength: 32 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom(...TEXTS)), (text) => {
      assert.equal(exact.countText(text), count(text));
    }),
    { numRuns: 300 },
  );
});

test('a body counts its text with the tokenizer and keeps the documented framing, image and reply amounts', async () => {
  const count = await reference();
  const exact = await loadTokenizer(DIR);
  const [system, user, caption, tools] = ['You label reviews.', TEXTS[2]!, '看这张图', [{ type: 'function', function: { name: 'label', parameters: { type: 'object' } } }]];
  const body = {
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: [{ type: 'text', text: user }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }, { type: 'text', text: caption }] },
    ],
    tools,
  };
  const expected = TOKENS_PER_REPLY + 2 * TOKENS_PER_MESSAGE + count(system) + count(user) + TOKENS_PER_IMAGE + count(caption) + count(JSON.stringify(tools));
  assert.equal(exact.countBody(body), expected);
  assert.equal(estimatedTokens.countBody(body), estimateBodyTokens(body));
  assert.equal(exact.countBody({ input: ['one', 'two'] }), count('one') + count('two'));
  assert.equal(exact.countBody('not a body'), 0);
});

test('a missing, unreadable or foreign tokenizer file is a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tokenizer-'));
  try {
    await assert.rejects(loadTokenizer(join(dir, 'nope.json')), (e: { code: string; message: string }) => e.code === 'E_USAGE' && /Cannot read tokenizer .*nope\.json: ENOENT/.test(e.message));
    await assert.rejects(loadTokenizer(dir), (e: { code: string; message: string }) => e.code === 'E_USAGE' && /tokenizer\.json: ENOENT/.test(e.message));
    await writeFile(join(dir, 'bad.json'), '{"model":');
    await assert.rejects(loadTokenizer(join(dir, 'bad.json')), (e: { code: string }) => e.code === 'E_CONFIG');
    await writeFile(join(dir, 'other.json'), '{"hello":"world"}');
    await assert.rejects(loadTokenizer(join(dir, 'other.json')), (e: { code: string; message: string }) => e.code === 'E_CONFIG' && /Expected a Hugging Face tokenizer\.json/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
