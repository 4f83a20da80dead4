import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as lib from '../lib/index.ts';

function collect(): { sink: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

const csv = 'id,review\na1,"great, really"\na2,"说 ""不"""\n';

test('the composable streams from the barrel make the same lines as prep()', async () => {
  const out = collect();
  await pipeline(
    Readable.from([Buffer.from(csv)]),
    lib.rowsFromCsv({ file: 'in.csv' }),
    lib.buildRequests({ user: 'Classify: {{review}}', id: { column: 'id' } }),
    lib.validateRequests({ ids: lib.createIdTracker() }),
    lib.encodeJsonl(),
    out.sink,
  );
  const viaPrep = collect();
  await lib.prep({ input: '-', stdin: Readable.from([Buffer.from(csv)]), format: 'csv', output: viaPrep.sink, user: 'Classify: {{review}}', id: { column: 'id' } });
  assert.equal(out.text(), viaPrep.text());
  assert.deepEqual(
    out.text().trim().split('\n').map((l) => JSON.parse(l)),
    [
      { custom_id: 'a1', body: { messages: [{ role: 'user', content: 'Classify: great, really' }] } },
      { custom_id: 'a2', body: { messages: [{ role: 'user', content: 'Classify: 说 "不"' }] } },
    ],
  );
});

test('a composed pipeline fails fast on a bad row with a located error', async () => {
  await assert.rejects(
    pipeline(
      Readable.from([Buffer.from('id,review\na1,x\n,y\n')]),
      lib.rowsFromCsv({ file: 'in.csv' }),
      lib.buildRequests({ user: '{{review}}', id: { column: 'id' }, file: 'in.csv' }),
      lib.validateRequests({ ids: null }),
      lib.encodeJsonl(),
      collect().sink,
    ),
    (e: lib.ArkBatchError) => e.code === 'E_ID_EMPTY' && e.message.startsWith('in.csv:3:'),
  );
});
