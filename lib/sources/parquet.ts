/**
 * Parquet source: Rows with `record`, read one row group at a time. A Parquet footer sits at the
 * end of the file, so the reader needs random access (an AsyncBuffer); stdin is first spooled to
 * a temp file with `spoolToTempFile`.
 *
 * Values are made JSON-friendly, because records feed JSON templates and JSONL output:
 * - INT64 (BigInt) → number when it is a safe integer, else its decimal string;
 * - timestamps and dates (Date) → ISO 8601 string (UTC, millisecond precision);
 * - binary (un-annotated BYTE_ARRAY, Uint8Array) → base64 string, unless `binaryAsString`; other typed arrays → plain arrays;
 * - structs, lists and maps stay nested (objects and arrays), converted recursively;
 * - numbers (including NaN/±Infinity), strings, booleans and null pass through unchanged.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ArkBatchError } from '../errors.ts';
import type { Row } from './row.ts';

export interface RowsFromParquetOptions {
  /** A path, or any random-access AsyncBuffer (hyparquet's interface). */
  readonly file: string | AsyncBuffer;
  /** Source name put on errors. @default the path, or "parquet" for an AsyncBuffer */
  readonly name?: string;
  /** Columns to read, in this order; all columns when absent. */
  readonly columns?: readonly string[];
  /**
   * Largest row group accepted, by its uncompressed size in the footer: one whole row group is
   * decoded in memory, so this bounds memory. A larger group fails with E_BUFFER_LIMIT.
   * @default 1073741824 (1 GiB)
   */
  readonly maxRowGroupBytes?: number;
  /**
   * Decode un-annotated BYTE_ARRAY columns as UTF-8 text instead of base64. Columns annotated as
   * STRING/UTF8 are always text; some older writers leave text un-annotated.
   * @default false
   */
  readonly binaryAsString?: boolean;
  /** Rows buffered ahead of the consumer. @default 256 */
  readonly highWaterMark?: number;
}

export const DEFAULT_MAX_ROW_GROUP_BYTES = 1024 * 1024 * 1024;

/**
 * Rows of a Parquet file, `index` = 1-based row number across row groups, no `line`. The next
 * row group is decoded only when the consumer has drained the previous one down to
 * `highWaterMark`, so memory stays within about one row group.
 */
export function rowsFromParquet(options: RowsFromParquetOptions): Readable {
  const { file, columns } = options;
  const name = options.name ?? (typeof file === 'string' ? file : 'parquet');
  const maxRowGroupBytes = options.maxRowGroupBytes ?? DEFAULT_MAX_ROW_GROUP_BYTES;
  if (!Number.isSafeInteger(maxRowGroupBytes) || maxRowGroupBytes < 1) {
    throw new ArkBatchError(
      'E_USAGE',
      `Expected maxRowGroupBytes to be a positive integer, got ${String(maxRowGroupBytes)} (${typeof maxRowGroupBytes})`,
    );
  }

  async function* rows(): AsyncGenerator<Row> {
    let buffer: AsyncBuffer;
    let metadata: FileMetaData;
    try {
      buffer = typeof file === 'string' ? await asyncBufferFromFile(file) : file;
      metadata = await parquetMetadataAsync(buffer);
    } catch (err) {
      throw toParquetError(err, name);
    }
    let start = 0;
    for (const [g, group] of metadata.row_groups.entries()) {
      const count = Number(group.num_rows);
      const size = Number(group.total_byte_size);
      if (size > maxRowGroupBytes) {
        throw new ArkBatchError(
          'E_BUFFER_LIMIT',
          `row group ${g + 1} is ${size} bytes uncompressed, over maxRowGroupBytes=${maxRowGroupBytes}`,
          { file: name, row: start + 1 },
        );
      }
      let records: Record<string, unknown>[];
      try {
        records = await parquetReadObjects({
          file: buffer,
          metadata,
          rowStart: start,
          rowEnd: start + count,
          columns: columns ? [...columns] : undefined,
          compressors,
          utf8: options.binaryAsString ?? false,
        });
      } catch (err) {
        throw toParquetError(err, name, start + 1);
      }
      for (let i = 0; i < records.length; i++) {
        yield { index: start + i + 1, record: toJsonRecord(records[i]) };
      }
      start += count;
    }
  }

  return Readable.from(rows(), { objectMode: true, highWaterMark: options.highWaterMark ?? 256 });
}

/** A hyparquet row made JSON-friendly (see the module comment for the rules). */
export function toJsonRecord(record: Record<string, unknown>): Record<string, unknown> {
  // fromEntries defines properties, so a field named "__proto__" stays data, not a prototype.
  return Object.fromEntries(Object.keys(record).map((key) => [key, toJsonValue(record[key])]));
}

export function toJsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case 'object':
      break;
    default:
      return value;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, toJsonValue);
  return toJsonRecord(value as Record<string, unknown>);
}

/** `row`: first row of the row group being read, when the failure is inside one. */
function toParquetError(err: unknown, file: string, row?: number): Error {
  if (err instanceof ArkBatchError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return new ArkBatchError('E_USAGE', 'no such file', { file, cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return new ArkBatchError('E_PARQUET', `cannot read Parquet: ${reason}`, { file, row, cause: err });
}

export interface SpooledFile {
  readonly path: string;
  /** Removes the temp file and its directory; safe to call twice. */
  cleanup(): Promise<void>;
}

export interface SpoolOptions {
  /** Parent of the temp directory. @default os.tmpdir() */
  readonly dir?: string;
}

/**
 * Copies a byte stream (stdin) to a fresh temp file, for readers that need random access.
 * On failure the temp file is removed and the error rethrown.
 */
export async function spoolToTempFile(input: Readable, options: SpoolOptions = {}): Promise<SpooledFile> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'ark-batch-spool-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'input');
  try {
    await pipeline(input, createWriteStream(path, { flags: 'wx' }));
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { path, cleanup };
}
