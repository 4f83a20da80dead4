import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_SHARDS, parseShard, shardHash, shardOf } from '../lib/requests/shard.ts';
import { ArkBatchError } from '../lib/errors.ts';

/** Any UTF-16 code units, so lone and swapped surrogates occur often. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 64 });

/** The documented contract written the slow, obvious way: FNV-1a over Buffer bytes, then fmix32. */
function referenceHash(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  return fmix32(h);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('the shard hash is fmix32 of the published FNV-1a 32 test vectors', () => {
  // FNV-1a 32 values from the FNV reference test suite (isthe.com/chongo/tech/comp/fnv).
  assert.equal(shardHash(''), fmix32(0x811c9dc5));
  assert.equal(shardHash('a'), fmix32(0xe40c292c));
  assert.equal(shardHash('foobar'), fmix32(0xbf9cf968));
});

test('known-answer shard values are the stable contract and never change', () => {
  // Computed once from this implementation; a change here re-shards every user's data.
  const pinned: [string, number, number][] = [
    ['', 0xab3e7c0b, 4],
    ['a', 0x1a80b1b3, 0],
    ['row-1', 0xb9e492f2, 5],
    ['doc-42', 0x5fd15931, 2],
    ['中文', 0xb820168d, 5],
    ['😀', 0x3303a80a, 1],
    ['\ud800', 0x47d8c63a, 1],
    ['é', 0x8e4756c7, 3],
  ];
  for (const [id, hash, shardOf7] of pinned) {
    assert.equal(shardHash(id), hash, `hash of ${JSON.stringify(id)}`);
    assert.equal(shardOf(id, 7), shardOf7, `shard of ${JSON.stringify(id)} among 7`);
  }
  assert.deepEqual(
    ['row-1', 'row-2', 'row-3', 'row-4', 'row-5'].map((id) => shardOf(id, 3)),
    ['row-1', 'row-2', 'row-3', 'row-4', 'row-5'].map((id) => Math.floor((referenceHash(id) * 3) / 2 ** 32)),
  );
});

test('the hash equals the hash of the UTF-8 bytes for any string, lone surrogates included', () => {
  fc.assert(
    fc.property(fc.oneof(utf16, fc.string({ unit: 'binary', maxLength: 64 })), (s) => shardHash(s) === referenceHash(s)),
    { numRuns: 2000 },
  );
});

test('every id lands in exactly one shard in 0..N-1, the same one every time', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (id, n) => {
      const s = shardOf(id, n);
      return Number.isInteger(s) && s >= 0 && s < n && shardOf(id, n) === s;
    }),
  );
  assert.equal(shardOf('anything', 1), 0);
  assert.ok(shardOf('x', MAX_SHARDS) < MAX_SHARDS);
});

test('100k sequential ids spread roughly evenly over 16 and 10 shards', () => {
  for (const n of [16, 10]) {
    const counts = new Array<number>(n).fill(0);
    for (let i = 1; i <= 100_000; i++) counts[shardOf(`doc-${i}`, n)]++;
    const expected = 100_000 / n;
    for (const c of counts) assert.ok(Math.abs(c - expected) < expected * 0.05, `shard count ${c} vs ${expected}`);
  }
});

test('a bad shard count is a usage error', () => {
  for (const n of [0, -1, 1.5, Number.NaN, MAX_SHARDS + 1]) {
    assert.throws(() => shardOf('a', n), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
  }
});

test('parseShard reads 1-based K/N and returns a 0-based index', () => {
  assert.deepEqual(parseShard('1/3'), { index: 0, count: 3 });
  assert.deepEqual(parseShard('3/3'), { index: 2, count: 3 });
  assert.deepEqual(parseShard(' 2 / 5 '), { index: 1, count: 5 });
  assert.deepEqual(parseShard('1/1'), { index: 0, count: 1 });
});

test('parseShard rejects 0/3, 4/3, x/y and other malformed flags with E_USAGE', () => {
  for (const bad of ['0/3', '4/3', 'x/y', '1/0', '0/0', '1', '/3', '1/3/4', '-1/3', '1.5/3', '', '1/99999999']) {
    assert.throws(
      () => parseShard(bad),
      (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE' && e.message.includes('--shard'),
      bad,
    );
  }
});
