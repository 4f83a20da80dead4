/**
 * Batch-line bodies written straight from CSV bytes, in wasm: the CSV parser keeps its buffer in
 * this module's memory (the `store`), and one call per row runs a program of constants and
 * fields that writes the body, escaping each field in place (`""` read as one quote). Only the
 * finished body is copied out. On the plain path every cell became a JS string first: a record
 * decode, a slice per cell, the `""` unescape and a copy into wasm memory for the escape.
 *
 * Memory: tables | field slots | source (the parser's buffer) | output | program. The source
 * grows when the parser asks; the output is fixed, and a row whose body may not fit takes the
 * plain path. The memory only grows inside `store.resize`, never while the parser scans a buffer.
 */
import type { LineBatcher } from '../jsonl/line-batch.ts';
import type { CsvBufferStore } from '../sources/csv-parser.ts';
import { escapeInstance, growTo, TABLE_BYTES, type EscapeExports } from './json-escape.ts';

/** A body program's steps: constant bytes, and numbers standing for field slots. */
export type RenderStep = Uint8Array | number;

/** Field slots a program can use. */
export const MAX_RENDER_SLOTS = 256;
/** Largest body the output region takes: a row whose bound is larger is rendered the plain way. */
export const RENDER_OUT_BYTES = 1 << 22;

const SLOTS = TABLE_BYTES;
const SOURCE = SLOTS + 8 * MAX_RENDER_SLOTS;
/** The escape loop may write 16 bytes past the end of what it writes. */
const SLACK = 16;

export interface CsvRenderer {
  /** The CSV parser's buffer store: its buffers live in the module's memory. */
  readonly store: CsvBufferStore;
  /** Sets the program (once, before the first render). Returns false when it has too many slots. */
  program(steps: readonly RenderStep[]): boolean;
  /** Slot `k` reads `[start, end)` of the store's current buffer. */
  setSlot(k: number, start: number, end: number): void;
  /** The most bytes the body can take with the slots as set. */
  bound(): number;
  /** Writes the body at `out.pos` (the caller checked that `bound` is within RENDER_OUT_BYTES). */
  renderInto(out: LineBatcher): void;
}

/** A renderer with a memory of its own, or null where the module cannot run (a Node without WebAssembly). */
export function createCsvRenderer(): CsvRenderer | null {
  const wasm: EscapeExports | null = escapeInstance();
  if (wasm === null) return null;
  const { memory, render } = wasm;
  let bytes = new Uint8Array(memory.buffer);
  let words = new Int32Array(memory.buffer);
  let sourceBytes = 0;
  let outAt = 0;
  let progAt = 0;
  let progEnd = 0;
  let steps: readonly RenderStep[] = [];
  let constBytes = 0;
  let slotSteps: number[] = [];

  /** Places output and program after a source of `size` bytes and writes the program there. */
  function layout(size: number): void {
    sourceBytes = size;
    outAt = align(SOURCE + size);
    progAt = align(outAt + RENDER_OUT_BYTES + SLACK);
    const consts = steps.filter((s): s is Uint8Array => typeof s !== 'number');
    let at = progAt + 12 * steps.length;
    growTo(memory, at + consts.reduce((n, c) => n + c.length, 0));
    bytes = new Uint8Array(memory.buffer);
    words = new Int32Array(memory.buffer);
    let w = progAt >> 2;
    for (const step of steps) {
      if (typeof step === 'number') {
        words[w++] = 1;
        words[w++] = step;
        words[w++] = 0;
      } else {
        bytes.set(step, at);
        words[w++] = 0;
        words[w++] = at;
        words[w++] = step.length;
        at += step.length;
      }
    }
    progEnd = progAt + 12 * steps.length;
  }
  layout(0);

  return {
    store: {
      resize(size, keep) {
        // The kept bytes are already at SOURCE: a grown memory keeps its contents.
        if (keep > size) throw new RangeError(`Expected to keep at most ${size} bytes, got ${keep}`);
        layout(size);
        return Buffer.from(memory.buffer, SOURCE, size);
      },
    },
    program(next) {
      if (next.some((s) => typeof s === 'number' && (s < 0 || s >= MAX_RENDER_SLOTS))) return false;
      steps = next;
      constBytes = next.reduce<number>((n, s) => n + (typeof s === 'number' ? 0 : s.length), 0);
      slotSteps = next.filter((s): s is number => typeof s === 'number');
      layout(sourceBytes);
      return true;
    },
    setSlot(k, start, end) {
      const w = (SLOTS >> 2) + 2 * k;
      words[w] = SOURCE + start;
      words[w + 1] = SOURCE + end;
    },
    bound() {
      // Each field byte becomes at most 6 (\u00XX); a field may be used more than once.
      let n = constBytes;
      for (let k = 0; k < slotSteps.length; k++) {
        const w = (SLOTS >> 2) + 2 * slotSteps[k]!;
        n += 6 * (words[w + 1]! - words[w]!);
      }
      return n;
    },
    renderInto(out) {
      const end = render(progAt, progEnd, SLOTS, outAt);
      const n = end - outAt;
      out.ensure(n);
      out.buf.set(bytes.subarray(outAt, end), out.pos);
      out.pos += n;
    },
  };
}

function align(n: number): number {
  return (n + 15) & ~15;
}
