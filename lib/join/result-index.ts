/**
 * Results keyed by custom_id, in bounded memory, matched back to items in their own order.
 *
 * In memory while the results fit `memoryBytes`: a Map custom_id → record, one pass over the
 * items. Past the budget the index spills: every record goes to one of P hash partitions by
 * custom_id. Matching then takes two passes over the items (so a stdin source is spooled first):
 *   1. the items' ids go to the same P partitions, each partition file in item order;
 *   2. partition by partition, the results are loaded into a Map and the ids file is read, and
 *      the match of each id (or a "none" mark) is written out, still in item order;
 *   3. the items are read again; the id of each names its partition, whose next line is its
 *      match. No sort and no merge: each partition file is consumed in the order it was made.
 * Only one partition's results are in memory at a time; the budget check happens there.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { LineAppender, LineFileReader } from './line-files.ts';
import { decodeRecord, encodeRecord, peekRecord, replacesKept, type ResultRecord } from './result-line.ts';

export interface ResultIndexOptions {
  /** Bytes the results may take in memory (estimated, strings counted as UTF-16). @default 268435456 (256 MiB) */
  readonly memoryBytes?: number;
  /** Where spill partitions go (a private subdirectory, removed at the end). @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Total bytes of the results files when known; sizes the partitions. */
  readonly expectedBytes?: number;
  /** Number of hash partitions when spilling; by default from `expectedBytes` (16–256, 256 when unknown). */
  readonly partitions?: number;
  /** Longest spilled line accepted back. @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
}

export interface ResultIndexStats {
  /** Result lines added. */
  readonly lines: number;
  /** Lines for a custom_id that already had one (retry rounds, duplicates). */
  readonly duplicates: number;
  /** Distinct custom_ids that matched no item. */
  readonly orphans: number;
  /** Spill partitions used; 0 when everything stayed in memory. */
  readonly partitions: number;
}

export interface ResultIndex {
  add(record: ResultRecord): void;
  /**
   * Pairs each item with its result, in item order. `open` is called once when the results fit
   * in memory and twice (two identical passes) once spilled; `needsTwoPasses` says which.
   * Results that match no item go to `onOrphan`.
   */
  match<T>(open: () => AsyncIterable<T>, idOf: (item: T) => string | null, onOrphan: (r: ResultRecord) => void): AsyncGenerator<[T, ResultRecord | undefined]>;
  readonly needsTwoPasses: boolean;
  stats(): ResultIndexStats;
  /** Removes temp files; safe at any time. */
  close(): void;
}

const APPEND_BUFFER = 64 * 1024;
/**
 * One partition may always use this much, however small the budget: a tiny budget then still
 * means "spill at once" (what tests force) rather than "fail".
 */
const MIN_PARTITION_BYTES = 16 * 1024 * 1024;
const READ_BUFFER = 64 * 1024;

/**
 * A kept result: its encoded line (one flat string is far lighter for the GC than a record
 * object, and its size is known exactly), whether it is a success, and whether an item took it.
 */
interface Entry {
  text: string;
  ok: boolean;
  hit: boolean;
}

/** Heap bytes of an entry: strings as UTF-16 (CJK text is two-byte in V8), the entry and its Map slot. */
const entryBytes = (id: string, text: string) => 2 * (id.length + text.length) + 150;

/**
 * Live data may use this share of the budget: V8 lets the heap grow to two or three times its
 * live size before a full collection, and the budget is meant to bound the process.
 */
const LIVE_SHARE = 8;

