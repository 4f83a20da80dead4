/**
 * A source row with its result, as one flat object: the row's own columns first, then the
 * result columns. Pure; shared by every output format, so CSV, JSONL and Parquet agree.
 */
import { ArkBatchError } from '../errors.ts';
import { rowToObject, type Row } from '../sources/row.ts';
import { csvCellEncoder } from './csv-batch.ts';
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
  const select = options.select;
  if (select) {
    const known = new Set([...sourceColumns, ...names]);
    const unknown = select.find((c) => !known.has(c));
    if (unknown !== undefined) throw new ArkBatchError('E_USAGE', `--select ${unknown} names no source or result column`);
  }
  return (row, r) => {
    const out = rowToObject(row);
    const values = resultValues(r, options.raw ?? false);
    for (let i = 0; i < values.length; i++) out[names[i]!] = values[i];
    if (!select) return out;
    const picked: Record<string, unknown> = {};
    for (const c of select) picked[c] = out[c] ?? null;
    return picked;
  };
}

/** The result columns' values of a row, in `RESULT_COLUMNS` order (then `raw_response` with `raw`). */
export function resultValues(r: ResultRecord | undefined, raw: boolean): unknown[] {
  const values: unknown[] = [
    r ? (r.ok ? 'ok' : 'error') : 'missing',
    r?.content ?? null,
    r?.reasoningContent ?? null,
    r?.finishReason ?? null,
    r?.promptTokens ?? null,
    r?.completionTokens ?? null,
    r?.errorCode ?? null,
    r?.errorMessage ?? null,
  ];
  if (raw) values.push(r?.raw ?? null);
  return values;
}

/** How a spilled CSV join writes its result columns (lib/join/tail-files.ts). */
export interface CsvTailFormat {
  /** A delimiter `isSimpleDelimiter` accepts. */
  readonly delimiter: string;
  readonly raw: boolean;
}

/** The CSV text of a row's result columns, as `encodeCsvBatch` writes them (without the line end). */
export function bindCsvTail(format: CsvTailFormat): (r: ResultRecord | undefined) => string {
  const cell = csvCellEncoder(format.delimiter);
  return (r) => {
    const values = resultValues(r, format.raw);
    let out = cell(values[0]);
    for (let i = 1; i < values.length; i++) out += format.delimiter + cell(values[i]);
    return out;
  };
}
