import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.ts';
import { createEchoResponder } from '../lib/local/echo-model.ts';
import { outputLine } from '../lib/local/job-lines.ts';
import { openSource } from '../lib/sources/open.ts';
import type { Row } from '../lib/sources/row.ts';

/** Runs batch lines through the local job engine's responder and line shaper, as a job would. */
async function runJob(respond: ReturnType<typeof createEchoResponder>, batchText: string, drop: (id: string) => boolean): Promise<{ results: string; errors: string }> {
  const ok: string[] = [];
  const failed: string[] = [];
  for (const text of batchText.trim().split('\n')) {
    const { custom_id, body } = JSON.parse(text) as { custom_id: string; body: Record<string, unknown> };
    if (drop(custom_id)) continue;
    const { ok: good, out } = outputLine(custom_id, await respond(body));
    (good ? ok : failed).push(JSON.stringify(out));
  }
  // Results arrive in completion order, not input order.
  ok.reverse();
  return { results: ok.map((l) => l + '\n').join(''), errors: failed.map((l) => l + '\n').join('') };
}

async function csvRows(path: string): Promise<Record<string, string>[]> {
  const s = await openSource(path);
  const out: Record<string, string>[] = [];
  for await (const row of s.rows) {
    const r = row as Row;
    out.push(Object.fromEntries(r.columns!.map((c, i) => [c, r.cells![i]!])));
  }
  await s.close();
  return out;
}

test('prep, a job, join, retry and a second join give one complete dataset', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-join-cli-'));
  try {
    const source = join(dir, 'reviews.csv');
    await writeFile(
      source,
      'doc,review\n' +
        'd1,"great, really 很好"\n' +
        'd2,"broken [[fail:RateLimitExceeded:1]]"\n' +
        'd3,"bad request [[fail:InvalidParameter]]"\n' +
        'd4,"lost 🚚"\n' +
        'd5,fine\n',
    );
    const p = (...a: string[]) => join(dir, ...a);
    assert.equal(await main(['prep', source, '--id', 'doc', '--user', 'Classify: {{review}}', '-o', p('batch.jsonl'), '--quiet']), 0);
    const batch = await readFile(p('batch.jsonl'), 'utf8');
    // One responder for both rounds: `[[fail:CODE:1]]` fails the first attempt only.
    const respond = createEchoResponder({ seed: 7 });
    const round1 = await runJob(respond, batch, (id) => id === 'd4');
    await writeFile(p('results.jsonl'), round1.results + JSON.stringify({ custom_id: 'stranger', response: null, error: { code: 'X', message: 'x' } }) + '\n');
    await writeFile(p('errors.jsonl'), round1.errors);

    assert.equal(await main(['join', source, '--id', 'doc', '-r', p('results.jsonl'), '-e', p('errors.jsonl'), '-o', p('out.csv'), '--orphans', p('orphans.jsonl'), '--quiet']), 0);
    const rows = await csvRows(p('out.csv'));
    assert.deepEqual(rows.map((r) => [r.doc, r.status, r.error_code]), [
      ['d1', 'ok', ''],
      ['d2', 'error', 'RateLimitExceeded'],
      ['d3', 'error', 'InvalidParameter'],
      ['d4', 'missing', ''],
      ['d5', 'ok', ''],
    ]);
    assert.match(rows[0]!.content!, /great, really 很好/);
    assert.ok(Number(rows[0]!.prompt_tokens) > 0);
    assert.equal(JSON.parse(await readFile(p('orphans.jsonl'), 'utf8')).custom_id, 'stranger');

    assert.equal(await main(['retry', p('batch.jsonl'), '-r', p('results.jsonl'), '-e', p('errors.jsonl'), '--only-codes', 'RateLimitExceeded', '-o', p('retry.jsonl'), '--quiet']), 0);
    const lines = batch.trim().split('\n');
    assert.equal(await readFile(p('retry.jsonl'), 'utf8'), [lines[1], lines[3]].map((l) => l + '\n').join(''));

    const round2 = await runJob(respond, await readFile(p('retry.jsonl'), 'utf8'), () => false);
    await writeFile(p('results2.jsonl'), round2.results);
    assert.equal(round2.errors, '');
    assert.equal(
      await main(['join', source, '--id', 'doc', '-r', p('results.jsonl'), p('results2.jsonl'), '-e', p('errors.jsonl'), '-o', p('final.jsonl'), '--memory', '1KiB', '--quiet']),
      0,
    );
    const final = (await readFile(p('final.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(final.map((r) => r.status), ['ok', 'ok', 'error', 'ok', 'ok']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('join: a tos:// input without credentials names the missing variable; an unknown file is a usage error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-join-cli-'));
  try {
    await writeFile(join(dir, 's.csv'), 'a\n1\n');
    assert.equal(await main(['join', join(dir, 's.csv'), '-r', 'tos://bucket/results.jsonl', '--quiet']), 2);
    assert.equal(await main(['join', join(dir, 's.csv'), '-r', join(dir, 'nope.jsonl'), '--quiet']), 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
