import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRequestIdGenerator, formatRequestId, isArkRequestId, REQUEST_ID_LENGTH, requestIdTime } from '../lib/local/ids.ts';

test('the id of the Ark guide example has the documented layout', () => {
  const id = formatRequestId(1741184352236, 'ac152003', 0x9ca4e1);
  assert.equal(id, '02174118435223600000000000000000000ffffac1520039ca4e1');
  assert.equal(id.length, REQUEST_ID_LENGTH);
  assert.equal(requestIdTime(id), 1741184352236);
});

test('generated ids are 53 characters, start with 021 and carry the clock and the loopback host', () => {
  const next = createRequestIdGenerator({ now: () => 1_764_000_000_123 });
  const id = next();
  assert.equal(id.length, 53);
  assert.ok(id.startsWith('021764000000123'));
  assert.ok(id.includes('ffff7f000001'));
  assert.ok(isArkRequestId(id));
});

test('the same seed and clock give the same sequence, other seeds another', () => {
  const clock = () => 1_764_000_000_000;
  const a = createRequestIdGenerator({ seed: 7, now: clock });
  const b = createRequestIdGenerator({ seed: 7, now: clock });
  const c = createRequestIdGenerator({ seed: 8, now: clock });
  const seqA = [a(), a(), a()];
  assert.deepEqual([b(), b(), b()], seqA);
  assert.notDeepEqual([c(), c(), c()], seqA);
});

test('ids from one generator never repeat, even within one millisecond', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 2000 }), (seed, n) => {
      const next = createRequestIdGenerator({ seed, now: () => 1_700_000_000_000 });
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) seen.add(next());
      assert.equal(seen.size, n);
    }),
    { numRuns: 30 },
  );
});

test('ids that are not Ark request ids are recognised as such', () => {
  for (const s of ['', 'req-1', '02174118435223600000000000000000000ffffac1520039ca4e', '02174118435223600000000000000000000FFFFAC1520039CA4E1', 53]) {
    assert.equal(isArkRequestId(s), false);
  }
  assert.equal(requestIdTime('nope'), undefined);
});

test('bad clock values and hosts are refused', () => {
  assert.throws(() => formatRequestId(-1, '7f000001', 0), RangeError);
  assert.throws(() => formatRequestId(1e14, '7f000001', 0), RangeError);
  assert.throws(() => createRequestIdGenerator({ hostHex: 'xyz' }), RangeError);
});
