/**
 * Writes encoded JSONL lines to local files with the "nothing half done" guarantee:
 *
 * - split mode: `OUT.jsonl` becomes `OUT-00001.jsonl`, `OUT-00002.jsonl`, … plus
 *   `OUT.manifest.json`; a new part starts when the next line would pass `splitLines` or
 *   `splitBytes` (newlines count), so the cut points depend on the lines alone (deterministic).
 * - single mode: exactly `OUT.jsonl`, the same machinery with no limits and no manifest.
 *
 * Every part is written under a hidden temp name in the target directory (`.OUT-00001.jsonl.<rand>.tmp`)
 * and all of them keep that name until the run ends well; only then are they renamed into place,
 * in order, and the manifest last. We chose "rename all at the end" over "rename each part when
 * complete and delete on failure" because it also holds when the process is killed: a crash can
 * leave hidden temp files, but never a set of real-looking parts that silently lacks its tail.
 * On abort the temp files (and any part already renamed by a failing finish) are removed.
 * After a successful split run, parts numbered past the new last one left by an earlier, longer
 * run of the same OUT are deleted, so a glob of `OUT-*.jsonl` never mixes two runs.
 *
 * The sha256 of each part is computed from the bytes as they are written. Nothing is fsync'ed:
 * the rename makes the result atomic for readers, not durable across a power loss.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, openSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { rename, rm, unlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import type { LineBatch } from './line-batch.ts';
import { startFileWriterThread, type FileWriterThread } from './threaded-file-sink.ts';

export interface PartLimits {
  /** Most lines in one part. @default undefined (no limit) */
  readonly splitLines?: number;
  /** Most bytes in one part, newlines included. A line that alone passes it is E_LINE_TOO_LARGE. @default undefined (no limit) */
  readonly splitBytes?: number;
}

export interface PartsWriterOptions extends PartLimits {
  /** The base path `OUT.jsonl` (split mode) or the file itself (single mode). */
  readonly path: string;
  /** `parts` writes numbered parts and a manifest; `single` writes `path` itself, without limits. @default 'parts' */
  readonly mode?: 'parts' | 'single';
  /**
   * Bytes the file stream may buffer before a write waits for it to drain; lines are also
   * gathered into chunks of min(this, 256 KiB) before they reach the stream (each write costs the main thread a thread-pool hand-off). @default 1048576 (1 MiB)
   */
  readonly writeBufferBytes?: number;
  /**
   * Write and hash the parts on a thread of their own (lib/jsonl/threaded-file-sink.ts), for
   * large outputs: starting it costs ~30 ms. If it cannot start, this thread does it.
   * @default false
   */
  readonly writerThread?: boolean;
}

export interface PartInfo {
  /** File name, relative to the manifest's directory. */
  readonly file: string;
  readonly lines: number;
  readonly bytes: number;
  /** Hex sha256 of the part's bytes. */
  readonly sha256: string;
  /** 1-based number, within the whole output, of the part's first line. */
  readonly firstLine: number;
}

export interface PartsManifest {
  readonly version: 1;
  readonly parts: readonly PartInfo[];
  readonly lines: number;
  readonly bytes: number;
}

export interface PartsWriter {
  /**
   * Appends one line (without its newline; one is added). Returns null when the line was
   * accepted at once, or a promise that must settle before the next write or finish (buffer
   * full, part change); calling either earlier is E_USAGE.
   * A Uint8Array line is kept by reference until written: do not reuse it.
   */
  write(line: string | Uint8Array): Promise<void> | null;
  /**
   * Appends a batch of lines, the same as writing them one by one (same parts, same errors),
   * in one stream write when they fit the part. Same promise contract as `write`.
   */
  writeBatch(batch: LineBatch): Promise<void> | null;
  /** Closes the last part, renames everything into place and writes the manifest. */
  finish(): Promise<PartsManifest>;
  /**
   * Removes every file of this run, synchronously before it returns (the promise only waits for
   * the open file to close); safe at any time and more than once.
   */
  abort(): Promise<void>;
}

/** `OUT.jsonl`, 3 → `OUT-00003.jsonl` (same directory). */
export function partPath(base: string, partNumber: number): string {
  const ext = extname(base);
  return `${base.slice(0, base.length - ext.length)}-${String(partNumber).padStart(5, '0')}${ext}`;
}

