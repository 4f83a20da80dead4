import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, parseSize } from '../lib/util/size.ts';

test('sizes parse in decimal and binary units', () => {
  assert.equal(parseSize('1048576'), 1048576);
  assert.equal(parseSize('200MB'), 200_000_000);
  assert.equal(parseSize('8MiB'), 8 * 1024 * 1024);
  assert.equal(parseSize('5 GiB'), 5 * 1024 ** 3);
  assert.equal(parseSize('1.5k'), 1500);
  assert.equal(parseSize(42), 42);
});

test('a malformed size is a usage error naming the flag', () => {
  assert.throws(() => parseSize('ten', '--split-bytes'), /E_USAGE .*--split-bytes.*"ten"/);
  assert.throws(() => parseSize('5XB'), /E_USAGE/);
  assert.throws(() => parseSize(-1), /E_USAGE/);
});

test('bytes format for humans', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
});
