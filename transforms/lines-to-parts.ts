import { createPartsWriter, type PartLimits, type PartsManifest } from '../lib/jsonl/parts.ts';
import { writableFromPartsWriter, type LinesWritable } from '../lib/jsonl/parts-stream.ts';

export interface LinesToPartsOptions extends PartLimits {
  /** Base path `OUT.jsonl`: parts become `OUT-00001.jsonl`, …, the manifest `OUT.manifest.json`. */
  readonly path: string;
  /** Lines buffered by the Writable before write() returns false. @default 16 */
  readonly highWaterMark?: number;
  /** Bytes the file stream buffers before a line waits for it to drain. @default 1048576 (1 MiB) */
  readonly writeBufferBytes?: number;
  /** Write and hash on a thread of its own, for large outputs (see PartsWriterOptions). @default false */
  readonly writerThread?: boolean;
}

/**
 * A Writable of encoded lines (string or Buffer, no trailing newline) split into numbered parts
 * by `splitLines` and/or `splitBytes`. Parts appear only when the whole run succeeded (see
 * lib/jsonl/parts.ts); `result` resolves with the manifest once they are in place.
 */
export function linesToParts(options: LinesToPartsOptions): LinesWritable<PartsManifest> {
  const writer = createPartsWriter({
    path: options.path,
    mode: 'parts',
    splitLines: options.splitLines,
    splitBytes: options.splitBytes,
    writeBufferBytes: options.writeBufferBytes, writerThread: options.writerThread,
  });
  return writableFromPartsWriter(writer, options.highWaterMark ?? 16, (manifest) => manifest);
}
