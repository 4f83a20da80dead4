/**
 * What a previous run already finished: the custom_ids in RESULTS (and ERRORS). Output files are
 * only ever appended with whole lines, so after a kill -9 the one thing that can be wrong is a
 * torn last line; it is cut off (its request runs again), never parsed or kept.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream';
import { ArkBatchError } from '../errors.ts';
import { splitLines, type Line } from '../jsonl/lines.ts';

/** Cuts a file back to its last newline. Returns the bytes removed (0 when none or no file). */
export async function repairTornTail(path: string): Promise<number> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new ArkBatchError('E_IO', `cannot open ${path}`, { file: path, cause: err });
  }
  try {
    const { size } = await fh.stat();
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await fh.read(chunk, 0, end - start, start);
      const nl = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) await fh.truncate(keep);
        return size - keep;
      }
      end = start;
    }
    if (size > 0) await fh.truncate(0);
    return size;
  } finally {
    await fh.close();
  }
}

export interface DoneIdsOptions {
  /** Most ids kept in memory across all files; more fail with E_BUFFER_LIMIT. @default 20000000 */
  readonly maxIds?: number;
  /** Longest output line read. @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
}

/**
 * Repairs each file's tail, then adds every line's custom_id to `into`. Returns how many lines
 * each file had. A complete line that is not an output line means the file is not ours: that
 * fails with E_JSONL_PARSE at its line instead of being guessed around.
 */
export async function collectDoneIds(paths: readonly string[], into: Set<string>, options: DoneIdsOptions = {}): Promise<number[]> {
  const maxIds = options.maxIds ?? 20_000_000;
  const counts: number[] = [];
  for (const path of paths) {
    await repairTornTail(path);
    let lines = 0;
    const exists = await fs.access(path).then(() => true, () => false);
    if (!exists) {
      counts.push(0);
      continue;
    }
    const split = splitLines<Line>({ file: path, maxLineBytes: options.maxLineBytes }, (l) => l);
    // A read error destroys `split`, so it surfaces in the loop below.
    pipeline(createReadStream(path), split, () => undefined);
    for await (const l of split as AsyncIterable<Line>) {
      if (l.text.trim() === '') continue;
      lines++;
      const id = customIdOf(l.text);
      if (id === undefined) throw new ArkBatchError('E_JSONL_PARSE', 'output line has no custom_id string; is this a results/errors file?', { file: path, line: l.line });
      into.add(id);
      if (into.size > maxIds) throw new ArkBatchError('E_BUFFER_LIMIT', `more than maxIds=${maxIds} finished custom_ids to remember`, { file: path, line: l.line });
    }
    counts.push(lines);
  }
  return counts;
}

function customIdOf(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { custom_id?: unknown } | null;
    return v !== null && typeof v === 'object' && typeof v.custom_id === 'string' ? v.custom_id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The custom_ids a rerun skips: those in RESULTS and ERRORS, or only those in RESULTS with
 * `retryErrors`, which then starts ERRORS afresh (every id in it is about to be sent again and
 * its new outcome replaces the old line; a kill before that only means they are sent next time).
 */
export async function loadFinished(o: { readonly resultsPath: string; readonly errorsPath: string; readonly retryErrors?: boolean }, into: Set<string>, maxIds: number): Promise<void> {
  if (!o.retryErrors) {
    await collectDoneIds([o.resultsPath, o.errorsPath], into, { maxIds });
    return;
  }
  await collectDoneIds([o.resultsPath], into, { maxIds });
  await fs.writeFile(o.errorsPath, '').catch((cause: unknown) => {
    throw new ArkBatchError('E_IO', `cannot truncate ${o.errorsPath}`, { file: o.errorsPath, cause });
  });
}