function hashOf(id: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

export function createResultIndex(options: ResultIndexOptions = {}): ResultIndex {
  const memoryBytes = options.memoryBytes ?? 256 * 1024 * 1024;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1) {
    throw new ArkBatchError('E_USAGE', `Expected memoryBytes to be a positive integer, got ${String(memoryBytes)} (${typeof memoryBytes})`);
  }
  const maxLineBytes = options.maxLineBytes ?? 128 * 1024 * 1024;
  let map: Map<string, Entry> | null = new Map();
  let used = 0;
  let lines = 0;
  let duplicates = 0;
  let orphans = 0;
  let dir: string | null = null;
  let parts: LineAppender[] | null = null;
  let partitionCount = 0;

  function choosePartitions(): number {
    if (options.partitions !== undefined) return Math.max(1, Math.floor(options.partitions));
    if (options.expectedBytes === undefined) return 256;
    // A partition holds about 1/P of the results (as UTF-16 in memory); aim for the live share
    // of the budget each, so an unlucky hash spread still fits the half a partition may use.
    const p = Math.ceil((options.expectedBytes * 2 * LIVE_SHARE) / memoryBytes);
    return Math.min(256, Math.max(16, p));
  }

  function spill(): void {
    partitionCount = choosePartitions();
    const root = options.tmpDir ?? tmpdir();
    try {
      dir = mkdtempSync(join(root, 'ark-batch-join-'));
    } catch (err) {
      throw new ArkBatchError('E_IO', `cannot create the join spill directory: ${(err as Error).message}`, { file: root, cause: err });
    }
    parts = [];
    for (let p = 0; p < partitionCount; p++) parts.push(new LineAppender(join(dir, `results-${p}`), APPEND_BUFFER));
    for (const [id, e] of map!) parts[hashOf(id, partitionCount)]!.push(e.text);
    map = null;
  }

  function add(record: ResultRecord): void {
    lines++;
    if (parts) {
      parts[hashOf(record.customId, partitionCount)]!.push(encodeRecord(record));
      return;
    }
    const m = map!;
    const kept = m.get(record.customId);
    if (kept) {
      duplicates++;
      if (replacesKept(kept.ok)) {
        const text = encodeRecord(record);
        used += 2 * (text.length - kept.text.length);
        kept.text = text;
        kept.ok = record.ok;
      }
    } else {
      const text = encodeRecord(record);
      m.set(record.customId, { text, ok: record.ok, hit: false });
      used += entryBytes(record.customId, text);
    }
    if (used > memoryBytes / LIVE_SHARE) spill();
  }

  function close(): void {
    const open = parts ?? [];
    parts = null;
    try {
      for (const p of open) p.close();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = null;
    }
  }

  async function* inMemory<T>(open: () => AsyncIterable<T>, idOf: (item: T) => string | null, onOrphan: (r: ResultRecord) => void): AsyncGenerator<[T, ResultRecord | undefined]> {
    const m = map!;
    for await (const item of open()) {
      const id = idOf(item);
      const e = id === null ? undefined : m.get(id);
      if (e) e.hit = true;
      yield [item, e ? decodeRecord(e.text) : undefined];
    }
    for (const e of m.values()) {
      if (!e.hit) {
        orphans++;
        onOrphan(decodeRecord(e.text));
      }
    }
  }

  async function* spilled<T>(open: () => AsyncIterable<T>, idOf: (item: T) => string | null, onOrphan: (r: ResultRecord) => void): AsyncGenerator<[T, ResultRecord | undefined]> {
    const d = dir!;
    const P = partitionCount;
    for (const p of parts!) p.close();
    parts = null;
    const idFiles = Array.from({ length: P }, (_, p) => new LineAppender(join(d, `ids-${p}`), APPEND_BUFFER));
    try {
      for await (const item of open()) {
        const id = idOf(item);
        if (id !== null) idFiles[hashOf(id, P)]!.push(JSON.stringify(id));
      }
    } finally {
      for (const f of idFiles) f.close();
    }
    for (let p = 0; p < P; p++) matchPartition(d, p, onOrphan);
    const readers: (LineFileReader | null)[] = new Array(P).fill(null);
    try {
      for await (const item of open()) {
        const id = idOf(item);
        if (id === null) {
          yield [item, undefined];
          continue;
        }
        const p = hashOf(id, P);
        const reader = (readers[p] ??= new LineFileReader(join(d, `matched-${p}`), READ_BUFFER, maxLineBytes));
        const text = reader.next();
        if (text === null) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes (more rows the second time)');
        if (text === '0') {
          yield [item, undefined];
          continue;
        }
        const r = decodeRecord(text);
        if (r.customId !== id) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes', { customId: id });
        yield [item, r];
      }
    } finally {
      for (const r of readers) r?.close();
    }
  }

  function matchPartition(d: string, p: number, onOrphan: (r: ResultRecord) => void): void {
    // Each record is decoded once, for its id and outcome; its encoded line is what moves on.
    const m = new Map<string, Entry>();
    let bytes = 0;
    const limit = Math.max(memoryBytes, MIN_PARTITION_BYTES);
    const results = new LineFileReader(join(d, `results-${p}`), READ_BUFFER, maxLineBytes);
    try {
      for (let text = results.next(); text !== null; text = results.next()) {
        const r = peekRecord(text);
        const kept = m.get(r.customId);
        if (kept) {
          duplicates++;
          if (replacesKept(kept.ok)) {
            bytes += 2 * (text.length - kept.text.length);
            kept.text = text;
            kept.ok = r.ok;
          }
        } else {
          m.set(r.customId, { text, ok: r.ok, hit: false });
          bytes += entryBytes(r.customId, text);
        }
        if (bytes > limit / 2) {
          // Twice the planned share (partitions are sized for a quarter): a very skewed hash
          // spread or a budget far too small for the results.
          throw new ArkBatchError('E_BUFFER_LIMIT', `one join partition needs more than half of the ${limit}-byte memory budget; raise --memory`);
        }
      }
    } finally {
      results.close();
    }
    unlinkSync(join(d, `results-${p}`));
    const ids = new LineFileReader(join(d, `ids-${p}`), READ_BUFFER, maxLineBytes);
    const out = new LineAppender(join(d, `matched-${p}`), APPEND_BUFFER);
    try {
      for (let text = ids.next(); text !== null; text = ids.next()) {
        const e = m.get(JSON.parse(text) as string);
        if (e) {
          e.hit = true;
          out.push(e.text);
        } else out.push('0');
      }
    } finally {
      ids.close();
      out.close();
    }
    unlinkSync(join(d, `ids-${p}`));
    for (const e of m.values()) {
      if (!e.hit) {
        orphans++;
        onOrphan(decodeRecord(e.text));
      }
    }
  }

  return {
    add,
    async *match(open, idOf, onOrphan) {
      try {
        if (parts) yield* spilled(open, idOf, onOrphan);
        else yield* inMemory(open, idOf, onOrphan);
      } finally {
        close();
      }
    },
    get needsTwoPasses() {
      return parts !== null;
    },
    stats: () => ({ lines, duplicates, orphans, partitions: partitionCount }),
    close,
  };
}
