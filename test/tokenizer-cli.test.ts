import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { generateCsv } from '../lib/bench/synthetic.ts';
import { countBodyTokens } from '../lib/requests/tokens.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');
const TOKENIZER = join(import.meta.dirname, 'fixtures', 'tokenizer', 'tokenizer.json');
const PREP_FLAGS = ['--id', 'id', '--system', 'You summarise customer reviews in one line.', '--user', 'Summarise: {{text}} ({{category}})'];

/** Input tokens of a JSONL batch as the library's own encode counts them, framing as documented. */
async function expectedTokens(jsonl: string): Promise<number> {
  const tokenizer = new Tokenizer(JSON.parse(await readFile(TOKENIZER, 'utf8')), {});
  const count = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  return jsonl.trim().split('\n').reduce((n, line) => n + countBodyTokens(JSON.parse(line).body, count), 0);
}

test('validate --tokenizer counts every line exactly and says so; without it the count is an estimate', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tokenizer-cli-'));
  try {
    const source = join(dir, 'reviews.csv');
    await generateCsv({ rows: 200, seed: 4, path: source });
    const batch = join(dir, 'batch.jsonl');
    await run(process.execPath, [BIN, 'prep', source, ...PREP_FLAGS, '-o', batch, '-q']);
    const want = await expectedTokens(await readFile(batch, 'utf8'));

    const exact = JSON.parse((await run(process.execPath, [BIN, 'validate', batch, '--tokenizer', TOKENIZER, '--json'])).stdout);
    assert.deepEqual([exact.valid, exact.tokens, exact.tokenizer, exact.inputTokens, 'estimatedInputTokens' in exact], [true, 'exact', TOKENIZER, want, false]);
    const human = await run(process.execPath, [BIN, 'validate', batch, '--tokenizer', join(import.meta.dirname, 'fixtures', 'tokenizer')]);
    assert.match(human.stderr, new RegExp(`200 unique ids, ${want} input tokens \\(exact, tokenizer .*fixtures/tokenizer\\)`));

    const estimate = JSON.parse((await run(process.execPath, [BIN, 'validate', batch, '--json'])).stdout);
    assert.deepEqual([estimate.tokens, estimate.tokenizer], ['estimated', undefined]);
    assert.equal(estimate.estimatedInputTokens, estimate.inputTokens);
    assert.notEqual(estimate.inputTokens, want);

    await assert.rejects(run(process.execPath, [BIN, 'validate', batch, '--tokenizer', join(dir, 'missing.json')]), (e: { code: number; stderr: string }) => e.code === 2 && /Cannot read tokenizer .*missing\.json: ENOENT/.test(e.stderr));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bench --tokenizer reports exact input tokens, in the JSON, the summary line and the Markdown report', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tokenizer-bench-'));
  try {
    const source = join(dir, 'reviews.csv');
    await generateCsv({ rows: 300, seed: 6, path: source });
    const { stdout: jsonl } = await run(process.execPath, [BIN, 'prep', source, ...PREP_FLAGS, '-q'], { maxBuffer: 64 << 20 });
    const want = await expectedTokens(jsonl);

    const report = join(dir, 'report.md');
    const r = await run(process.execPath, [BIN, 'bench', source, ...PREP_FLAGS, '--runs', '1', '--tokenizer', TOKENIZER, '--report', report, '--json']);
    const [result] = JSON.parse(r.stdout) as { tokens: string; tokenizer: string; inputTokens: number; lines: number; estimatedInputTokens?: number }[];
    assert.deepEqual([result!.tokens, result!.tokenizer, result!.inputTokens, result!.lines, result!.estimatedInputTokens], ['exact', TOKENIZER, want, 300, undefined]);
    const md = await readFile(report, 'utf8');
    assert.match(md, new RegExp(`\\| ${want.toLocaleString('en-US')} \\| 1 / 1 \\|`));
    assert.match(md, /Token counts are exact for message text \(tokenizer .*tokenizer\.json\)/);

    const human = await run(process.execPath, [BIN, 'bench', source, ...PREP_FLAGS, '--runs', '1', '--tokenizer', TOKENIZER]);
    assert.match(human.stderr, new RegExp(`300 lines, .*, ${want} input tokens \\(exact, tokenizer .*tokenizer\\.json\\)`));
    const estimated = JSON.parse((await run(process.execPath, [BIN, 'bench', source, ...PREP_FLAGS, '--runs', '1', '--json', '-q'])).stdout)[0];
    assert.equal(estimated.tokens, 'estimated');
    assert.equal(estimated.estimatedInputTokens, estimated.inputTokens);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
