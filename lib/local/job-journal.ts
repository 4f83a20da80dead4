/**
 * The job runner's on-disk pieces: atomic state writes and the per-job journal, an append-only
 * JSONL file of finished lines in completion order. Appends are serialized and fsync'd in
 * batches; readers stream it and stop at a torn last record, which `repairJournal` cuts off.
 */
import { randomInt } from 'node:crypto';
import { open, rename, stat, truncate } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { numberedLines } from './jsonl-lines.ts';

export interface JournalRecord {
  /** Input line number. */
  n: number;
  ok: boolean;
  /** prompt, completion, total tokens (successes only). */
  u?: [number, number, number];
  out: Record<string, unknown>;
}

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomInt(1e9)}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** A journal opened for appending; writes are serialized so records never interleave. */
export class Journal {
  #fh: FileHandle;
  #chain: Promise<void> = Promise.resolve();
  #unsynced = 0;
  readonly #syncEvery: number;

  private constructor(fh: FileHandle, syncEvery: number) {
    this.#fh = fh;
    this.#syncEvery = syncEvery;
  }

  static async open(path: string, syncEvery: number): Promise<Journal> {
    return new Journal(await open(path, 'a'), syncEvery);
  }

  append(record: JournalRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    this.#chain = this.#chain.then(async () => {
      await this.#fh.write(line);
      if (++this.#unsynced >= this.#syncEvery) {
        this.#unsynced = 0;
        await this.#fh.sync();
      }
    });
    return this.#chain;
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#fh.sync();
    await this.#fh.close();
  }
}

/** A journal record holds one reply; anything longer is corruption, not data. */
const JOURNAL_MAX_RECORD_BYTES = 256 * 1024 * 1024;

/** Cuts off a torn last record left by a crash mid-append, so later appends start on a fresh line. */
export async function repairJournal(path: string): Promise<void> {
  let offset = 0;
  for await (const line of journalRecords(path)) offset = line.end;
  const size = await stat(path).then(
    (st) => st.size,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return 0;
      throw err;
    },
  );
  if (size > offset) await truncate(path, offset);
}

/** Streams the complete records of a journal (a torn tail is skipped) with their end offsets. */
export async function* journalRecords(path: string): AsyncGenerator<JournalRecord & { end: number }> {
  let stream;
  try {
    const fh = await open(path, 'r');
    stream = fh.createReadStream();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let end = 0;
  for await (const { text, terminated } of numberedLines(stream, JOURNAL_MAX_RECORD_BYTES, path)) {
    if (!terminated) return;
    end += Buffer.byteLength(text) + 1;
    if (text) yield { ...(JSON.parse(text) as JournalRecord), end };
  }
}

export async function* journalLines(path: string, ok: boolean): AsyncGenerator<string> {
  for await (const r of journalRecords(path)) if (r.ok === ok) yield `${JSON.stringify(r.out)}\n`;
}
