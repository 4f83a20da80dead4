/**
 * custom_id uniqueness over sources of any size, in bounded memory.
 *
 * Each id is reduced to a 96-bit fingerprint (MurmurHash3_x86_128 of its UTF-8 bytes, three of
 * the four words) kept with its row number in an open-addressing table of typed arrays:
 * 16 bytes a slot, no object per id. The home slot is the fingerprint's top bits scaled to the
 * table (`floor(h1 * capacity / 2^32)`), and probing runs forward into a small overflow tail
 * instead of wrapping, so slot order is already nearly sorted by fingerprint: a spilled run is
 * sorted by an insertion sort in about linear time.
 *
 * The table grows by doubling up to about 2/3 of `memoryBytes` (old and new table are both alive
 * while it grows, and together they stay within the budget); when that table is 70% full it is
 * spilled as a sorted run of (fingerprint, row) records to a private directory under `tmpDir`,
 * emptied and reused. 64 MiB holds about 1.9M ids per run. `add` sees duplicates inside the current
 * table at once; duplicates across runs come out of the streaming k-way merge in `finish()`.
 *
 * Ids in increasing order (shortlex on their UTF-8 bytes: shorter first, then bytewise, which is
 * numeric order for plain integers and the order of zero-padded or sorted keys) cannot repeat, so
 * while every id is greater than the one before, its fingerprint is only appended to a log: no
 * probing, and logs that fill are written out unsorted. The first id out of order moves the log
 * into the table and the tracker goes on as above; the logs on disk are sorted into runs by
 * `finish()`. An input whose ids all increase is never merged at all.
 *
 * False positives: two distinct ids share a 96-bit fingerprint with probability 2^-96, so among
 * n = 10M ids the chance of any false duplicate is about n^2 / 2^97 ≈ 6e-16; at 100M ids 6e-14.
 * (A 64-bit fingerprint would give 2.7e-6 at 10M: rare, but not negligible at scale.)
 * Lone surrogates become U+FFFD in UTF-8, so ids that differ only there count as equal, which is
 * how the UTF-8 batch file would carry them anyway.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { encodeUtf8Into, murmur3x86128 } from './fingerprint.ts';

export interface IdTrackerOptions {
  /** Bytes the fingerprint table may use, counting the old and new table while it grows (and, for the moment increasing ids stop, the log moving into the table: up to ~1.13× this). Minimum 4096. @default 67108864 (64 MiB) */
  readonly memoryBytes?: number;
  /** Where spilled runs go; a private subdirectory is created on the first spill and removed by finish/close. @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Most runs merged at once by finish() (open files, 64 KiB buffer each); more are merged in passes. @default 64 */
  readonly mergeFanIn?: number;
  /** Most duplicate pairs finish() returns: those with the smallest `second` row. All are counted. @default 1000 */
  readonly maxReportedDuplicates?: number;
}

/** Two rows with the same custom_id; `first` is the earlier (smaller) row. */
export interface DuplicatePair {
  readonly first: number;
  readonly second: number;
}

export interface IdTrackerSummary {
  /** Ids accepted by `add` (those it did not report as duplicates). */
  readonly ids: number;
  /** Runs spilled to disk; 0 when everything fitted in memory. */
  readonly runs: number;
  /** Duplicates found across runs; `add` already reported the ones inside one run. */
  readonly duplicateCount: number;
  /** Up to `maxReportedDuplicates` of them, ordered by `second`, then `first`. */
  readonly duplicates: readonly DuplicatePair[];
}

export interface IdTracker {
  /**
   * Records `id` seen at `row` (an integer 1..2^32-1). Returns null, or the row of an earlier
   * occurrence still in memory. Duplicates of spilled ids are only found by `finish()`.
   */
  add(id: string, row: number): number | null;
  /** Merges spilled runs, returns the cross-run duplicates and removes temp files. Call once. */
  finish(): Promise<IdTrackerSummary>;
  /** Removes temp files and drops the table; safe to call at any time, any number of times. */
  close(): void;
  /** Ids accepted so far. */
  readonly size: number;
  /** Runs spilled so far. */
  readonly runs: number;
  /** Bytes held by the current table. */
  readonly tableBytes: number;
}

