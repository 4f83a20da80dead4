/**
 * Seeded synthetic dataset shared by the benchmarks: id,int,float,category,text where text is
 * 100–400 characters with commas, quotes, newlines and some CJK, so a CSV parser meets every
 * quoting path. The same seed gives the same rows on every machine.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { fileWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from 'hyparquet-writer';

export interface DatasetRow {
  readonly id: string;
  readonly int: number;
  readonly float: number;
  readonly category: string;
  readonly text: string;
}

export interface GenerateOptions {
  /** Number of data rows. */
  readonly rows: number;
  /** PRNG seed. @default 1 */
  readonly seed?: number;
}

export const DATASET_COLUMNS = ['id', 'int', 'float', 'category', 'text'] as const;

const CATEGORIES = ['books', 'electronics', 'food', 'garden', 'music', 'sports', 'toys', 'travel'];
const WORDS = [
  'the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'batch', 'inference', 'model',
  'stream', 'review', 'product', 'great', 'value', 'shipping', 'price', 'quality', 'would',
  'recommend', 'again', 'never', 'always', 'service', 'customer', 'order', 'delivery',
];
const CJK = ['质量', '很好', '物流', '快速', '推荐', '价格', '便宜', '满意', '火山方舟', '批量推理'];
const PUNCT = [', ', ', ', '. ', '! ', ' "quoted" ', '\n', '; ', ' - '];

/** mulberry32: tiny, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Yields the rows of the dataset; usable for JSONL or Parquet generators too. */
export function* generateRows(opts: GenerateOptions): Generator<DatasetRow> {
  const rand = prng(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  for (let i = 1; i <= opts.rows; i++) {
    const target = 100 + Math.floor(rand() * 301);
    let text = '';
    while (text.length < target) {
      const r = rand();
      text += r < 0.08 ? pick(CJK) : r < 0.2 ? pick(PUNCT) : `${pick(WORDS)} `;
    }
    yield {
      id: `r${String(i).padStart(8, '0')}`,
      int: Math.floor(rand() * 2_000_000) - 1_000_000,
      float: Math.round(rand() * 1e6) / 1e3,
      category: pick(CATEGORIES),
      text: text.slice(0, target),
    };
  }
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV line (LF-terminated) for a row. */
export function rowToCsvLine(row: DatasetRow): string {
  return `${row.id},${row.int},${row.float},${row.category},${csvCell(row.text)}\n`;
}

/** Writes the dataset as CSV with a header; resolves to the number of bytes written. */
export function generateCsv(opts: GenerateOptions & { readonly path: string }): Promise<number> {
  return writeText(opts.path, `${DATASET_COLUMNS.join(',')}\n`, generateRows(opts), rowToCsvLine);
}

/** Writes the dataset as JSONL (one object per row); resolves to the number of bytes written. */
export function generateJsonl(opts: GenerateOptions & { readonly path: string }): Promise<number> {
  return writeText(opts.path, '', generateRows(opts), (row) => JSON.stringify(row) + '\n');
}

/** Writes `head` then one encoded text per row, in 64 KiB writes with backpressure. */
async function writeText(path: string, head: string, rows: Iterable<DatasetRow>, encode: (row: DatasetRow) => string): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  let batch = head;
  for (const row of rows) {
    batch += encode(row);
    if (batch.length > 1 << 16) {
      bytes += Buffer.byteLength(batch);
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  bytes += Buffer.byteLength(batch);
  out.end(batch);
  await once(out, 'finish');
  return bytes;
}

/** Writes the dataset as Parquet (snappy, row groups of `rowGroupSize`, default 100,000). */
export function generateParquet(opts: GenerateOptions & { readonly path: string; readonly rowGroupSize?: number }): void {
  const groupSize = opts.rowGroupSize ?? 100_000;
  let writer: ParquetWriter | undefined;
  let batch: DatasetRow[] = [];
  const flush = () => {
    const columnData: ColumnSource[] = [
      { name: 'id', data: batch.map((r) => r.id), type: 'STRING', nullable: false },
      { name: 'int', data: batch.map((r) => r.int), type: 'INT32', nullable: false },
      { name: 'float', data: batch.map((r) => r.float), type: 'DOUBLE', nullable: false },
      { name: 'category', data: batch.map((r) => r.category), type: 'STRING', nullable: false },
      { name: 'text', data: batch.map((r) => r.text), type: 'STRING', nullable: false },
    ];
    writer ??= new ParquetWriter({ writer: fileWriter(opts.path), schema: schemaFromColumnData({ columnData }) });
    writer.write({ columnData, rowGroupSize: groupSize });
    batch = [];
  };
  for (const row of generateRows(opts)) {
    batch.push(row);
    if (batch.length === groupSize) flush();
  }
  if (batch.length > 0 || !writer) flush();
  writer!.finish();
}