/** `OUT.jsonl` → `OUT.manifest.json`. */
export function manifestPath(base: string): string {
  const ext = extname(base);
  return `${base.slice(0, base.length - ext.length)}.manifest.json`;
}

/**
 * The cut rule, pure: does a line of `lineBytes` (newline included) start a new part after a
 * part holding `partLines` lines and `partBytes` bytes? An empty part takes any line.
 */
export function startsNewPart(partLines: number, partBytes: number, lineBytes: number, limits: PartLimits): boolean {
  if (partLines === 0) return false;
  if (limits.splitLines !== undefined && partLines + 1 > limits.splitLines) return true;
  return limits.splitBytes !== undefined && partBytes + lineBytes > limits.splitBytes;
}

const NEWLINE = Buffer.from('\n');

interface OpenPart {
  readonly number: number;
  readonly final: string;
  readonly temp: string;
  readonly stream: Writable;
  /** This thread's hash of the part, or null when the writer thread hashes it. */
  readonly hash: Hash | null;
  /** The part's sha256 once its stream has finished. */
  readonly sha256: () => string;
  readonly firstLine: number;
  lines: number;
  bytes: number;
}

interface DonePart {
  readonly final: string;
  readonly temp: string;
  readonly info: PartInfo;
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
    throw new ArkBatchError('E_USAGE', `Expected ${name} to be a positive integer, got ${String(value)} (${typeof value})`);
  }
}

