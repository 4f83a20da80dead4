/**
 * A source row with its result, as one flat object: the row's own columns first, then the
 * result columns. Pure; shared by every output format, so CSV, JSONL and Parquet agree.
 */
import { ArkBatchError } from '../errors.ts';
import { rowToObject, type Row } from '../sources/row.ts';
import type { ResultRecord } from './result-line.ts';

export type JoinStatus = 'ok' | 'error' | 'missing';

/** Result columns, in output order (`raw_response` only with `raw`). */
export const RESULT_COLUMNS = [
  'status',
  'content',
  'reasoning_content',
  'finish_reason',
  'prompt_tokens',
  'completion_tokens',
  'error_code',
  'error_message',
] as const;

export const RAW_COLUMN = 'raw_response';

export interface JoinedRowOptions {
  /** Add the whole result line as `raw_response`. @default false */
  readonly raw?: boolean;
  /** Put before each result column name, when a source column already uses one. @default '' */
  readonly resultPrefix?: string;
  /** Output only these columns, in this order (source or result column names). */
  readonly select?: readonly string[];
}

/** Binds the options to the first row (checking names) and returns the row builder. */
export function bindJoinedRow(options: JoinedRowOptions, firstRow: Row): (row: Row, r: ResultRecord | undefined) => Record<string, unknown> {
  const prefix = options.resultPrefix ?? '';
  const names = [...RESULT_COLUMNS, ...(options.raw ? [RAW_COLUMN] : [])].map((c) => prefix + c);
  const sourceColumns = firstRow.columns ?? Object.keys(firstRow.record ?? {});
  const clash = names.find((n) => sourceColumns.includes(n));
  if (clash !== undefined) {
    throw new ArkBatchError('E_USAGE', `The source has a column ${clash}, which the join adds too; give a --result-prefix such as result_`);
  }
  const [status, content, reasoning, finish, prompt, completion, code, message, raw] = names as [string, string, string, string, string, string, string, string, string];
  const select = options.select;
  if (select) {
    const known = new Set([...sourceColumns, ...names]);
    const unknown = select.find((c) => !known.has(c));
    if (unknown !== undefined) throw new ArkBatchError('E_USAGE', `--select ${unknown} names no source or result column`);
  }
  return (row, r) => {
    const out = rowToObject(row);
    out[status] = r ? (r.ok ? 'ok' : 'error') : 'missing';
    out[content] = r?.content ?? null;
    out[reasoning] = r?.reasoningContent ?? null;
    out[finish] = r?.finishReason ?? null;
    out[prompt] = r?.promptTokens ?? null;
    out[completion] = r?.completionTokens ?? null;
    out[code] = r?.errorCode ?? null;
    out[message] = r?.errorMessage ?? null;
    if (options.raw) out[raw] = r?.raw ?? null;
    if (!select) return out;
    const picked: Record<string, unknown> = {};
    for (const c of select) picked[c] = out[c] ?? null;
    return picked;
  };
}
