/**
 * Byte-level line framing for the job runner: splits on LF (dropping a CR before it), decodes each
 * line as UTF-8 only once it is whole, so a multi-byte character split across chunks is intact,
 * and fails loudly when a line outgrows `maxLineBytes` instead of buffering without bound.
 */
import { ArkBatchError } from '../errors.ts';

export interface NumberedLine {
  /** 1-based physical line number. */
  readonly lineNo: number;
  readonly text: string;
  /** False only for a last line with no LF after it (in a journal: a torn record). */
  readonly terminated: boolean;
}

export async function* numberedLines(
  chunks: AsyncIterable<Uint8Array | string>,
  maxLineBytes: number,
  file?: string,
): AsyncGenerator<NumberedLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  const tooLong = (n: number) =>
    new ArkBatchError('E_LINE_TOO_LARGE', `line exceeds maxLineBytes=${maxLineBytes}`, { file, line: n });
  const finish = (tail: Buffer, terminated: boolean): NumberedLine => {
    lineNo++;
    let buf = pending.length ? Buffer.concat([...pending, tail]) : tail;
    pending = [];
    pendingBytes = 0;
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > maxLineBytes) throw tooLong(lineNo);
    return { lineNo, text: buf.toString('utf8'), terminated };
  };
  for await (const chunk of chunks) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) !== -1) {
      yield finish(buf.subarray(0, nl), true);
      buf = buf.subarray(nl + 1);
    }
    if (buf.length) {
      // +1 leaves room for a CR that the next chunk's LF would strip.
      if (pendingBytes + buf.length > maxLineBytes + 1) throw tooLong(lineNo + 1);
      pending.push(Buffer.from(buf));
      pendingBytes += buf.length;
    }
  }
  if (pendingBytes > 0) yield finish(Buffer.alloc(0), false);
}
