/**
 * Which reader a source needs: `--from` wins, then the file extension, then (stdin only) the
 * first bytes. Compressed inputs (.gz, .zst, …) are not supported yet: decompress upstream.
 */
import { Readable } from 'node:stream';
import { ArkBatchError } from '../errors.ts';

export const SOURCE_FORMATS = ['csv', 'tsv', 'jsonl', 'json', 'parquet'] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

const BY_EXTENSION: Readonly<Record<string, SourceFormat>> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.parquet': 'parquet',
};

const COMPRESSED = ['.gz', '.gzip', '.zst', '.zstd', '.bz2', '.xz', '.br', '.lz4', '.zip', '.snappy'];

const FROM_HINT = `pass --from ${SOURCE_FORMATS.join('|')}`;

/**
 * The format of `pathOrDash` (a path, a `tos://bucket/key` URI, or `-` for stdin). For `-`
 * without `explicit`, `head` (the first bytes, see `sniffFormat`) must be given.
 * @throws ArkBatchError E_USAGE for an unknown `explicit`, an unknown or compressed extension,
 *   or stdin with neither `explicit` nor `head`.
 */
export function detectFormat(pathOrDash: string, explicit?: SourceFormat, head?: Uint8Array): SourceFormat {
  if (explicit !== undefined) {
    if (!(SOURCE_FORMATS as readonly string[]).includes(explicit)) {
      throw new ArkBatchError('E_USAGE', `Expected --from to be one of ${SOURCE_FORMATS.join(', ')}, got ${JSON.stringify(explicit)}`);
    }
    return explicit;
  }
  if (pathOrDash === '-') {
    if (head === undefined) throw new ArkBatchError('E_USAGE', `cannot tell the format of stdin without its first bytes; ${FROM_HINT}`);
    return sniffFormat(head);
  }
  const name = baseName(pathOrDash).toLowerCase();
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot) : '';
  const format = BY_EXTENSION[ext];
  if (format) return format;
  if (COMPRESSED.includes(ext)) {
    throw new ArkBatchError('E_USAGE', `compressed input (${ext}) is not supported yet; decompress it and read from stdin with --from`, {
      file: pathOrDash,
    });
  }
  const got = ext ? `extension ${JSON.stringify(ext)}` : 'no extension';
  throw new ArkBatchError('E_USAGE', `cannot tell the source format from ${got}; ${FROM_HINT}`, { file: pathOrDash });
}

/**
 * Guesses from the first bytes: `PAR1` → parquet; after an optional BOM and whitespace, `[` →
 * json and `{` → jsonl; anything else (including empty) → csv. TSV is never guessed.
 */
export function sniffFormat(head: Uint8Array): SourceFormat {
  if (head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31) return 'parquet';
  const i = firstSignificant(head);
  if (head[i] === 0x5b) return 'json';
  if (head[i] === 0x7b) return 'jsonl';
  return 'csv';
}

export interface SniffOptions {
  /** Most bytes read ahead looking past leading whitespace. @default 65536 */
  readonly maxSniffBytes?: number;
}

/**
 * Reads just enough of a byte stream to sniff its format, and returns a stream that replays
 * those bytes followed by the rest, with backpressure intact.
 */
export async function sniffStream(
  input: Readable,
  options: SniffOptions = {},
): Promise<{ format: SourceFormat; stream: Readable }> {
  const maxSniffBytes = options.maxSniffBytes ?? 65536;
  const iterator: AsyncIterator<Buffer | string> = input[Symbol.asyncIterator]();
  const taken: Buffer[] = [];
  let size = 0;
  let done = false;
  while (!done && size < maxSniffBytes) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    taken.push(chunk);
    size += chunk.length;
    if (decided(Buffer.concat(taken))) break;
  }
  const head = Buffer.concat(taken);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!done) {
        const next = await iterator.next();
        if (next.done) done = true;
        else yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      }
    } finally {
      // The consumer stopped early (destroy, error): release the input too.
      if (!done) await iterator.return?.();
    }
  }
  return { format: sniffFormat(head), stream: Readable.from(replay(), { objectMode: false }) };
}

/** True once the head holds a byte that is not BOM or whitespace, or 4 bytes for the magic. */
function decided(head: Buffer): boolean {
  return head.length >= 4 && firstSignificant(head) < head.length;
}

/** Index of the first byte after an optional UTF-8 BOM and JSON whitespace. */
function firstSignificant(head: Uint8Array): number {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++;
  return i;
}

function baseName(pathOrUri: string): string {
  // No query stripping: `?` and `#` are legal in file names and TOS keys.
  const slash = Math.max(pathOrUri.lastIndexOf('/'), pathOrUri.lastIndexOf('\\'));
  return pathOrUri.slice(slash + 1);
}
