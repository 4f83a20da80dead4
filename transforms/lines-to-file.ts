import { createPartsWriter, type PartInfo } from '../lib/jsonl/parts.ts';
import { writableFromPartsWriter, type LinesWritable } from '../lib/jsonl/parts-stream.ts';

export interface LinesToFileOptions {
  /** The file to write; it appears (atomically replacing any old one) only when the run succeeded. */
  readonly path: string;
  /** Lines buffered by the Writable before write() returns false. @default 16 */
  readonly highWaterMark?: number;
  /** Bytes the file stream buffers before a line waits for it to drain. @default 1048576 (1 MiB) */
  readonly writeBufferBytes?: number;
  /** Write and hash on a thread of its own, for large outputs (see PartsWriterOptions). @default false */
  readonly writerThread?: boolean;
}

/**
 * A Writable of encoded lines (string or Buffer, no trailing newline) written to one file via a
 * temp name + rename, so `-o FILE` never leaves a truncated file. `result` resolves with the
 * file's lines, bytes and sha256.
 */
export function linesToFile(options: LinesToFileOptions): LinesWritable<PartInfo> {
  const writer = createPartsWriter({ path: options.path, mode: 'single', writeBufferBytes: options.writeBufferBytes, writerThread: options.writerThread });
  return writableFromPartsWriter(writer, options.highWaterMark ?? 16, (manifest) => manifest.parts[0]);
}
