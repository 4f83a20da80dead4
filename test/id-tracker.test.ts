import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createIdTracker, type DuplicatePair, type IdTrackerOptions } from '../lib/validate/id-tracker.ts';
import { encodeUtf8Into, murmur3x86128 } from '../lib/validate/fingerprint.ts';
import { ArkBatchError } from '../lib/errors.ts';

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-ids-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Feeds ids as rows 1..n; returns every duplicate reported, by add() or by finish(). */
async function track(ids: readonly string[], options: IdTrackerOptions): Promise<{ pairs: DuplicatePair[]; runs: number }> {
  const tracker = createIdTracker({ maxReportedDuplicates: 1_000_000, ...options });
  const pairs: DuplicatePair[] = [];
  ids.forEach((id, i) => {
    const earlier = tracker.add(id, i + 1);
    if (earlier !== null) pairs.push({ first: earlier, second: i + 1 });
  });
  const summary = await tracker.finish();
  assert.equal(summary.duplicateCount, summary.duplicates.length);
  return { pairs: [...pairs, ...summary.duplicates], runs: summary.runs };
}

/** Every later occurrence is reported exactly once, paired with an earlier row of the same id. */
function assertExactDuplicates(ids: readonly string[], pairs: readonly DuplicatePair[]): void {
  const expected: number[] = [];
  const seen = new Set<string>();
  ids.forEach((id, i) => (seen.has(id) ? expected.push(i + 1) : seen.add(id)));
  assert.deepEqual(pairs.map((p) => p.second).sort((a, b) => a - b), expected);
  for (const { first, second } of pairs) {
    assert.ok(first < second, `first ${first} before second ${second}`);
    assert.equal(ids[first - 1], ids[second - 1], `rows ${first} and ${second} hold the same id`);
  }
}

const idArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => `doc-${n}`),
  fc.constantFrom('', '中文标识', '👩‍👩‍👧', 'x'.repeat(5000)),
);

/** Distinct ids with some of them repeated at random later positions. */
const withDuplicates = fc
  .tuple(fc.uniqueArray(idArb, { minLength: 1, maxLength: 400 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 60 }))
  .map(([unique, injections]) => {
    const ids = [...unique];
    for (const [from, to] of injections) ids.splice(to % (ids.length + 1), 0, unique[from % unique.length]);
    return ids;
  });

test('MurmurHash3_x86_128 matches the SMHasher verification value 0xB3ECE62A', () => {
  const key = new Uint8Array(256);
  const hashes = new Uint8Array(256 * 16);
  const view = new DataView(hashes.buffer);
  const out = new Uint32Array(4);
  for (let i = 0; i < 256; i++) {
    key[i] = i;
    murmur3x86128(key, i, 256 - i, out);
    for (let w = 0; w < 4; w++) view.setUint32(i * 16 + w * 4, out[w], true);
  }
  murmur3x86128(hashes, hashes.length, 0, out);
  assert.equal(out[0], 0xb3ece62a);
});

test('ids are fingerprinted by exactly their UTF-8 bytes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) })), (s) => {
      const out = new Uint8Array(s.length * 3);
      const n = encodeUtf8Into(s, out);
      assert.deepEqual(Buffer.from(out.subarray(0, n)), Buffer.from(s, 'utf8'));
    }),
  );
});

test('injected duplicates are always found with both rows, in memory', async () => {
  await fc.assert(
    fc.asyncProperty(withDuplicates, async (ids) => {
      const { pairs, runs } = await track(ids, {});
      assert.equal(runs, 0);
      assertExactDuplicates(ids, pairs);
    }),
  );
});

test('injected duplicates are always found with both rows across spilled runs merged in passes', async () => {
  await withTmp(async (dir) => {
    await fc.assert(
      fc.asyncProperty(withDuplicates, fc.constantFrom(2, 3, 64), async (ids, mergeFanIn) => {
        const { pairs } = await track(ids, { memoryBytes: 4096, tmpDir: dir, mergeFanIn });
        assertExactDuplicates(ids, pairs);
      }),
      { numRuns: 60 },
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test('distinct ids never produce a duplicate: Unicode, empty, very long, near-identical', async () => {
  await withTmp(async (dir) => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(idArb, { maxLength: 600 }), async (ids) => {
        const { pairs } = await track(ids, { memoryBytes: 4096, tmpDir: dir });
        assert.deepEqual(pairs, []);
      }),
      { numRuns: 40 },
    );
  });
  const near = ['', ' ', '\0', 'a', 'a ', 'A', 'é', 'e\u0301', 'x'.repeat(100_000), 'x'.repeat(100_001)];
  for (let i = 0; i < 3000; i++) near.push(`row-${i}`, `row-${i} `, `行-${i}`);
  assert.deepEqual((await track(near, {})).pairs, []);
});

/** Increasing ids (numbers: shortlex order is numeric order) with repeats and strays injected later. */
const mostlyIncreasing = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 3000 }).map((ns) => ns.sort((a, b) => a - b).map(String)),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 8 }),
  )
  .map(([sorted, injections]) => {
    const ids = [...sorted];
    // A repeat of an earlier id, or a new id out of order (which may repeat nothing).
    for (const [from, to, repeat] of injections) ids.splice(to % (ids.length + 1), 0, repeat ? sorted[from % sorted.length]! : `z${from}`);
    return ids;
  });

