import { ArkBatchError } from '../errors.ts';
import { createReadAhead } from '../streams/read-ahead.ts';
import { stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { rowsFromCsv } from '../../transforms/rows-from-csv.ts';
import { rowsFromJson } from '../../transforms/rows-from-json.ts';
import { rowsFromJsonl } from '../../transforms/rows-from-jsonl.ts';
import { detectFormat, sniffStream, type SourceFormat } from './format.ts';
import type { RowsFromParquetOptions } from './parquet.ts';

export interface OpenSourceOptions {
  /** Format; from the extension (or sniffed on stdin) when absent. */
  readonly format?: SourceFormat;
  /** CSV delimiter. @default ',' (tab for TSV) */
  readonly delimiter?: string;
  /** CSV header row. @default true */
  readonly header?: boolean;
  /** CSV cells as latin1 binary strings (`Row.binary`), the fast path for prep. @default false */
  readonly binaryCells?: boolean;
  /** The bytes of stdin, when `input` is `-`. */
  readonly stdin?: Readable;
  /** Directory for the temp copy of a Parquet file read from stdin. @default os.tmpdir() */
  readonly tmpDir?: string;
}

export interface OpenedSource {
  /** Object-mode stream of `Row`s. */
  readonly rows: Readable;
  readonly format: SourceFormat;
  /** Name used in messages: the path, or `stdin`. */
  readonly name: string;
  /** Size of the input file, when known (not for stdin). */
  readonly sizeBytes?: number;
  /** Bytes consumed so far (for progress). */
  bytesRead(): number;
  /** Releases temp files; call when done, also after an error. */
  close(): Promise<void>;
}

/** An input opened but not yet read: its format and its bytes (or, for Parquet, a file path). */
export interface OpenedInput {
  readonly format: SourceFormat;
  /** Name used in messages: the path, or `stdin`. */
  readonly name: string;
  /** Size of the input file, when known (not for stdin). */
  readonly sizeBytes?: number;
  /** The raw bytes, for every format but Parquet. */
  readonly bytes?: Readable;
  /** Gives a chunk of `bytes` back for reuse once consumed (a file's; see ReadAhead.recycle). */
  readonly recycle?: (chunk: Uint8Array) => void;
  /** The file to read Parquet from (a temp copy for stdin). */
  readonly parquetPath?: string;
  /** The Parquet reader, loaded only for Parquet input (its decompressors take a while to set up). */
  readonly parquetRows?: (options: RowsFromParquetOptions) => Readable;
  /** Releases temp files; call when done, also after an error. */
  close(): Promise<void>;
}

/** The input file's size; a missing or unreadable path is E_IO naming it. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw new ArkBatchError('E_IO', `cannot read the input: ${(err as Error).message}`, { file: path, cause: err });
  }
}

/**
 * Opens a path or `-` and settles its format (extension, or sniffed on stdin). Parquet needs
 * random access, so Parquet on stdin is spooled to a temp file first.
 */
export async function openInput(input: string, options: OpenSourceOptions = {}): Promise<OpenedInput> {
  const isStdin = input === '-';
  const name = isStdin ? 'stdin' : input;
  if (!isStdin) {
    // Format and size first: a stream opened for a path that turns out bad would fail unheard.
    const format = detectFormat(input, options.format);
    const sizeBytes = await sizeOf(input);
    if (format === 'parquet') {
      const { rowsFromParquet } = await import('./parquet.ts');
      return { format, name, sizeBytes, parquetPath: input, parquetRows: rowsFromParquet, close: async () => {} };
    }
    // 128 KiB reads, given back for reuse once parsed. Larger ones (512 KiB, 1 MiB) took more CPU
    // here and 100–160 MB more peak RSS, recycled or not.
    const bytes = createReadAhead(input, { chunkBytes: 1 << 17 });
    return { format, name, sizeBytes, bytes, recycle: (chunk) => bytes.recycle(chunk), close: async () => {} };
  }
  let bytes: Readable = options.stdin ?? process.stdin;
  let format = options.format;
  if (format === undefined) {
    const sniffed = await sniffStream(bytes);
    format = sniffed.format;
    bytes = sniffed.stream;
  }
  if (format !== 'parquet') return { format, name, bytes, close: async () => {} };
  const { rowsFromParquet, spoolToTempFile } = await import('./parquet.ts');
  const spooled = await spoolToTempFile(bytes, { dir: options.tmpDir });
  return { format, name, parquetPath: spooled.path, parquetRows: rowsFromParquet, close: spooled.cleanup };
}

/** Any source `prep` and `join` accept (a path or `-`), as one stream of Rows. */
export async function openSource(input: string, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  return rowsOfInput(await openInput(input, options), options);
}

/** The Rows of an opened input. */
export function rowsOfInput(opened: OpenedInput, options: OpenSourceOptions = {}): OpenedSource {
  const { format, name, sizeBytes } = opened;
  if (opened.bytes === undefined) {
    return { rows: opened.parquetRows!({ file: opened.parquetPath!, name }), format, name, sizeBytes, bytesRead: () => 0, close: opened.close };
  }
  const counted = countBytes();
  const reader =
    format === 'jsonl'
      ? rowsFromJsonl({ file: name })
      : format === 'json'
        ? rowsFromJson({ file: name })
        : rowsFromCsv({
            file: name,
            delimiter: options.delimiter ?? (format === 'tsv' ? '\t' : ','),
            header: options.header ?? true,
            latin1: options.binaryCells ?? false,
          });
  // Errors of any stage surface on the rows stream, where the caller's pipeline sees them.
  const rows = pipeline(opened.bytes, counted.stream, reader, () => {}) as unknown as Readable;
  return { rows, format, name, sizeBytes, bytesRead: counted.read, close: opened.close };
}

/** A pass-through that counts the bytes it has seen (for progress). */
export function countBytes(): { readonly stream: Transform; read(): number } {
  let read = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      read += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, read: () => read };
}
