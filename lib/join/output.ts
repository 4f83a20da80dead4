/**
 * The whole `join` as one call: joined rows → CSV / JSONL / Parquet → a file (atomic) or a Writable.
 */
import { once } from 'node:events';
import { extname } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArkBatchError } from '../errors.ts';
import { bytesToFile } from '../../transforms/bytes-to-file.ts';
import { joinedToJsonl } from '../../transforms/joined-to-jsonl.ts';
import { joinedToParquet } from '../../transforms/joined-to-parquet.ts';
import { joinResults, joinResultsToCsv, type JoinOptions, type JoinSummary } from './join.ts';

export type JoinOutputFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet';

export interface JoinToOutputOptions extends JoinOptions {
  /** A path (written atomically) or a Writable for the bytes (stdout). */
  readonly output: string | Writable;
  /** Output format; from the output's extension, else jsonl. */
  readonly outputFormat?: JoinOutputFormat;
  /** Rows per Parquet row group. @default 10000 */
  readonly rowGroupRows?: number;
  readonly signal?: AbortSignal;
}

export interface JoinOutputSummary extends JoinSummary {
  readonly output: string;
  readonly outputFormat: JoinOutputFormat;
}

const EXTENSIONS: Record<string, JoinOutputFormat> = { '.csv': 'csv', '.tsv': 'tsv', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.parquet': 'parquet' };

/** The format for an output: the explicit one, else the path's extension, else jsonl. */
export function outputFormatFor(output: string | undefined, explicit?: JoinOutputFormat): JoinOutputFormat {
  if (explicit) return explicit;
  if (output === undefined || output === '-') return 'jsonl';
  const f = EXTENSIONS[extname(output).toLowerCase()];
  if (!f) throw new ArkBatchError('E_USAGE', `Expected an output ending in .csv, .tsv, .jsonl or .parquet (or --format), got ${output}`);
  return f;
}

export async function joinToOutput(options: JoinToOutputOptions): Promise<JoinOutputSummary> {
  const format = outputFormatFor(typeof options.output === 'string' ? options.output : undefined, options.outputFormat);
  const csv = format === 'csv' || format === 'tsv';
  const rows = csv ? joinResultsToCsv({ ...options, outputDelimiter: format === 'tsv' ? '\t' : ',' }) : joinResults(options);
  const encoder = format === 'parquet' ? joinedToParquet({ rowGroupRows: options.rowGroupRows }) : format === 'jsonl' ? joinedToJsonl() : null;
  const sink = typeof options.output === 'string' ? bytesToFile({ path: options.output }) : options.output;
  try {
    await pipeline(encoder ? [rows, encoder, sink] : [rows, sink], { signal: options.signal });
  } catch (err) {
    // pipeline settles before a destroyed file sink has removed its temp file; wait for that
    // (only ours: process.stdout never emits 'close').
    if (typeof options.output === 'string' && !sink.closed) await once(sink, 'close');
    throw err;
  }
  return { ...rows.summary(), output: typeof options.output === 'string' ? options.output : '-', outputFormat: format };
}
