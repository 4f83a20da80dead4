import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import { createFaults, parseFaultSpec } from '../lib/local/faults.ts';

test('a spec parses into rules: statuses, reset, stall with and without its own duration', () => {
  assert.deepEqual(parseFaultSpec('uploadPart=0.2:500, getObject=0.05:reset,openapi=0.1:429,chat=1:stall:250,*=0:stall', { stallMs: 9 }), [
    { operation: 'uploadPart', probability: 0.2, fault: { kind: 'status', status: 500 } },
    { operation: 'getObject', probability: 0.05, fault: { kind: 'reset' } },
    { operation: 'openapi', probability: 0.1, fault: { kind: 'status', status: 429 } },
    { operation: 'chat', probability: 1, fault: { kind: 'stall', ms: 250 } },
    { operation: '*', probability: 0, fault: { kind: 'stall', ms: 9 } },
  ]);
  assert.deepEqual(parseFaultSpec(''), []);
  assert.equal(createFaults(undefined).decide('putObject'), null);
});

test('a malformed spec is a usage error naming the bad entry', () => {
  for (const bad of ['uploadPart', 'uploadPart=0.2', 'uploadPart=1.5:500', 'uploadPart=0.2:999', 'uploadPart=0.2:boom', '=0.1:500', 'a=0.1:50']) {
    assert.throws(
      () => parseFaultSpec(bad),
      (err: unknown) => err instanceof ArkBatchError && err.code === 'E_USAGE' && err.message.includes(JSON.stringify(bad.split(',')[0])),
      bad,
    );
  }
});

test('the same spec and seed give the same decisions; another seed gives others', () => {
  const run = (seed: number) => {
    const f = createFaults('uploadPart=0.3:500,chat=0.5:503', seed);
    return Array.from({ length: 200 }, (_, i) => f.decide(i % 2 ? 'uploadPart' : 'chat')?.kind ?? '-').join('');
  };
  assert.equal(run(42), run(42));
  assert.notEqual(run(42), run(43));
});

test('decisions for one operation do not depend on how calls to other operations interleave', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { maxLength: 300 }), fc.nat(), (interleave, seed) => {
      const alone = createFaults('uploadPart=0.3:500,getObject=0.5:reset', seed);
      const mixed = createFaults('uploadPart=0.3:500,getObject=0.5:reset', seed);
      const expected = interleave.filter(Boolean).map(() => alone.decide('uploadPart'));
      const got: unknown[] = [];
      for (const isPart of interleave) {
        if (isPart) got.push(mixed.decide('uploadPart'));
        else mixed.decide('getObject');
      }
      assert.deepEqual(got, expected);
    }),
  );
});

test('the fraction of failed calls follows the probability', () => {
  for (const p of [0.05, 0.2, 0.5, 0.9]) {
    const f = createFaults(`uploadPart=${p}:500`, 7);
    let failed = 0;
    for (let i = 0; i < 10_000; i++) if (f.decide('uploadPart')) failed++;
    // 10,000 draws: the binomial standard deviation is at most 50, so ±250 is 5 sigma.
    assert.ok(Math.abs(failed - p * 10_000) < 250, `p=${p}: ${failed} of 10000`);
  }
});

test('probability 1 always fails, 0 never; * covers operations without their own rule; unnamed ones pass', () => {
  const f = createFaults('putObject=1:503,getObject=0:500,*=1:reset');
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(f.decide('putObject'), { kind: 'status', status: 503 });
    assert.equal(f.decide('getObject'), null);
    assert.deepEqual(f.decide('headObject'), { kind: 'reset' });
  }
  assert.equal(createFaults('putObject=1:503').decide('chat'), null);
});

test('several rules for one operation split one draw: chat=0.1:503,chat=0.05:429', () => {
  const faults = createFaults('chat=0.1:503,chat=0.05:429', 7);
  const counts = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const d = faults.decide('chat');
    const key = d === null ? 'ok' : d.kind === 'status' ? String(d.status) : d.kind;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const share = (k: string) => (counts.get(k) ?? 0) / 20_000;
  assert.ok(Math.abs(share('503') - 0.1) < 0.015, `503 share ${share('503')}`);
  assert.ok(Math.abs(share('429') - 0.05) < 0.01, `429 share ${share('429')}`);
  assert.ok(Math.abs(share('ok') - 0.85) < 0.015, `ok share ${share('ok')}`);
});
