import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { rowsFromCsv } from '../../transforms/rows-from-csv.ts';
import { rowsFromJson } from '../../transforms/rows-from-json.ts';
import { rowsFromJsonl } from '../../transforms/rows-from-jsonl.ts';
import { detectFormat, sniffStream, type SourceFormat } from './format.ts';
import { rowsFromParquet, spoolToTempFile } from './parquet.ts';

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

/**
 * Any source `prep` and `join` accept (a path or `-`), as one stream of Rows. Parquet needs
 * random access, so Parquet on stdin is spooled to a temp file first.
 */
export async function openSource(input: string, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  const isStdin = input === '-';
  const name = isStdin ? 'stdin' : input;
  let bytes: Readable = isStdin ? (options.stdin ?? process.stdin) : createReadStream(input, { highWaterMark: 1 << 20 });
  let format = options.format;
  if (!isStdin) format = detectFormat(input, format);
  else if (format === undefined) {
    const sniffed = await sniffStream(bytes);
    format = sniffed.format;
    bytes = sniffed.stream;
  }
  const sizeBytes = isStdin ? undefined : (await stat(input)).size;

  if (format === 'parquet') {
    let path = input;
    let cleanup = async () => {};
    if (isStdin) {
      const spooled = await spoolToTempFile(bytes, { dir: options.tmpDir });
      path = spooled.path;
      cleanup = spooled.cleanup;
    } else {
      bytes.destroy();
    }
    return { rows: rowsFromParquet({ file: path, name }), format, name, sizeBytes, bytesRead: () => 0, close: cleanup };
  }

  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      read += chunk.length;
      callback(null, chunk);
    },
  });
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
  const rows = pipeline(bytes, counter, reader, () => {}) as unknown as Readable;
  return { rows, format, name, sizeBytes, bytesRead: () => read, close: async () => {} };
}
