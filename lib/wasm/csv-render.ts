/**
 * Batch-line bodies written straight from CSV bytes, in wasm: the CSV parser keeps its buffer in
 * this module's memory (the `store`), and one call per row runs a program of constants and
 * fields that writes the line, escaping each field in place (`""` read as one quote). Lines
 * gather in the module's memory and go to the line batcher a region at a time: a copy per row
 * into the (shared) batch memory cost ~110 ns. On the plain path every cell became a JS string
 * first: a record decode, a slice per cell, the `""` unescape and a copy into wasm for the escape.
 *
 * Memory: tables | field slots | source (the parser's buffer) | output | program. The source
 * grows when the parser asks (the output and program move up); the output is fixed, and a row
 * whose line may not fit takes the plain path. The memory only grows inside `store.resize`,
 * never while the parser scans a buffer.
 */
import { ArkBatchError } from '../errors.ts';
import type { LineBatcher, LineWriter } from '../jsonl/line-batch.ts';
import type { CsvBufferStore } from '../sources/csv-parser.ts';
import { escapeInstance, growTo, TABLE_BYTES, type EscapeExports } from './json-escape.ts';

/** A body program's steps: constant bytes, and numbers standing for field slots. */
export type RenderStep = Uint8Array | number;

/** Field slots a program can use. */
export const MAX_RENDER_SLOTS = 256;
/** The output region: a row whose line may be larger is rendered the plain way. */
export const RENDER_OUT_BYTES = 1 << 22;

const SLOTS = TABLE_BYTES;
/** The record table of `store.records` (see CsvBufferStore.records). */
const RECORDS = SLOTS + 8 * MAX_RENDER_SLOTS;
const RECORDS_BYTES = 1 << 18;
const SOURCE = RECORDS + RECORDS_BYTES;
/** The escape loop may write 16 bytes past the end of what it writes. */
const SLACK = 16;

export interface CsvRenderer {
  /** The CSV parser's buffer store: its buffers live in the module's memory. */
  readonly store: CsvBufferStore;
  /**
   * Where lines are written: the module's output region, from which whole lines go to the
   * target batcher many at a time (`flush`, or `ensure` when the region is full).
   */
  readonly lines: LineWriter & { flush(): void };
  /** Sets the program (once, before the first render). Returns false when it has too many slots. */
  program(steps: readonly RenderStep[]): boolean;
  /** Slot `k` reads `[start, end)` of the store's current buffer. */
  setSlot(k: number, start: number, end: number): void;
  /** The most bytes the program can write with the slots as set. */
  bound(): number;
  /** Runs the program at `lines.pos` (after `lines.ensure(bound())`). */
  render(): void;
}

/** Writes lines in the module's output region; hands whole ones to `target`. */
class StagedLines implements LineWriter {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  start = 0;
  readonly #ends: number[] = [];
  #count = 0;
  readonly #target: LineBatcher;

  constructor(target: LineBatcher) {
    this.#target = target;
  }

  ensure(extra: number): void {
    if (this.pos + extra < this.buf.length) return;
    this.flush();
    if (this.pos + extra >= this.buf.length) {
      throw new ArkBatchError('E_INTEGRITY', `a line of ${this.pos + extra} bytes was rendered in wasm, past its ${this.buf.length}-byte region`);
    }
  }

  commit(): void {
    this.buf[this.pos++] = 0x0a;
    this.#ends[this.#count++] = this.pos;
    this.start = this.pos;
  }

  rollback(): void {
    this.pos = this.start;
  }

  /** Hands the whole lines on; the line in progress, if any, moves to the front. */
  flush(): void {
    if (this.#count > 0) {
      this.#target.addLines(this.buf, this.#ends, this.#count);
      this.#count = 0;
    }
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.pos);
      this.pos -= this.start;
      this.start = 0;
    }
  }
}

/**
 * A renderer with a memory of its own whose lines go to `target`, or null where the module
 * cannot run (a Node without WebAssembly).
 */
export function createCsvRenderer(target: LineBatcher): CsvRenderer | null {
  const wasm: EscapeExports | null = escapeInstance();
  if (wasm === null) return null;
  const { memory, render, records } = wasm;
  let table = new Int32Array(0);
  const lines = new StagedLines(target);
  let words = new Int32Array(memory.buffer);
  let sourceBytes = 0;
  let outAt = 0;
  let progAt = 0;
  let progEnd = 0;
  let steps: readonly RenderStep[] = [];
  let constBytes = 0;
  let slotSteps: number[] = [];

  /** Places output and program after a source of `size` bytes, moving what the output holds. */
  function layout(size: number): void {
    const oldOut = outAt;
    sourceBytes = size;
    outAt = align(SOURCE + size);
    progAt = align(outAt + RENDER_OUT_BYTES + SLACK);
    const consts = steps.filter((s): s is Uint8Array => typeof s !== 'number');
    let at = progAt + 12 * steps.length;
    growTo(memory, at + consts.reduce((n, c) => n + c.length, 0));
    const bytes = new Uint8Array(memory.buffer);
    words = new Int32Array(memory.buffer);
    table = new Int32Array(memory.buffer, RECORDS, RECORDS_BYTES >> 2);
    // The lines not yet handed on (the source never reaches into them: the parser keeps only
    // what it had, and fills the rest after this returns).
    if (oldOut !== 0 && lines.pos > 0) bytes.copyWithin(outAt, oldOut, oldOut + lines.pos);
    lines.buf = Buffer.from(memory.buffer, outAt, RENDER_OUT_BYTES);
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
    lines,
    store: {
      resize(size, keep) {
        // The kept bytes are already at SOURCE: a grown memory keeps its contents.
        if (keep > size) throw new RangeError(`Expected to keep at most ${size} bytes, got ${keep}`);
        layout(size);
        return Buffer.from(memory.buffer, SOURCE, size);
      },
      records(from, to, delimiter) {
        records(SOURCE, from, to, delimiter, RECORDS, RECORDS + RECORDS_BYTES);
        return table;
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
    render() {
      lines.pos = render(progAt, progEnd, SLOTS, outAt + lines.pos) - outAt;
    },
  };
}

function align(n: number): number {
  return (n + 15) & ~15;
}