test('ids in increasing order are only logged, and a repeat or a stray among them is found as in the table', async () => {
  await withTmp(async (dir) => {
    await fc.assert(
      fc.asyncProperty(mostlyIncreasing, fc.constantFrom(4096, 8192, 1 << 20), fc.constantFrom(2, 64), async (ids, memoryBytes, mergeFanIn) => {
        const { pairs } = await track(ids, { memoryBytes, tmpDir: dir, mergeFanIn });
        assertExactDuplicates(ids, pairs);
      }),
      { numRuns: 80 },
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test('a repeat after increasing ids is found at once while they are all in memory, as the table alone would find it', async () => {
  await withTmp(async (dir) => {
    for (let n = 100; n <= 4000; n += 150) {
      const tracker = createIdTracker({ memoryBytes: 65536, tmpDir: dir });
      for (let i = 1; i <= n; i++) assert.equal(tracker.add(String(i), i), null);
      const inMemory = tracker.runs === 0;
      const earlier = tracker.add('1', n + 1);
      if (inMemory) assert.equal(earlier, 1, `n=${n}: nothing spilled, so the repeat is found at once`);
      const summary = await tracker.finish();
      assert.equal((earlier === null ? 0 : 1) + summary.duplicateCount, 1, `n=${n}`);
    }
  });
});

test('an input whose ids all increase is never merged: its logs are dropped, no duplicate is possible', async () => {
  await withTmp(async (dir) => {
    const tracker = createIdTracker({ memoryBytes: 4096, tmpDir: dir });
    for (let i = 1; i <= 5000; i++) assert.equal(tracker.add(`r${String(i).padStart(8, '0')}`, i), null);
    assert.ok(tracker.runs > 10, `logs written out: ${tracker.runs}`);
    assert.ok(tracker.tableBytes <= 4096);
    const summary = await tracker.finish();
    assert.deepEqual({ ids: summary.ids, duplicateCount: summary.duplicateCount }, { ids: 5000, duplicateCount: 0 });
    assert.deepEqual(await readdir(dir), []);
  });
});

test('20k sequential ids with a tiny budget spill many runs, and the one late duplicate is paired with row 1', async () => {
  await withTmp(async (dir) => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `doc-${i + 1}`);
    ids.push('doc-1');
    const tracker = createIdTracker({ memoryBytes: 8192, tmpDir: dir, mergeFanIn: 8 });
    ids.forEach((id, i) => assert.equal(tracker.add(id, i + 1), null));
    assert.ok(tracker.runs > 8, `runs: ${tracker.runs}`);
    assert.ok(tracker.tableBytes <= 8192);
    assert.equal((await readdir(dir)).length, 1, 'one private spill directory while running');
    const summary = await tracker.finish();
    assert.deepEqual(summary.duplicates, [{ first: 1, second: 20_001 }]);
    assert.equal(summary.ids, 20_001);
    assert.deepEqual(await readdir(dir), []);
  });
});

test('close() removes spilled runs without merging, and may be called again', async () => {
  await withTmp(async (dir) => {
    const tracker = createIdTracker({ memoryBytes: 4096, tmpDir: dir });
    for (let i = 1; i <= 2000; i++) tracker.add(`id-${i}`, i);
    assert.ok(tracker.runs > 0);
    assert.notDeepEqual(await readdir(dir), []);
    tracker.close();
    tracker.close();
    assert.deepEqual(await readdir(dir), []);
    assert.throws(() => tracker.add('late', 2001), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
    await assert.rejects(tracker.finish(), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
  });
});

test('finish() reports at most maxReportedDuplicates pairs, the earliest by second row, and counts all', async () => {
  await withTmp(async (dir) => {
    const tracker = createIdTracker({ memoryBytes: 4096, tmpDir: dir, maxReportedDuplicates: 5 });
    let row = 0;
    for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 1000; i++) tracker.add(`k${i}`, ++row);
    const summary = await tracker.finish();
    assert.equal(summary.duplicateCount, 1000);
    assert.deepEqual(summary.duplicates, [1001, 1002, 1003, 1004, 1005].map((second) => ({ first: second - 1000, second })));
  });
});

test('the table never outgrows memoryBytes', () => {
  for (const memoryBytes of [4096, 100_000, 1 << 20]) {
    const tracker = createIdTracker({ memoryBytes, tmpDir: tmpdir() });
    try {
      for (let i = 1; i <= 50_000; i++) {
        tracker.add(`n${i}`, i);
        if (i % 997 === 0) assert.ok(tracker.tableBytes <= memoryBytes, `${tracker.tableBytes} > ${memoryBytes}`);
      }
    } finally {
      tracker.close();
    }
  }
});

test('bad rows and options are usage errors', () => {
  const tracker = createIdTracker();
  for (const row of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
    assert.throws(() => tracker.add('a', row), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
  }
  tracker.close();
  assert.throws(() => createIdTracker({ memoryBytes: 100 }), /memoryBytes/);
  assert.throws(() => createIdTracker({ mergeFanIn: 1 }), /mergeFanIn/);
});

test('ids that differ only in a lone surrogate count as equal, as their UTF-8 bytes are', () => {
  const tracker = createIdTracker();
  assert.equal(tracker.add('a\ud800', 1), null);
  assert.equal(tracker.add('a\udc00', 2), 1);
  assert.equal(tracker.add('a\ufffd', 3), 1);
  tracker.close();
});

test('a tmpDir that cannot be written makes the spill fail with E_IO naming it', async () => {
  await withTmp(async (dir) => {
    const missing = join(dir, 'no-such-dir');
    const tracker = createIdTracker({ memoryBytes: 4096, tmpDir: missing });
    assert.throws(
      () => {
        for (let i = 1; i <= 1000; i++) tracker.add(`id-${i}`, i);
      },
      (e: unknown) => e instanceof ArkBatchError && e.code === 'E_IO' && e.file === missing,
    );
    tracker.close();
  });
});
