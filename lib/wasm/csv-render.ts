/**
 * Batch-line bodies written straight from CSV bytes, in wasm: the CSV parser keeps its buffer in
 * this module's memory (the `store`), and one call per row runs a program of constants and
 * fields that writes the line, escaping each field in place (`""` read as one quote). Lines
 * gather in the module's memory and go to the line batcher a region at a time: a copy per row
 * into the (shared) batch memory cost ~110 ns. On the plain path every cell became a JS string
 * first: a record decode, a slice per cell, the `""` unescape and a copy into wasm for the escape.
 *
 * Memory: tables | field slots | record table | program | source (the parser's buffer) | output.
 * The source grows when the parser asks (the output moves up); the program and the output have
 * fixed sizes, and a template or a line that may not fit takes the plain path. So the memory only
 * grows inside `store.resize`, never while the parser scans a buffer: growing detaches every view
 * of it, the parser's buffer among them.
 */
import { ArkBatchError } from '../errors.ts';
import type { LineBatcher, LineWriter } from '../jsonl/line-batch.ts';
import type { CsvBufferStore } from '../sources/csv-parser.ts';
import { csvJsonInstance, growTo, TABLE_BYTES, type CsvJsonExports } from './json-escape.ts';

/** A body program's steps: constant bytes, and numbers standing for field slots. */
export type RenderStep = Uint8Array | number;

/** Field slots a program can use. */
export const MAX_RENDER_SLOTS = 256;
/** The output region: a row whose line may be larger is rendered the plain way. */
export const RENDER_OUT_BYTES = 1 << 22;

/** Largest program (12 bytes an op, and its constants): a template with more constant text takes the plain path. */
export const MAX_PROGRAM_BYTES = 1 << 18;

const SLOTS = TABLE_BYTES;
/** The record table of `store.records` (see CsvBufferStore.records). */
const RECORDS = SLOTS + 8 * MAX_RENDER_SLOTS;
const RECORDS_BYTES = 1 << 18;
const PROGRAM = RECORDS + RECORDS_BYTES;
const SOURCE = PROGRAM + MAX_PROGRAM_BYTES;
/** The escape loop may write 16 bytes past the end of what it writes. */
const SLACK = 16;
/** A memory larger than this (grown by a huge record) is replaced once the parser needs a fourth of it. */
const FRESH_FROM = 64 << 20;

export interface CsvRenderer {
  /** The CSV parser's buffer store: its buffers live in the module's memory. */
  readonly store: CsvBufferStore;
  /**
   * Where lines are written: the module's output region, from which whole lines go to the
   * target batcher many at a time (`flush`, or `ensure` when the region is full).
   */
  readonly lines: LineWriter & { flush(): void };
  /** Sets the program (before the first render). Returns false when it has too many slots or bytes. */
  program(steps: readonly RenderStep[]): boolean;
  /** Slot `k` reads `[start, end)` of the store's current buffer. */
  setSlot(k: number, start: number, end: number): void;
  /** The most bytes the program can write with the slots as set. */
  bound(): number;
  /** Runs the program at `lines.pos` (after `lines.ensure(bound())`). */
  render(): void;
  /** The module's memory now. */
  readonly memoryBytes: number;
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
  let wasm: CsvJsonExports | null = csvJsonInstance();
  if (wasm === null) return null;
  let table = new Int32Array(0);
  const lines = new StagedLines(target);
  let words = new Int32Array(wasm.memory.buffer);
  let outAt = 0;
  let progEnd = PROGRAM;
  let constBytes = 0;
  let slotSteps: number[] = [];

  /**
   * Places the output after a source of `size` bytes, moving what it holds. A memory that a huge
   * record grew is left for a fresh one once the parser needs a fourth of it (a wasm memory never
   * shrinks): the program, the kept source bytes and the staged lines move over.
   */
  function layout(size: number, keep: number): void {
    const oldOut = outAt;
    outAt = align(SOURCE + size);
    const need = outAt + RENDER_OUT_BYTES + SLACK;
    const old = wasm!.memory;
    if (old.buffer.byteLength > FRESH_FROM && 4 * need < old.buffer.byteLength) {
      const fresh = csvJsonInstance();
      if (fresh !== null) {
        growTo(fresh.memory, need);
        const from = new Uint8Array(old.buffer);
        const to = new Uint8Array(fresh.memory.buffer);
        to.set(from.subarray(PROGRAM, SOURCE + keep), PROGRAM);
        to.set(from.subarray(oldOut, oldOut + lines.pos), outAt);
        wasm = fresh;
        words = new Int32Array(fresh.memory.buffer);
        table = new Int32Array(fresh.memory.buffer, RECORDS, RECORDS_BYTES >> 2);
        lines.buf = Buffer.from(fresh.memory.buffer, outAt, RENDER_OUT_BYTES);
        return;
      }
    }
    const memory = wasm!.memory;
    try {
      growTo(memory, need);
    } catch (err) {
      // Past what a wasm memory can hold (4 GiB): only a record near --max-record-bytes this large gets here.
      throw new ArkBatchError('E_BUFFER_LIMIT', `cannot hold a ${size}-byte CSV record in WebAssembly memory`, { cause: err });
    }
    const bytes = new Uint8Array(memory.buffer);
    words = new Int32Array(memory.buffer);
    table = new Int32Array(memory.buffer, RECORDS, RECORDS_BYTES >> 2);
    // The lines not yet handed on (the source never reaches into them: the parser keeps only
    // what it had, and fills the rest after this returns).
    if (oldOut !== 0 && lines.pos > 0) bytes.copyWithin(outAt, oldOut, oldOut + lines.pos);
    lines.buf = Buffer.from(memory.buffer, outAt, RENDER_OUT_BYTES);
  }
  try {
    layout(0, 0);
  } catch {
    // No memory for the module's first 5 MiB: the plain path does the same work.
    return null;
  }

  return {
    lines,
    store: {
      resize(size, keep) {
        // The kept bytes are already at SOURCE: a grown memory keeps its contents.
        if (keep > size) throw new ArkBatchError('E_INTEGRITY', `Expected to keep at most ${size} bytes, got ${keep}`);
        layout(size, keep);
        return Buffer.from(wasm!.memory.buffer, SOURCE, size);
      },
      records(from, to, delimiter) {
        wasm!.records(SOURCE, from, to, delimiter, RECORDS, RECORDS + RECORDS_BYTES);
        return table;
      },
    },
    program(steps) {
      if (steps.some((s) => typeof s === 'number' && (s < 0 || s >= MAX_RENDER_SLOTS))) return false;
      const consts = steps.reduce<number>((n, s) => n + (typeof s === 'number' ? 0 : s.length), 0);
      if (12 * steps.length + consts > MAX_PROGRAM_BYTES) return false;
      constBytes = consts;
      slotSteps = steps.filter((s): s is number => typeof s === 'number');
      // Constants after the ops; the region is below the source, so nothing moves or grows.
      const bytes = new Uint8Array(wasm!.memory.buffer);
      let at = PROGRAM + 12 * steps.length;
      let w = PROGRAM >> 2;
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
      progEnd = PROGRAM + 12 * steps.length;
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
      lines.pos = wasm!.render(PROGRAM, progEnd, SLOTS, outAt + lines.pos) - outAt;
    },
    get memoryBytes() {
      return wasm!.memory.buffer.byteLength;
    },
  };
}

function align(n: number): number {
  return (n + 15) & ~15;
}
