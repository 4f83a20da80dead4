import { ArkBatchError } from '../errors.ts';
import { rowToObject, textOf, type Row } from '../sources/row.ts';
import { checkBatchLine } from '../validate/check-line.ts';
import { createLineChecker, type CheckerOptions } from '../validate/checker.ts';
import { createRejectPolicy, type RejectPolicyOptions } from '../validate/rejects.ts';
import { createRequestBuilder, shapeFor, type BuildOptions } from './build.ts';
import { bindIdRule, type IdMaker } from './custom-id.ts';
import { shardOf, type ShardSpec } from './shard.ts';
import { estimateBodyTokens } from './tokens.ts';
import { makeBatchLine } from './targets.ts';
import { latin1Bytes, putBytes, putJsonString, type JsonPlan } from './json-plan.ts';
import type { LineBatcher, LineWriter } from '../jsonl/line-batch.ts';
import { compileTemplate, type JsonBodyRenderer, type RenderFailure } from './template.ts';

export interface PrepareOptions extends BuildOptions, RejectPolicyOptions, Omit<CheckerOptions, 'file' | 'trustedBody'> {
  /** Keep only rows whose custom_id hashes to this shard (`--shard K/N`). */
  readonly shard?: ShardSpec;
  /**
   * Encode lines through the precompiled JSON plan and validate the body schema once when no
   * row can change its verdict (lib/requests/json-plan.ts). Same bytes, same rejects, same
   * errors; false builds, validates and stringifies each line object (the reference path).
   * @default true
   */
  readonly precompiled?: boolean;
  /** Count estimated input tokens of the lines written; uses the reference path (slower). @default false */
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

export interface Preparer {
  /**
   * Template, custom_id, schema, size, uniqueness, reject policy for one row. Returns the
   * encoded line (no newline) or null when the row was rejected or skipped; throws when the
   * run must stop. For binary rows (CSV fast path) the line is a latin1 binary string: write it
   * with `Buffer.from(line, 'latin1')` or `buf.latin1Write(line)`.
   */
  prepare(row: Row): string | null;
  /**
   * The same for the fused path: the line (with its newline) is written into `out`'s line in
   * progress and committed, or rolled back when the row is rejected or skipped.
   */
  prepareInto(row: Row, out: LineBatcher): void;
  /**
   * Rows that the caller writes itself (lib/requests/csv-raw-rows.ts, once `fastBody` is bound):
   * `body.write` puts the whole line (`head`, the id, `mid`, body, `}`) into `out`, the writer it
   * writes to. Shard, size and uniqueness then go as in `prepareInto`; `body.row()` gives the row
   * for a reject. The caller has left to `prepareInto` the rows whose id or template fields are empty.
   */
  prepareRawInto(index: number, line: number, id: string, out: LineWriter, body: RawBody): void;
  readonly stats: PrepareStats;
  /** After the first readable row: whether lines go through the precompiled plan with the schema checked once. */
  readonly precompiled: boolean;
  /** After the first readable row: the precompiled body, or null when lines do not go through it. */
  readonly fastBody: FastBody | null | undefined;
}

export interface FastBody {
  readonly plan: JsonPlan;
  /** What comes before the custom_id in a line: `{"custom_id":`. */
  readonly head: Uint8Array;
  /** The template's field paths, in slot order. */
  readonly fields: readonly string[];
  /** What comes between the custom_id and the body in a line: `,"body":` or the OpenAI frame. */
  readonly mid: Uint8Array;
}

export interface RawBody {
  write(id: string): void;
  row(): Row;
}

interface FastPath {
  readonly body: JsonBodyRenderer;
  readonly makeId: IdMaker;
  /** The line is `HEAD + JSON(custom_id) + mid + body + '}'`. */
  readonly mid: string;
  /** `mid` as bytes, for the byte writer. */
  readonly midBytes: Uint8Array;
}

const HEAD = '{"custom_id":';
const HEAD_BYTES = latin1Bytes(HEAD);

/** The whole per-row path of `prep` as one function. */
export function createPreparer(options: PrepareOptions): Preparer {
  const build = createRequestBuilder(options);
  const template = compileTemplate(options);
  const checker = createLineChecker({ ...options, trustedBody: false });
  const policy = createRejectPolicy(options);
  const stats: PrepareStats = { rowsRead: 0, written: 0, rejected: 0, skipped: 0, otherShards: 0, bytes: 0 };
  const shard = options.shard;
  const target = options.target ?? 'ark';
  // undefined until the first readable row binds the template; null when the reference path runs.
  // Token estimates read each line's body, which only the reference path builds.
  let fast: FastPath | null | undefined = options.precompiled === false || options.estimateTokens ? null : undefined;

  const reject = (row: Row, error: ArkBatchError) => {
    stats.rejected++;
    policy.reject(error, () => rowToObject(row));
  };

  function bindFast(row: Row): FastPath | null {
    const shape = shapeFor(options, row.binary);
    const model = shape.target === 'openai' ? shape.model : undefined;
    const body = template.bindJson(row, options.file, model);
    if (!body.schemaInvariant) return null;
    // Every row's body has the probe's structure and differs only in free strings, so the
    // probe's verdict is every row's: a failing probe leaves each row to fail on its own.
    if (checkBatchLine(makeBatchLine('probe', body.probe, { ...shape, model: undefined }), target, {})) return null;
    const frame = JSON.stringify(makeBatchLine('', {}, { ...shape, model: undefined }));
    if (!frame.startsWith(`${HEAD}""`) || !frame.endsWith('{}}')) throw new ArkBatchError('E_INTEGRITY', `unexpected batch line frame ${frame}`);
    const mid = frame.slice(HEAD.length + 2, -3);
    return { body, makeId: bindIdRule(options.id ?? {}, row, options.file), mid, midBytes: latin1Bytes(mid) };
  }

  /** The row's id and the body's --on-empty outcome, before anything is encoded; null when the row is out. */
  function admitRow(row: Row, f: FastPath): string | null {
    const id = f.makeId(row);
    if (typeof id !== 'string') {
      reject(row, id);
      return null;
    }
    return id;
  }

  function afterBody(row: Row, id: string, failure: RenderFailure | null): boolean {
    if (failure !== null) {
      if (failure.skip) stats.skipped++;
      else reject(row, failure.error);
      return false;
    }
    if (shard && shardOf(row.binary ? textOf(id) : id, shard.count) !== shard.index) {
      stats.otherShards++;
      return false;
    }
    if (id === '') {
      reject(row, new ArkBatchError('E_ID_EMPTY', 'custom_id is empty', { file: options.file, row: row.index, line: row.line, customId: id }));
      return false;
    }
    return true;
  }

  function prepareFast(row: Row, f: FastPath): string | null {
    const id = admitRow(row, f);
    if (id === null) return null;
    const body = f.body.render(row);
    if (!afterBody(row, id, typeof body === 'string' ? null : body)) return null;
    const checked = checker.checkEncoded(id, HEAD + JSON.stringify(id) + f.mid + (body as string) + '}', { row: row.index, line: row.line, binary: row.binary });
    if (!checked.ok) {
      reject(row, checked.error);
      return null;
    }
    stats.written++;
    stats.bytes += checked.bytes + 1;
    return checked.json;
  }

  function prepareFastInto(row: Row, f: FastPath, out: LineBatcher): void {
    const id = admitRow(row, f);
    if (id === null) return;
    putBytes(out, HEAD_BYTES);
    putJsonString(out, id);
    putBytes(out, f.midBytes);
    const failure = f.body.renderInto(row, out);
    out.ensure(1);
    out.buf[out.pos++] = 0x7d; // }
    if (!afterBody(row, id, failure)) {
      out.rollback();
      return;
    }
    const problem = commitInto(id, row.index, row.line, out);
    if (problem !== null) reject(row, problem);
  }

  /** Size and uniqueness of the line in progress: commits it, or rolls it back and returns why. */
  function commitInto(id: string, index: number, line: number | undefined, out: LineWriter): ArkBatchError | null {
    const bytes = out.pos - out.start;
    const problem = checker.admit(id, bytes, { row: index, line, binary: true });
    if (problem !== null) {
      out.rollback();
      return problem;
    }
    out.commit();
    stats.written++;
    stats.bytes += bytes + 1;
    return null;
  }

  return {
    stats,
    get precompiled() {
      return !!fast;
    },
    get fastBody() {
      return fast && { plan: fast.body.plan, head: HEAD_BYTES, fields: template.fields, mid: fast.midBytes };
    },
    prepareRawInto(index, line, id, out, body) {
      stats.rowsRead++;
      if (shard && shardOf(textOf(id), shard.count) !== shard.index) {
        stats.otherShards++;
        return;
      }
      body.write(id);
      const problem = commitInto(id, index, line, out);
      if (problem !== null) reject(body.row(), problem);
    },
    prepareInto(row, out) {
      if (row.binary && !row.error) {
        if (fast === undefined) fast = bindFast(row);
        if (fast) {
          stats.rowsRead++;
          prepareFastInto(row, fast, out);
          return;
        }
      }
      const line = this.prepare(row);
      if (line !== null) out.add(line);
    },
    prepare(row) {
      stats.rowsRead++;
      if (row.error) {
        reject(row, row.error);
        return null;
      }
      if (fast === undefined) fast = bindFast(row);
      if (fast) return prepareFast(row, fast);
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
