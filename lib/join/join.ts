/**
 * `joinResults`: every source row, in source order, with its result. The results files are read
 * first into a bounded index (lib/join/result-index.ts); then the source streams past it.
 */
import { createReadStream, renameSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { pipeline, Readable } from 'node:stream';
import { ArkBatchError } from '../errors.ts';
import { bindIdRule, type IdMaker, type IdRule } from '../requests/custom-id.ts';
import { detectFormat, sniffStream } from '../sources/format.ts';
import { openSource, type OpenSourceOptions } from '../sources/open.ts';
import { spoolToTempFile } from '../sources/parquet.ts';
import type { Row } from '../sources/row.ts';
import { joinedToCsv } from '../../transforms/joined-to-csv.ts';
import { isSimpleDelimiter } from './csv-batch.ts';
import { binaryIdOf, csvJoinHeader, joinedCsvChunks } from './csv-join-pass.ts';
import { joinedCsvRanges, type SourceCut } from './csv-join-range.ts';
import { csvRowBatches } from './csv-row-batches.ts';
import { bindJoinedRow, type CsvTailFormat, type JoinedRowOptions } from './joined-row.ts';
import { LineAppender, readTextLines } from './line-files.ts';
import { createResultIndex, resultsWillSpill, type ResultIndex } from './result-index.ts';
import { tailBytesLimit } from './tail-files.ts';
import { parseResultLine, type ResultRecord } from './result-line.ts';
import { createWorkerPool, type WorkerPool } from './worker-pool.ts';

const JOIN_RANGE_BYTES = 16 * 1024 * 1024;

export interface JoinOptions extends Omit<OpenSourceOptions, 'binaryCells'>, JoinedRowOptions {
  /** The source prep read: a path or `-` (stdin). */
  readonly source: string;
  /** Results JSONL files in order (paths or `-`); a later success fills an earlier failure. */
  readonly results: readonly string[];
  /** Errors JSONL files, read after all `results`. */
  readonly errors?: readonly string[];
  /** The custom_id rule prep used. @default row-<n> */
  readonly id?: IdRule;
  /** Memory budget of the result index before it spills to disk. @default 268435456 (256 MiB) */
  readonly memoryBytes?: number;
  /** Longest result line accepted. @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
  /** Spill partitions (normally sized from the results' total bytes). */
  readonly partitions?: number;
  /**
   * Worker threads that parse and match the results when they are files too large for the
   * budget (they then spill from the start, range by range, while this thread reads the source's
   * ids, then helps); 0 does all the work on this thread. @default min(3, os.availableParallelism() - 1)
   */
  readonly workers?: number;
  /** Bytes of results per parse task when the workers spill them. @default 67108864 (64 MiB) */
  readonly spillRangeBytes?: number;
  /**
   * Source bytes per range when a spilled join from CSV into CSV writes its output on the
   * worker pool (and this thread). @default 16777216 (16 MiB)
   */
  readonly joinRangeBytes?: number;
  /**
   * Results bytes from which a join from a CSV file into CSV takes the spilled byte path even when
   * the results would fit the budget: it is faster than holding them (1M rows, 527 MB of results:
   * 8.4 s against 23 s in memory). @default 67108864 (64 MiB)
   */
  readonly csvBytePathFromBytes?: number;
  /** Results matching no source row are written here as JSONL (atomically, at the end). */
  readonly orphansPath?: string;
  /** Called for each result matching no source row. */
  readonly onOrphan?: (r: ResultRecord) => void;
}

export interface JoinSummary {
  readonly source: string;
  /** Source rows = ok + error + missing. */
  readonly rows: number;
  readonly ok: number;
  readonly error: number;
  readonly missing: number;
  /** Rows without a usable custom_id (unreadable row or empty id); they are among `missing`. */
  readonly noId: number;
  readonly resultLines: number;
  /** Result lines for a custom_id already seen (retry rounds or true duplicates). */
  readonly duplicates: number;
  /** Distinct custom_ids in the results that match no source row. */
  readonly orphans: number;
  readonly orphansFile?: string;
  /** Hash partitions spilled to disk; 0 when the join ran in memory. */
  readonly partitions: number;
}

/** A Readable of joined rows (plain objects, or CSV Buffers from `joinResultsToCsv`); `summary()` is final once it has ended. */
export type JoinedRows = Readable & { summary(): JoinSummary };

export function joinResults(options: JoinOptions): JoinedRows {
  return startJoin(options, null);
}

/**
 * The join as CSV bytes (what `joinedToCsv` makes of `joinResults`' rows). A spilled join from a
 * CSV source never builds row objects: lib/join/csv-join-pass.ts writes the source's bytes and
 * the results' CSV text, ready since matching; any other join goes through the row objects.
 */
export function joinResultsToCsv(options: JoinOptions & { readonly outputDelimiter: string }): JoinedRows {
  return startJoin(options, { delimiter: options.outputDelimiter });
}

const CSV_BYTE_PATH_FROM_BYTES = 64 * 1024 * 1024;

function startJoin(options: JoinOptions, csv: { readonly delimiter: string } | null): JoinedRows {
  if (options.results.length === 0) throw new ArkBatchError('E_USAGE', 'Expected at least one results file, got none');
  const inputs = [...options.results, ...(options.errors ?? [])];
  if (inputs.filter((i) => i === '-').length + (options.source === '-' ? 1 : 0) > 1) {
    throw new ArkBatchError('E_USAGE', 'Only one input can be - (stdin)');
  }
  const counts = { rows: 0, ok: 0, error: 0, missing: 0, noId: 0 };
  let index: ResultIndex | null = null;
  let pool: WorkerPool | null = null;
  let sourceName = options.source === '-' ? 'stdin' : options.source;

  async function* run(): AsyncGenerator<unknown> {
    try {
      yield* joinRows();
    } finally {
      // Also when setting up failed: no worker may outlive the join.
      await pool?.close();
      index?.close();
    }
  }

  /**
   * The CSV tails a join into CSV writes, when its source is a CSV file (so it can take the
   * byte path): results spilled on the pool are then spilled as tails straight away.
   */
  function csvTails(out: { readonly delimiter: string } | null): CsvTailFormat | undefined {
    if (!out || options.select || !isSimpleDelimiter(out.delimiter) || options.source === '-') return undefined;
    const f = detectFormat(options.source, options.format);
    return f === 'csv' || f === 'tsv' ? { delimiter: out.delimiter, raw: options.raw ?? false } : undefined;
  }

  async function* joinRows(): AsyncGenerator<unknown> {
    const sizes = await Promise.all(inputs.map((i) => (i === '-' ? undefined : stat(i).then((s) => s.size))));
    const known = sizes.every((s) => s !== undefined);
    index = createResultIndex({
      memoryBytes: options.memoryBytes,
      tmpDir: options.tmpDir,
      maxLineBytes: options.maxLineBytes,
      partitions: options.partitions,
      rangeBytes: options.spillRangeBytes,
      expectedBytes: known ? sizes.reduce<number>((a, b) => a + b!, 0) : undefined,
    });
    const maxLineBytes = options.maxLineBytes ?? 128 * 1024 * 1024;
    const expected = sizes.reduce<number>((a, b) => a + (b ?? 0), 0);
    const tails = csvTails(csv);
    const bytePath = tails !== undefined && expected >= (options.csvBytePathFromBytes ?? CSV_BYTE_PATH_FROM_BYTES);
    if (known && (resultsWillSpill(expected, options.memoryBytes) || bytePath)) {
      pool = createWorkerPool({ workers: options.workers ?? Math.min(3, availableParallelism() - 1) });
      index.spillFiles(
        inputs.map((path, file) => ({ path, fileName: path, file, size: sizes[file]! })),
        { pool, keepRaw: options.raw ?? false, tails },
      );
    } else {
      for (let file = 0; file < inputs.length; file++) {
        const path = inputs[file]!;
        const fileName = path === '-' ? 'stdin' : path;
        const bytes = path === '-' ? (options.stdin ?? process.stdin) : createReadStream(path, { highWaterMark: 1 << 20 });
        for await (const l of readTextLines(bytes, { maxLineBytes, file: fileName })) {
          index.add(parseResultLine(l.text, { file, line: l.line, fileName, keepRaw: options.raw }));
        }
      }
    }

    let sourcePath = options.source;
    let format = options.format;
    let cleanup = async () => {};
    if (index.needsTwoPasses && sourcePath === '-') {
      // Spilled joins read the source twice, which stdin cannot do: keep a copy.
      let input = options.stdin ?? process.stdin;
      if (format === undefined) ({ format, stream: input } = await sniffStream(input));
      const spooled = await spoolToTempFile(input, { dir: options.tmpDir });
      sourcePath = spooled.path;
      cleanup = spooled.cleanup;
    }
    const orphans = options.orphansPath ? new LineAppender(`${options.orphansPath}.tmp-${process.pid}`, 1 << 16) : null;
    const onOrphan = (r: ResultRecord) => {
      orphans?.push(JSON.stringify(orphanLine(r, inputs)));
      options.onOrphan?.(r);
    };
    let idMaker: IdMaker | null = null;
    const idOf = (row: Row): string | null => {
      idMaker ??= bindIdRule(options.id ?? {}, row, sourceName);
      if (row.error) return null;
      const id = idMaker(row);
      return typeof id === 'string' ? id : null;
    };
    const open = () =>
      (async function* () {
        const source = await openSource(sourcePath, { ...options, format, binaryCells: false });
        if (options.source !== '-') sourceName = source.name;
        try {
          yield* source.rows as AsyncIterable<Row>;
        } finally {
          await source.close();
        }
      })();
    // A spilled CSV join reads the source as latin1 cells, a chunk of rows at a time: no UTF-8
    // decoding of cells, half the memory for non-ASCII text, no await per row.
    const sourceFormat = detectFormat(sourcePath, format);
    const csvSource = index.needsTwoPasses && (sourceFormat === 'csv' || sourceFormat === 'tsv');
    if (csvSource && options.source !== '-') sourceName = sourcePath;
    const sourceDelimiter = options.delimiter ?? (sourceFormat === 'tsv' ? '\t' : ',');
    const batches = () => csvRowBatches(sourcePath, { delimiter: sourceDelimiter, header: options.header, file: sourcePath });
    const binaryId = binaryIdOf(options.id ?? {}, sourceName);
    // Where the source could be cut for joining ranges on the pool (the first pass notes them).
    const cuts: SourceCut[] = [];
    let firstRow: Row | null = null;
    const ids = !csvSource
      ? undefined
      : () =>
          (async function* () {
            const rangeBytes = options.joinRangeBytes ?? JOIN_RANGE_BYTES;
            let nextCut = 0;
            for await (const { rows, offsets } of batches()) {
              firstRow ??= rows[0]!;
              // A batch is cut where a range starts, so that the range's first id opens a marked batch.
              let from = 0;
              let mark = false;
              for (let i = 0; i < rows.length; i++) {
                if (offsets[i]! < nextCut) continue;
                if (i > from) yield { ids: rows.slice(from, i).map((row) => binaryId(row)?.text ?? null), mark };
                cuts.push({ offset: offsets[i]!, line: rows[i]!.line!, rowsBefore: rows[i]!.index - 1 });
                nextCut = offsets[i]! + rangeBytes;
                from = i;
                mark = true;
              }
              yield { ids: rows.slice(from).map((row) => binaryId(row)?.text ?? null), mark };
            }
          })();
    let done = false;
    try {
      if (csv && csvSource && !options.select && isSimpleDelimiter(csv.delimiter)) {
        const tails = await index.matchTails(ids!, onOrphan, { delimiter: csv.delimiter, raw: options.raw ?? false });
        const joined = { raw: options.raw ?? false, resultPrefix: options.resultPrefix ?? '', delimiter: csv.delimiter };
        try {
          if (pool && pool.size > 0 && cuts.length > 1) {
            yield* joinedCsvRanges({
              ...joined,
              cuts,
              size: (await stat(sourcePath)).size,
              tails,
              pool,
              counts,
              path: sourcePath,
              file: sourcePath,
              sourceDelimiter,
              sourceHeader: options.header ?? true,
              columns: firstRow!.columns ?? [],
              id: options.id ?? {},
              header: csvJoinHeader(firstRow!, joined),
              maxRecordBytes: tailBytesLimit(options.maxLineBytes),
            });
          } else yield* joinedCsvChunks(batches(), { ...joined, tails, idOf: binaryId, counts });
        } finally {
          tails.close();
        }
      } else if (csv) {
        yield* pipeline(Readable.from(joinedObjects(), { objectMode: true, highWaterMark: 64 }), joinedToCsv({ delimiter: csv.delimiter }), () => {});
      } else yield* joinedObjects();
      done = true;
    } finally {
      await pool?.close();
      index.close();
      await cleanup();
      if (orphans) {
        orphans.close();
        const tmp = `${options.orphansPath}.tmp-${process.pid}`;
        if (done) renameSync(tmp, options.orphansPath!);
        else rmSync(tmp, { force: true });
      }
    }

    async function* joinedObjects(): AsyncGenerator<Record<string, unknown>> {
      let build: ReturnType<typeof bindJoinedRow> | null = null;
      for await (const [row, r] of index!.match(open, idOf, onOrphan, ids)) {
        build ??= bindJoinedRow(options, row);
        counts.rows++;
        if (!r) {
          counts.missing++;
          if (row.error || typeof idMaker!(row) !== 'string') counts.noId++;
        } else if (r.ok) counts.ok++;
        else counts.error++;
        yield build(row, r);
      }
    }
  }

  // CSV chunks are ~128 KiB each: a few are plenty of read-ahead.
  const readable = Readable.from(run(), { objectMode: true, highWaterMark: csv ? 4 : 64 }) as JoinedRows;
  readable.summary = () => {
    const s = index?.stats() ?? { lines: 0, duplicates: 0, orphans: 0, partitions: 0 };
    return {
      source: sourceName,
      ...counts,
      resultLines: s.lines,
      duplicates: s.duplicates,
      orphans: s.orphans,
      orphansFile: options.orphansPath,
      partitions: s.partitions,
    };
  };
  return readable;
}

function orphanLine(r: ResultRecord, inputs: readonly string[]): Record<string, unknown> {
  return {
    custom_id: r.customId,
    file: inputs[r.file] === '-' ? 'stdin' : inputs[r.file],
    line: r.line,
    status: r.ok ? 'ok' : 'error',
    content: r.content,
    error_code: r.errorCode,
    error_message: r.errorMessage,
    ...(r.raw === null ? {} : { raw_response: r.raw }),
  };
}
