import type { ArkBatchError } from '../errors.ts';
import { rowToObject, textOf, type Row } from '../sources/row.ts';
import { createLineChecker, type CheckerOptions } from '../validate/checker.ts';
import { createRejectPolicy, type RejectPolicyOptions } from '../validate/rejects.ts';
import { createRequestBuilder, type BuildOptions } from './build.ts';
import { shardOf, type ShardSpec } from './shard.ts';
import { estimateBodyTokens } from './tokens.ts';

export interface PrepareOptions extends BuildOptions, RejectPolicyOptions, Omit<CheckerOptions, 'file' | 'trustedBody'> {
  /** Keep only rows whose custom_id hashes to this shard (`--shard K/N`). */
  readonly shard?: ShardSpec;
  /** Count estimated input tokens of the lines written (costs a little time). @default false */
  readonly estimateTokens?: boolean;
}

/** Counts that always reconcile: rowsRead = written + rejected + skipped + otherShards. */
export interface PrepareStats {
  rowsRead: number;
  written: number;
  rejected: number;
  /** Rows left out on purpose by `--on-empty skip-row`. */
  skipped: number;
  /** Rows whose custom_id belongs to another shard (`--shard`). */
  otherShards: number;
  /** Output bytes, newlines included. */
  bytes: number;
  /** Estimated input tokens of the lines written (with `estimateTokens`). */
  estimatedInputTokens?: number;
}

/**
 * The whole per-row path of `prep` as one function. For binary rows (CSV fast path) the line
 * returned is a latin1 binary string: write it with `Buffer.from(line, 'latin1')`.: template, custom_id, schema, size,
 * uniqueness, reject policy. Returns the encoded line (no newline) or null when the row was
 * rejected or skipped; throws when the run must stop.
 */
export function createPreparer(options: PrepareOptions): { prepare(row: Row): string | null; readonly stats: PrepareStats } {
  const build = createRequestBuilder(options);
  const checker = createLineChecker({ ...options, trustedBody: false });
  const policy = createRejectPolicy(options);
  const stats: PrepareStats = { rowsRead: 0, written: 0, rejected: 0, skipped: 0, otherShards: 0, bytes: 0 };
  const shard = options.shard;
  const reject = (row: Row, error: ArkBatchError) => {
    stats.rejected++;
    policy.reject(error, () => rowToObject(row));
  };
  return {
    stats,
    prepare(row) {
      stats.rowsRead++;
      const built = build(row);
      if (!built.ok) {
        if (built.skip) {
          stats.skipped++;
          return null;
        }
        reject(row, built.error);
        return null;
      }
      // Rows of other shards are left out before any check, so each shard's uniqueness table
      // and file limits see only its own lines; a row that cannot be read has no id and is
      // rejected by every shard alike.
      if (shard && shardOf(row.binary ? textOf(built.line.custom_id) : built.line.custom_id, shard.count) !== shard.index) {
        stats.otherShards++;
        return null;
      }
      const checked = checker.check(built.line, { row: row.index, line: row.line, binary: row.binary });
      if (!checked.ok) {
        reject(row, checked.error);
        return null;
      }
      stats.written++;
      stats.bytes += checked.bytes + 1;
      if (options.estimateTokens) {
        // Binary rows hold UTF-8 bytes as latin1; the estimate needs the text itself.
        const body = row.binary ? (JSON.parse(textOf(checked.json)) as { body: unknown }).body : built.line.body;
        stats.estimatedInputTokens = (stats.estimatedInputTokens ?? 0) + estimateBodyTokens(body);
      }
      return checked.json;
    },
  };
}