const DEFAULT_MEMORY = 64 * 1024 * 1024;
const MIN_MEMORY = 4096;
const SLOT_WORDS = 4;
const SLOT_BYTES = SLOT_WORDS * 4;
const MAX_LOAD = 0.7;
const INITIAL_CAPACITY = 1 << 14;
const READ_BUFFER_BYTES = 64 * 1024;
const MAX_ROW = 0xffffffff;

/** Overflow slots after the last home slot; probing never wraps, so a long tail makes the table "full". */
function tailFor(capacity: number): number {
  return Math.min(1024, Math.max(8, capacity >> 3));
}

/**
 * Largest capacity the table may reach: growing into it from half its size must fit the budget,
 * because both tables are alive while entries move. So the table ends near 2/3 of the budget.
 */
function finalCapacity(budgetSlots: number): number {
  let cap = Math.floor((budgetSlots * 2) / 3);
  const need = (c: number): number => {
    const half = Math.ceil(c / 2);
    return half + tailFor(half) + c + tailFor(c);
  };
  while (cap > 1 && need(cap) > budgetSlots) cap -= Math.max(1, Math.floor((need(cap) - budgetSlots) / 2));
  return cap;
}

/** Capacities from small (small inputs use little memory) to `final`, each about double the last. */
function growthChain(final: number): number[] {
  const chain = [final];
  while (chain[0] > INITIAL_CAPACITY) chain.unshift(Math.ceil(chain[0] / 2));
  return chain;
}

interface Table {
  readonly capacity: number;
  readonly limit: number;
  readonly words: Uint32Array;
  count: number;
}

function newTable(capacity: number): Table {
  const limit = capacity + tailFor(capacity);
  return { capacity, limit, words: new Uint32Array(limit * SLOT_WORDS), count: 0 };
}

const FOUND = -1;
const FULL = -2;

/**
 * Inserts or finds. Returns the stored row when the fingerprint is present, FULL when probing ran
 * off the tail, else 0 (inserted). Row 0 never occurs (rows are 1-based), so 0 marks empty slots.
 */
function probe(t: Table, h1: number, h2: number, h3: number, row: number): number {
  const w = t.words;
  let i = Math.min(Math.floor((h1 * t.capacity) / 4294967296), t.capacity - 1);
  for (; i < t.limit; i++) {
    const o = i * SLOT_WORDS;
    const r = w[o + 3];
    if (r === 0) {
      w[o] = h1;
      w[o + 1] = h2;
      w[o + 2] = h3;
      w[o + 3] = row;
      t.count++;
      return 0;
    }
    if (w[o] === h1 && w[o + 1] === h2 && w[o + 2] === h3) return r;
  }
  return FULL;
}

