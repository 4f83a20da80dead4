/**
 * Joined rows → Parquet bytes, one row group at a time. Rows are buffered only up to a row group
 * (`rowGroupRows` rows or `rowGroupBytes` of text, whichever comes first); each full group is
 * encoded and its bytes handed out at once, so memory stays at about one row group.
 *
 * Column types: the token counts are INT32; every other column is an optional STRING (nested
 * values as JSON text), because a source column's type is not known before its last row.
 */
import { ByteWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from 'hyparquet-writer';
import { ArkBatchError } from '../errors.ts';

export interface ParquetEncoderOptions {
  /** Rows per row group. @default 10000 */
  readonly rowGroupRows?: number;
  /** Text bytes (UTF-16 estimate) buffered before a row group is written early. @default 67108864 (64 MiB) */
  readonly rowGroupBytes?: number;
  /** Columns stored as INT32. @default ['prompt_tokens', 'completion_tokens'] */
  readonly intColumns?: readonly string[];
}

export interface ParquetEncoder {
  /** Adds a row; returns the bytes ready to write (empty until a row group is complete). */
  add(row: Record<string, unknown>): Uint8Array[];
  /** Writes the last row group and the footer. */
  end(): Uint8Array[];
}

const toText = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v);

export function createParquetEncoder(options: ParquetEncoderOptions = {}): ParquetEncoder {
  const groupRows = options.rowGroupRows ?? 10000;
  const groupBytes = options.rowGroupBytes ?? 64 * 1024 * 1024;
  const intColumns = new Set(options.intColumns ?? ['prompt_tokens', 'completion_tokens']);
  let columns: string[] | null = null;
  let data: (string | number | null)[][] = [];
  let buffered = 0;
  let writer: ParquetWriter | null = null;
  const out: Uint8Array[] = [];
  const bytes = new ByteWriter(1 << 20);
  // The writer calls flush after each row group: hand those bytes out and reuse the buffer.
  const sink = Object.assign(bytes, {
    flush() {
      if (bytes.index > 0) out.push(new Uint8Array(bytes.buffer.slice(0, bytes.index)));
      bytes.index = 0;
    },
    finish() {
      sink.flush();
    },
  });

  function start(first: Record<string, unknown>): void {
    columns = Object.keys(first);
    data = columns.map(() => []);
    const schema = schemaFromColumnData({
      columnData: columns.map((name) => ({ name, data: [], type: intColumns.has(name) ? 'INT32' : 'STRING', nullable: true })),
    });
    writer = new ParquetWriter({ writer: sink, schema });
  }

  function writeGroup(): void {
    if (!writer || !columns || columns.length === 0 || data[0]!.length === 0) return;
    const columnData: ColumnSource[] = columns.map((name, i) => ({ name, data: data[i]! }));
    const n = data[0]!.length;
    void writer.write({ columnData, rowGroupSize: n });
    data = columns.map(() => []);
    buffered = 0;
  }

  function take(): Uint8Array[] {
    return out.splice(0, out.length);
  }

  return {
    add(row) {
      if (!columns) start(row);
      const cols = columns!;
      for (let i = 0; i < cols.length; i++) {
        const name = cols[i]!;
        const v = row[name];
        if (intColumns.has(name)) {
          if (v !== null && v !== undefined && !Number.isInteger(v)) {
            throw new ArkBatchError('E_ROW_INVALID', `column ${name} holds ${JSON.stringify(v)}, not an integer`);
          }
          data[i]!.push((v as number | null | undefined) ?? null);
        } else {
          const t = toText(v);
          buffered += t === null ? 1 : 2 * t.length;
          data[i]!.push(t);
        }
      }
      if (data[0]!.length >= groupRows || buffered >= groupBytes) writeGroup();
      return take();
    },
    end() {
      if (!writer) start({});
      writeGroup();
      void writer!.finish();
      return take();
    },
  };
}
