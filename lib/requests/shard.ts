/**
 * Stable shard assignment of custom_ids, so `prep --shard K/N` on N machines splits one source
 * into N disjoint batch files without coordination.
 *
 * The contract (it must never change: shards written by one version are read by the next):
 *
 *   h = FNV-1a 32-bit over the UTF-8 bytes of custom_id
 *       (offset basis 0x811c9dc5, prime 0x01000193; a lone surrogate encodes as U+FFFD, EF BF BD,
 *        exactly as `Buffer.from(id, 'utf8')` and Python's `id.encode('utf-8', 'replace')` do)
 *   h = fmix32(h)  (the MurmurHash3 finalizer: h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13;
 *                   h *= 0xc2b2ae35; h ^= h >>> 16; all mod 2^32)
 *   shard = floor(h * N / 2^32)
 *
 * fmix32 is there because FNV-1a leaves the last bytes poorly mixed into the high bits, and
 * the multiply-shift range reduction reads the high bits (it avoids the modulo bias of h % N).
 * Everything is 32-bit integer arithmetic, so any language reproduces it bit for bit.
 */
import { ArkBatchError } from '../errors.ts';
import { fmix32 } from '../validate/fingerprint.ts';

/** Largest shard count; keeps `h * N` exact in a double (2^32 * 2^20 < 2^53). */
export const MAX_SHARDS = 1 << 20;

export interface ShardSpec {
  /** 0-based shard index, the value `shardOf` returns for ids in this shard. */
  readonly index: number;
  /** Number of shards N. */
  readonly count: number;
}

/** FNV-1a 32 of the UTF-8 bytes of `text`, then fmix32; exported for the known-answer tests. */
export function shardHash(text: string): number {
  let h = 0x811c9dc5;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        h = Math.imul(h ^ (0xf0 | (cp >> 18)), 0x01000193);
        h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), 0x01000193);
        h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), 0x01000193);
        h = Math.imul(h ^ (0x80 | (cp & 0x3f)), 0x01000193);
        continue;
      }
      c = 0xfffd;
    }
    h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
  }
  return fmix32(h) >>> 0;
}

/** The 0-based shard (0..shards-1) that owns `customId`; see the module comment for the contract. */
export function shardOf(customId: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new ArkBatchError('E_USAGE', `Expected a shard count from 1 to ${MAX_SHARDS}, got ${String(shards)} (${typeof shards})`);
  }
  return Math.floor((shardHash(customId) * shards) / 4294967296);
}

/**
 * Parses the `--shard K/N` flag: K is 1-based (`1/3`, `2/3`, `3/3`) because people count
 * machines from one; the returned `index` is 0-based to compare with `shardOf`.
 */
export function parseShard(flag: string): ShardSpec {
  const m = /^\s*(\d{1,8})\s*\/\s*(\d{1,8})\s*$/.exec(flag);
  if (!m) {
    throw new ArkBatchError('E_USAGE', `Expected --shard K/N with whole numbers, like 1/4, got "${flag}"`);
  }
  const k = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) {
    throw new ArkBatchError('E_USAGE', `Expected the shard count N in --shard K/N from 1 to ${MAX_SHARDS}, got ${count}`);
  }
  if (k < 1 || k > count) {
    throw new ArkBatchError('E_USAGE', `Expected the shard K in --shard K/N from 1 to ${count} (K counts from 1), got ${k}`);
  }
  return { index: k - 1, count };
}