/** Whether UTF-8 bytes a[0, al) come after b[0, bl) in shortlex order (always, when bl < 0). */
function increases(a: Uint8Array, al: number, b: Uint8Array, bl: number): boolean {
  if (al !== bl) return al > bl;
  for (let i = 0; i < al; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/** Moves occupied slots to the front, sorts them by fingerprint and returns how many there are. */
function compactAndSort(t: Table): number {
  const w = t.words;
  let n = 0;
  for (let i = 0; i < t.limit; i++) {
    const o = i * SLOT_WORDS;
    if (w[o + 3] === 0) continue;
    const d = n * SLOT_WORDS;
    if (d !== o) {
      w[d] = w[o];
      w[d + 1] = w[o + 1];
      w[d + 2] = w[o + 2];
      w[d + 3] = w[o + 3];
    }
    n++;
  }
  // Insertion sort: entries sit at or just after their home slot, so few move far.
  for (let i = 1; i < n; i++) {
    const o = i * SLOT_WORDS;
    const a1 = w[o];
    const a2 = w[o + 1];
    const a3 = w[o + 2];
    const ar = w[o + 3];
    let j = i - 1;
    while (j >= 0) {
      const p = j * SLOT_WORDS;
      const b1 = w[p];
      if (b1 < a1 || (b1 === a1 && (w[p + 1] < a2 || (w[p + 1] === a2 && w[p + 2] <= a3)))) break;
      w[p + 4] = b1;
      w[p + 5] = w[p + 1];
      w[p + 6] = w[p + 2];
      w[p + 7] = w[p + 3];
      j--;
    }
    const q = (j + 1) * SLOT_WORDS;
    w[q] = a1;
    w[q + 1] = a2;
    w[q + 2] = a3;
    w[q + 3] = ar;
  }
  return n;
}

export function createIdTracker(options: IdTrackerOptions = {}): IdTracker {
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < MIN_MEMORY) {
    throw new ArkBatchError('E_USAGE', `Expected memoryBytes to be an integer >= ${MIN_MEMORY}, got ${String(memoryBytes)} (${typeof memoryBytes})`);
  }
  const fanIn = options.mergeFanIn ?? 64;
  if (!Number.isInteger(fanIn) || fanIn < 2) {
    throw new ArkBatchError('E_USAGE', `Expected mergeFanIn to be an integer >= 2, got ${String(fanIn)} (${typeof fanIn})`);
  }
  const maxReported = options.maxReportedDuplicates ?? 1000;
  if (!Number.isInteger(maxReported) || maxReported < 0) {
    throw new ArkBatchError('E_USAGE', `Expected maxReportedDuplicates to be an integer >= 0, got ${String(maxReported)} (${typeof maxReported})`);
  }
  const tmpRoot = options.tmpDir ?? tmpdir();
  const budgetSlots = Math.floor(memoryBytes / SLOT_BYTES);
  const chain = growthChain(finalCapacity(budgetSlots));
  let step = 0;

  // Made when the first id comes out of order (see leaveIncreasing); dropped by finish and close.
  let table: Table | null = null;
  let spillDir: string | null = null;
  const runFiles: string[] = [];
  let ids = 0;
  let state: 'open' | 'finishing' | 'closed' = 'open';
  let scratch = new Uint8Array(256);
  const fp = new Uint32Array(4);
  // The increasing-ids mode: the previous id's UTF-8 bytes, and the log of fingerprints since
  // the last one written out (null once an id came out of order).
  let previous = new Uint8Array(256);
  let previousLength = -1;
  /** Entries a log holds before it is written out: what the largest table holds before it spills. */
  const logLimit = Math.max(1, Math.floor(chain[chain.length - 1] * MAX_LOAD));
  let log: Uint32Array | null = new Uint32Array(Math.min(INITIAL_CAPACITY, logLimit) * SLOT_WORDS);
  let logCount = 0;
  /** Logs written out unsorted, sorted into runFiles by finish() if an id came out of order. */
  const logFiles: string[] = [];

  function spill(t: Table): void {
    const n = compactAndSort(t);
    runFiles.push(writeRecords(`run-${String(runFiles.length + 1).padStart(6, '0')}.bin`, t.words, n));
  }

  /** Writes the first `n` records of `words` to a new file in the spill directory; returns its path. */
  function writeRecords(name: string, words: Uint32Array, n: number): string {
    let file = tmpRoot;
    try {
      if (spillDir === null) spillDir = mkdtempSync(join(tmpRoot, 'ark-batch-ids-'));
      file = join(spillDir, name);
      const fd = openSync(file, 'w');
      try {
        const bytes = new Uint8Array(words.buffer, words.byteOffset, n * SLOT_BYTES);
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      } finally {
        closeSync(fd);
      }
      return file;
    } catch (err) {
      throw ioError('spill custom_id fingerprints', file, err);
    }
  }

  /** Appends to the log of increasing ids; a full log is written out as it is. */
  function logAppend(l: Uint32Array, h1: number, h2: number, h3: number, row: number): void {
    if (logCount * SLOT_WORDS === l.length) {
      if (logCount < logLimit) {
        const grown = new Uint32Array(Math.min(2 * logCount, logLimit) * SLOT_WORDS);
        grown.set(l);
        log = l = grown;
      } else {
        logFiles.push(writeRecords(`log-${String(logFiles.length + 1).padStart(6, '0')}.bin`, l, logCount));
        logCount = 0;
      }
    }
    const o = logCount++ * SLOT_WORDS;
    l[o] = h1;
    l[o + 1] = h2;
    l[o + 2] = h3;
    l[o + 3] = row;
  }

  /**
   * An id came out of order: the log moves into the table, which checks every id from now on, so
   * a repeat of a logged id is found at once, as if the table had held it all along. For that
   * moment log and table are both alive: up to 1.7× the largest table, about 1.13× the budget.
   */
  function leaveIncreasing(l: Uint32Array): void {
    while (step + 1 < chain.length && chain[step] * MAX_LOAD < logCount) step++;
    table = newTable(chain[step]);
    for (let i = 0; i < logCount; i++) {
      const o = i * SLOT_WORDS;
      insert(l[o], l[o + 1], l[o + 2], l[o + 3]);
    }
    log = null;
  }

  /** Sorts each log written out while ids increased into a run, through an emptied table. */
  function sortLogs(): void {
    const t = newTable(chain[chain.length - 1]);
    const buffer = new Uint32Array(READ_BUFFER_BYTES / 4);
    const bytes = new Uint8Array(buffer.buffer);
    for (const file of logFiles) {
      t.words.fill(0);
      t.count = 0;
      try {
        const fd = openSync(file, 'r');
        try {
          // A read ends on a record boundary: the buffer holds whole records and files are made of them.
          for (let got = readSync(fd, bytes); got > 0; got = readSync(fd, bytes)) {
            if (got % SLOT_BYTES !== 0) throw new ArkBatchError('E_INTEGRITY', 'a custom_id log has a truncated record');
            for (let o = 0; o < got / 4; o += SLOT_WORDS) {
              // A log holds no more than the largest table before it spills, and its fingerprints differ.
              if (probe(t, buffer[o], buffer[o + 1], buffer[o + 2], buffer[o + 3]) === FULL) {
                spill(t);
                t.words.fill(0);
                t.count = 0;
                probe(t, buffer[o], buffer[o + 1], buffer[o + 2], buffer[o + 3]);
              }
            }
          }
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        throw ioError('read custom_id fingerprints', file, err);
      }
      spill(t);
      rmSync(file, { force: true });
    }
    logFiles.length = 0;
  }

  /** Table insertion of a fingerprint; returns the row of an earlier equal one in the table, or 0. */
  function insert(h1: number, h2: number, h3: number, row: number): number {
    let t = table as Table;
    if (t.count >= t.capacity * MAX_LOAD) t = table = makeRoom(t);
    let r = probe(t, h1, h2, h3, row);
    if (r === FULL) {
      t = table = makeRoom(t);
      r = probe(t, h1, h2, h3, row);
      if (r === FULL) throw new ArkBatchError('E_BUFFER_LIMIT', 'id table overflowed right after being emptied', { row });
    }
    return r;
  }

  /** Makes room: doubles the table until it reaches its final size; then spills it and reuses it emptied. */
  function makeRoom(t: Table): Table {
    if (step + 1 < chain.length) {
      step++;
      const grown = newTable(chain[step]);
      const w = t.words;
      let ok = true;
      for (let i = 0; i < t.limit && ok; i++) {
        const o = i * SLOT_WORDS;
        if (w[o + 3] !== 0) ok = probe(grown, w[o], w[o + 1], w[o + 2], w[o + 3]) === 0;
      }
      if (ok) return grown;
      // Entries crowded past the tail of the larger table: stay at this size from now on.
      step = chain.length;
    }
    spill(t);
    t.words.fill(0);
    t.count = 0;
    return t;
  }

  function add(id: string, row: number): number | null {
    if (state !== 'open') {
      throw new ArkBatchError('E_USAGE', 'Expected add() before finish() or close(), got a call after it');
    }
    if (typeof id !== 'string') {
      throw new ArkBatchError('E_USAGE', `Expected a string custom_id, got ${typeof id}`, { row });
    }
    if (!Number.isInteger(row) || row < 1 || row > MAX_ROW) {
      throw new ArkBatchError('E_USAGE', `Expected row to be an integer from 1 to ${MAX_ROW}, got ${String(row)} (${typeof row})`);
    }
    if (scratch.length < id.length * 3) scratch = new Uint8Array(id.length * 3);
    const len = encodeUtf8Into(id, scratch);
    murmur3x86128(scratch, len, 0, fp);
    const l = log;
    if (l !== null) {
      if (increases(scratch, len, previous, previousLength)) {
        logAppend(l, fp[0], fp[1], fp[2], row);
        // The buffers trade places: this id is the next one's previous.
        const bytes = previous;
        previous = scratch;
        previousLength = len;
        scratch = bytes;
        ids++;
        return null;
      }
      leaveIncreasing(l);
    }
    const r = insert(fp[0], fp[1], fp[2], row);
    if (r !== 0) return r;
    ids++;
    return null;
  }

  function close(): void {
    state = 'closed';
    table = null;
    log = null;
    if (spillDir !== null) {
      rmSync(spillDir, { recursive: true, force: true });
      spillDir = null;
    }
  }

  async function finish(): Promise<IdTrackerSummary> {
    if (state !== 'open') {
      throw new ArkBatchError('E_USAGE', 'Expected finish() once, before close(), got a repeated or late call');
    }
    state = 'finishing';
    try {
      const found = new DuplicateCollector(maxReported);
      // Every id was greater than the one before: none can repeat.
      if (log !== null) return { ids, runs: logFiles.length, duplicateCount: 0, duplicates: [] };
      if (runFiles.length > 0 || logFiles.length > 0) {
        spill(table as Table);
        table = null;
        sortLogs();
        let runs = runFiles.slice();
        let pass = 0;
        while (runs.length > 1) {
          pass++;
          const next: string[] = [];
          for (let g = 0; g < runs.length; g += fanIn) {
            const group = runs.slice(g, g + fanIn);
            if (runs.length <= fanIn) {
              await mergeRuns(group, null, found);
            } else {
              const out = join(spillDir as string, `merge-${pass}-${next.length + 1}.bin`);
              await mergeRuns(group, out, found);
              next.push(out);
            }
          }
          runs = next;
        }
      }
      return { ids: ids, runs: runFiles.length, duplicateCount: found.count, duplicates: found.result() };
    } catch (err) {
      throw ioError('merge spilled custom_id runs', spillDir ?? tmpRoot, err);
    } finally {
      close();
    }
  }

  return {
    add,
    finish,
    close,
    get size() {
      return ids;
    },
    get runs() {
      return runFiles.length + logFiles.length;
    },
    get tableBytes() {
      return (table === null ? 0 : table.words.byteLength) + (log === null ? 0 : log.byteLength);
    },
  };
}

function ioError(what: string, file: string, cause: unknown): ArkBatchError {
  if (cause instanceof ArkBatchError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ArkBatchError('E_IO', `cannot ${what}: ${reason}`, { file, cause });
}

/** Keeps the `max` pairs with the smallest second row, in O(max) memory, and counts all. */
class DuplicateCollector {
  count = 0;
  #pairs: DuplicatePair[] = [];
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  add(first: number, second: number): void {
    this.count++;
    if (this.#max === 0) return;
    this.#pairs.push({ first, second });
    if (this.#pairs.length >= 2 * this.#max) this.#trim();
  }
  #trim(): void {
    this.#pairs.sort((a, b) => a.second - b.second || a.first - b.first);
    this.#pairs.length = Math.min(this.#pairs.length, this.#max);
  }
  result(): DuplicatePair[] {
    this.#trim();
    return this.#pairs;
  }
}

/** A sorted run read sequentially through one fixed buffer. */
class RunReader {
  readonly words = new Uint32Array(READ_BUFFER_BYTES / 4);
  pos = 0;
  end = 0;
  readonly #fh: FileHandle;
  constructor(fh: FileHandle) {
    this.#fh = fh;
  }
  /** Refills the buffer; returns false at the end of the run. */
  async fill(): Promise<boolean> {
    const bytes = new Uint8Array(this.words.buffer);
    let got = 0;
    // A read may return fewer bytes than asked; only whole records are consumed.
    while (got < bytes.length) {
      const { bytesRead } = await this.#fh.read(bytes, got, bytes.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got % SLOT_BYTES !== 0) throw new ArkBatchError('E_INTEGRITY', 'spilled id run has a truncated record');
    this.pos = 0;
    this.end = got / 4;
    return got > 0;
  }
  close(): Promise<void> {
    return this.#fh.close();
  }
}

function less(a: RunReader, b: RunReader): boolean {
  const x = a.words;
  const y = b.words;
  const i = a.pos;
  const j = b.pos;
  if (x[i] !== y[j]) return x[i] < y[j];
  if (x[i + 1] !== y[j + 1]) return x[i + 1] < y[j + 1];
  if (x[i + 2] !== y[j + 2]) return x[i + 2] < y[j + 2];
  return x[i + 3] < y[j + 3];
}

function siftDown(heap: RunReader[], at: number): void {
  const n = heap.length;
  for (;;) {
    const l = 2 * at + 1;
    if (l >= n) return;
    const r = l + 1;
    const c = r < n && less(heap[r], heap[l]) ? r : l;
    if (!less(heap[c], heap[at])) return;
    [heap[c], heap[at]] = [heap[at], heap[c]];
    at = c;
  }
}

/**
 * K-way merge of sorted runs. Equal fingerprints are the same id: the smallest row is kept and
 * paired with each other row. With `outFile`, the merged run (one record per fingerprint, with
 * its smallest row) is written there for the next pass.
 */
async function mergeRuns(files: readonly string[], outFile: string | null, found: DuplicateCollector): Promise<void> {
  const readers: RunReader[] = [];
  let out: FileHandle | null = null;
  try {
    for (const f of files) readers.push(new RunReader(await open(f, 'r')));
    if (outFile !== null) out = await open(outFile, 'w');
    const outWords = new Uint32Array(READ_BUFFER_BYTES / 4);
    let outPos = 0;
    const flush = async (): Promise<void> => {
      if (out === null || outPos === 0) return;
      const bytes = new Uint8Array(outWords.buffer, 0, outPos * 4);
      let off = 0;
      while (off < bytes.length) off += (await out.write(bytes, off, bytes.length - off)).bytesWritten;
      outPos = 0;
    };
    const heap: RunReader[] = [];
    for (const r of readers) if (await r.fill()) heap.push(r);
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
    const rows: number[] = [];
    while (heap.length > 0) {
      const top = heap[0];
      const k1 = top.words[top.pos];
      const k2 = top.words[top.pos + 1];
      const k3 = top.words[top.pos + 2];
      rows.length = 0;
      // The heap orders by row within equal fingerprints, so the first row popped is the smallest.
      while (heap.length > 0) {
        const h = heap[0];
        const w = h.words;
        const p = h.pos;
        if (w[p] !== k1 || w[p + 1] !== k2 || w[p + 2] !== k3) break;
        rows.push(w[p + 3]);
        h.pos += SLOT_WORDS;
        if (h.pos >= h.end && !(await h.fill())) {
          const last = heap.pop() as RunReader;
          if (heap.length > 0) heap[0] = last;
        }
        if (heap.length > 0) siftDown(heap, 0);
      }
      for (let i = 1; i < rows.length; i++) found.add(rows[0], rows[i]);
      if (out !== null) {
        outWords[outPos] = k1;
        outWords[outPos + 1] = k2;
        outWords[outPos + 2] = k3;
        outWords[outPos + 3] = rows[0];
        outPos += SLOT_WORDS;
        if (outPos === outWords.length) await flush();
      }
    }
    await flush();
  } finally {
    await Promise.allSettled([...readers.map((r) => r.close()), ...(out === null ? [] : [out.close()])]);
  }
}