function ioError(what: string, file: string, cause: unknown, partNumber?: number): ArkBatchError {
  if (cause instanceof ArkBatchError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ArkBatchError('E_IO', `cannot ${what}: ${reason}`, { file, partNumber, cause });
}

export function createPartsWriter(options: PartsWriterOptions): PartsWriter {
  const single = (options.mode ?? 'parts') === 'single';
  const limits: PartLimits = single ? {} : { splitLines: options.splitLines, splitBytes: options.splitBytes };
  checkLimit('splitLines', limits.splitLines);
  checkLimit('splitBytes', limits.splitBytes);
  const writeBufferBytes = options.writeBufferBytes ?? 1024 * 1024;
  checkLimit('writeBufferBytes', writeBufferBytes);
  const base = options.path;
  const dir = dirname(base);
  const runTag = randomBytes(6).toString('hex');

  let thread: FileWriterThread | null = null;
  if (options.writerThread) {
    try {
      thread = startFileWriterThread();
    } catch (err) {
      process.emitWarning(`output is written on the main thread: the writer thread could not start (${(err as Error).message})`);
    }
  }
  // A hand-off to another thread costs this one ~0.1–0.3 ms on a small VM, so the writer
  // thread gets whole buffers' worth at a time.
  const chunkBytes = thread ? writeBufferBytes : Math.min(writeBufferBytes, 256 * 1024);
  // Shared memory reaches the writer thread without a copy.
  const newChunk = (): Buffer => (thread ? Buffer.from(new SharedArrayBuffer(chunkBytes)) : Buffer.allocUnsafeSlow(chunkBytes));
  let chunk: Buffer = newChunk();
  let chunkPos = 0;
  let current: OpenPart | null = null;
  const done: DonePart[] = [];
  /** Files already renamed into place by a finish() that then failed; abort removes them. */
  const placed: string[] = [];
  let lines = 0;
  let bytes = 0;
  let state: 'writing' | 'finishing' | 'finished' | 'aborted' = 'writing';
  /** Set while a write's promise is unsettled: the next write or finish must wait for it. */
  let waiting = false;

  function waitFor(promise: Promise<void>): Promise<void> {
    waiting = true;
    return promise.finally(() => {
      waiting = false;
    });
  }

  function checkNotWaiting(call: string): void {
    if (waiting) throw new ArkBatchError('E_USAGE', `Expected ${call} after the previous write's promise settled, got it while that write was pending`);
  }

  /** A destroy() may land while a rotation or finish is awaiting; they must not create files after it. */
  function checkAborted(): void {
    if (state === 'aborted') throw new ArkBatchError('E_ABORTED', 'output was aborted while being written', { file: base });
  }

  function openPart(): OpenPart {
    checkAborted();
    const number = done.length + 1;
    const final = single ? base : partPath(base, number);
    const temp = join(dir, `.${basename(final)}.${runTag}.tmp`);
    // Opened synchronously so the file exists from here on and abort() can remove it at once.
    let fd: number;
    try {
      fd = openSync(temp, 'wx');
    } catch (err) {
      throw ioError('create part', final, err, single ? undefined : number);
    }
    // Errors are read back from `stream.errored` and from finished(); the listener only keeps
    // an error that happens between writes from being an uncaught 'error' event.
    const part = { number, final, temp, firstLine: lines + 1, lines: 0, bytes: 0 };
    if (thread) {
      const stream = thread.sink(fd, 2 * writeBufferBytes);
      stream.on('error', () => {});
      return { ...part, stream, hash: null, sha256: () => stream.sha256() };
    }
    const stream = createWriteStream(temp, { fd, highWaterMark: writeBufferBytes });
    stream.on('error', () => {});
    const hash = createHash('sha256');
    return { ...part, stream, hash, sha256: () => hash.digest('hex') };
  }

  async function closePart(part: OpenPart): Promise<void> {
    try {
      flush(part);
      part.stream.end();
      await finished(part.stream);
    } catch (err) {
      checkAborted(); // a destroyed stream fails with "premature close"; the abort is the real story
      throw ioError('write part', part.final, err, single ? undefined : part.number);
    }
    checkAborted();
    current = null;
    const info: PartInfo = {
      file: basename(part.final),
      lines: part.lines,
      bytes: part.bytes,
      sha256: part.sha256(),
      firstLine: part.firstLine,
    };
    done.push({ final: part.final, temp: part.temp, info });
  }

  async function drain(part: OpenPart): Promise<void> {
    try {
      if (part.stream.errored) throw part.stream.errored;
      await once(part.stream, 'drain');
    } catch (err) {
      checkAborted();
      throw ioError('write part', part.final, err, single ? undefined : part.number);
    }
  }

  /**
   * Chunks the file stream has written come back here for reuse: fresh ones per flush would
   * be garbage that only a full GC returns (hundreds of MB of it on a large run, all in RSS).
   */
  const freeChunks: Buffer[] = [];
  const MAX_FREE_CHUNKS = Math.ceil(writeBufferBytes / chunkBytes) + 2;

  /** Hands the coalesced lines to the file stream (and the hash); false when it is now full. */
  function flush(part: OpenPart): boolean {
    if (chunkPos === 0) return true;
    const full = chunk;
    const out = full.subarray(0, chunkPos);
    part.hash?.update(out);
    // The stream keeps `out` until written, so the next lines go to another chunk.
    chunk = freeChunks.pop() ?? newChunk();
    chunkPos = 0;
    return part.stream.write(out, () => {
      if (freeChunks.length < MAX_FREE_CHUNKS) freeChunks.push(full);
    });
  }

  /**
   * Lines are coalesced into `chunkBytes` chunks: one stream write and one hash update per chunk
   * instead of per line. Returns false when the caller must wait for the stream to drain.
   */
  function append(part: OpenPart, line: string | Uint8Array, size: number): boolean {
    if (part.stream.errored) throw ioError('write part', part.final, part.stream.errored, single ? undefined : part.number);
    part.lines++;
    part.bytes += size;
    lines++;
    bytes += size;
    let accepted = true;
    if (chunkPos + size > chunkBytes) accepted = flush(part);
    if (size > chunkBytes) {
      const big = typeof line === 'string' ? Buffer.from(`${line}\n`, 'utf8') : Buffer.concat([line, NEWLINE]);
      part.hash?.update(big);
      return part.stream.write(big) && accepted;
    }
    if (typeof line === 'string') chunkPos += chunk.write(line, chunkPos, 'utf8');
    else {
      chunk.set(line, chunkPos);
      chunkPos += line.byteLength;
    }
    chunk[chunkPos++] = 0x0a;
    return accepted;
  }

  async function rotateThenAppend(line: string | Uint8Array, size: number): Promise<void> {
    await closePart(current as OpenPart);
    const part = (current = openPart());
    if (!append(part, line, size)) await drain(part);
  }

  function write(line: string | Uint8Array): Promise<void> | null {
    if (state !== 'writing') throw new ArkBatchError('E_USAGE', `Expected write() before finish() or abort(), got it while ${state}`);
    checkNotWaiting('write()');
    let size: number;
    if (typeof line === 'string') {
      if (line.includes('\n')) throw new ArkBatchError('E_USAGE', 'Expected an encoded line without a newline, got one containing \\n', { line: lines + 1 });
      size = Buffer.byteLength(line, 'utf8') + 1;
    } else if (line instanceof Uint8Array) {
      if (line.indexOf(0x0a) !== -1) throw new ArkBatchError('E_USAGE', 'Expected an encoded line without a newline, got one containing \\n', { line: lines + 1 });
      size = line.byteLength + 1;
    } else {
      throw new ArkBatchError('E_USAGE', `Expected a line as a string or Buffer, got ${typeof line}`, { line: lines + 1 });
    }
    if (limits.splitBytes !== undefined && size > limits.splitBytes) {
      throw new ArkBatchError('E_LINE_TOO_LARGE', `line of ${size} bytes (with newline) cannot fit in a part of splitBytes=${limits.splitBytes}`, {
        line: lines + 1,
        file: base,
      });
    }
    if (current !== null && startsNewPart(current.lines, current.bytes, size, limits)) return waitFor(rotateThenAppend(line, size));
    const part = (current ??= openPart());
    return append(part, line, size) ? null : waitFor(drain(part));
  }

  /**
   * Lines [from, to) of a batch into `part`, copied into the coalescing chunks so that the batch
   * is free again when this returns; false when the caller must wait for a drain.
   */
  function appendLines(part: OpenPart, batch: LineBatch, from: number, to: number): boolean {
    if (part.stream.errored) throw ioError('write part', part.final, part.stream.errored, single ? undefined : part.number);
    let start = from === 0 ? 0 : batch.ends[from - 1]!;
    const end = batch.ends[to - 1]!;
    part.lines += to - from;
    part.bytes += end - start;
    lines += to - from;
    bytes += end - start;
    let accepted = true;
    while (start < end) {
      const n = Math.min(end - start, chunkBytes - chunkPos);
      batch.data.copy(chunk, chunkPos, start, start + n);
      chunkPos += n;
      start += n;
      if (chunkPos === chunkBytes) accepted = flush(part) && accepted;
    }
    return accepted;
  }

  /** How many lines from `from` on the part takes before a cut (throws for a line no part can hold). */
  function linesThatFit(part: OpenPart, batch: LineBatch, from: number): number {
    const ends = batch.ends;
    let partLines = part.lines;
    let partBytes = part.bytes;
    let k = from;
    for (; k < ends.length; k++) {
      const size = ends[k]! - (k === 0 ? 0 : ends[k - 1]!);
      if (limits.splitBytes !== undefined && size > limits.splitBytes) {
        if (k > from) break; // written first, as line-by-line writes would
        throw new ArkBatchError('E_LINE_TOO_LARGE', `line of ${size} bytes (with newline) cannot fit in a part of splitBytes=${limits.splitBytes}`, {
          line: lines + 1,
          file: base,
        });
      }
      if (startsNewPart(partLines, partBytes, size, limits)) break;
      partLines++;
      partBytes += size;
    }
    return k;
  }

  async function writeBatchFrom(batch: LineBatch, from: number, wait: Promise<void> | null): Promise<void> {
    if (wait) await wait;
    try {
      await writeRest(batch, from);
    } finally {
      batch.release();
    }
  }

  async function writeRest(batch: LineBatch, from: number): Promise<void> {
    for (let i = from; i < batch.ends.length; ) {
      let part = current;
      if (part !== null && part.lines > 0 && linesThatFit(part, batch, i) === i) {
        await closePart(part);
        part = null;
      }
      part = current ??= openPart();
      const k = linesThatFit(part, batch, i);
      if (!appendLines(part, batch, i, k)) await drain(part);
      i = k;
    }
  }

  /**
   * A batch in shared memory goes to the writer thread as it is (one file, so no limit can cut it):
   * no copy into a chunk, and the batcher gets the memory back once it is written.
   */
  function handOver(part: OpenPart, batch: LineBatch): Promise<void> | null {
    if (part.stream.errored) throw ioError('write part', part.final, part.stream.errored);
    const size = batch.ends[batch.ends.length - 1]!;
    const flushed = flush(part);
    const accepted = part.stream.write(batch.data.subarray(0, size), () => batch.release()) && flushed;
    part.lines += batch.ends.length;
    part.bytes += size;
    lines += batch.ends.length;
    bytes += size;
    return accepted ? null : waitFor(drain(part));
  }

  function writeBatch(batch: LineBatch): Promise<void> | null {
    if (state !== 'writing') throw new ArkBatchError('E_USAGE', `Expected writeBatch() before finish() or abort(), got it while ${state}`);
    checkNotWaiting('writeBatch()');
    const n = batch.ends.length;
    if (n === 0) return null;
    const part = (current ??= openPart());
    if (single && thread && batch.data.buffer instanceof SharedArrayBuffer) return handOver(part, batch);
    const k = linesThatFit(part, batch, 0);
    const accepted = k > 0 ? appendLines(part, batch, 0, k) : true;
    if (k === n) {
      batch.release();
      return accepted ? null : waitFor(drain(part));
    }
    return waitFor(writeBatchFrom(batch, k, accepted ? null : drain(part)));
  }

  async function finish(): Promise<PartsManifest> {
    if (state !== 'writing') throw new ArkBatchError('E_USAGE', `Expected finish() once, got it while ${state}`);
    checkNotWaiting('finish()');
    state = 'finishing';
    // A single file exists even when empty; split mode with no lines has no parts.
    if (current === null && single) current = openPart();
    if (current !== null) await closePart(current);
    // Every byte is written; an idle thread would not keep the process alive, but it holds memory.
    await thread?.close();
    const manifest: PartsManifest = { version: 1, parts: done.map((d) => d.info), lines, bytes };
    if (!single) {
      // From the first rename on, an earlier run's manifest would describe a mix of its parts and
      // ours; without it, an interrupted rename phase is plainly incomplete.
      try {
        await rm(manifestPath(base), { force: true });
      } catch (err) {
        throw ioError('remove the earlier manifest', manifestPath(base), err);
      }
    }
    for (const d of done) {
      checkAborted();
      try {
        await rename(d.temp, d.final);
      } catch (err) {
        throw ioError('rename part into place', d.final, err);
      }
      placed.push(d.final);
    }
    checkAborted();
    if (!single) {
      const target = manifestPath(base);
      const temp = join(dir, `.${basename(target)}.${runTag}.tmp`);
      try {
        await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
        await rename(temp, target);
      } catch (err) {
        await rm(temp, { force: true });
        throw ioError('write manifest', target, err);
      }
      if (state === ('aborted' as typeof state)) {
        await rm(target, { force: true });
        checkAborted();
      }
      await removeStaleParts(done.length + 1);
    }
    state = 'finished';
    return manifest;
  }

  async function removeStaleParts(from: number): Promise<void> {
    for (let n = from; ; n++) {
      const stale = partPath(base, n);
      try {
        await unlink(stale);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw ioError('remove a stale part of an earlier run', stale, err);
      }
    }
  }

  function abort(): Promise<void> {
    if (state === 'finished' || state === 'aborted') return Promise.resolve();
    state = 'aborted';
    const part = current;
    current = null;
    chunkPos = 0;
    const files = [...(part ? [part.temp] : []), ...done.map((d) => d.temp), ...placed];
    try {
      // Synchronously: pipeline() rejects as soon as the destination is destroyed, and a CLI
      // that exits right then must not leave files behind. An open fd does not stop unlink.
      for (const f of files) rmSync(f, { force: true });
    } catch (err) {
      part?.stream.destroy();
      return Promise.reject(ioError('remove an unfinished part', base, err));
    }
    part?.stream.destroy();
    const stopped = part === null ? Promise.resolve() : finished(part.stream);
    // The stream's own error, if any, is not the one being reported: the caller's is.
    return stopped.then(
      () => thread?.close(),
      () => thread?.close(),
    );
  }

  return { write, writeBatch, finish, abort };
}
