import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArkBatchError, exitCodeFor } from '../lib/errors.ts';

test('an error message names file, row and custom_id', () => {
  const err = new ArkBatchError('E_ID_EMPTY', 'custom_id is empty', { file: 'a.csv', row: 12, customId: '' });
  assert.equal(err.message, 'a.csv:12: E_ID_EMPTY custom_id is empty (custom_id=)');
  assert.equal(err.code, 'E_ID_EMPTY');
  assert.equal(err.row, 12);
  assert.equal(err.detail, 'custom_id is empty');
});

test('exit codes follow the error class: data 1, usage 2, remote 3', () => {
  assert.equal(exitCodeFor(new ArkBatchError('E_BODY_INVALID', 'x')), 1);
  assert.equal(exitCodeFor(new ArkBatchError('E_TEMPLATE', 'x')), 2);
  assert.equal(exitCodeFor(new ArkBatchError('E_UPLOAD_PART', 'x')), 3);
  assert.equal(exitCodeFor(new Error('plain')), 1);
});

test('the cause is kept and not spread onto the error', () => {
  const cause = new Error('socket hang up');
  const err = new ArkBatchError('E_TOS', 'put failed', { cause, requestId: 'r1' });
  assert.equal(err.cause, cause);
  assert.equal(err.requestId, 'r1');
  assert.match(err.message, /request_id=r1/);
});
