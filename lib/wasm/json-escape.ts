/**
 * JSON escaping of binary strings (latin1, one char per UTF-8 byte) on wasm SIMD: 16 bytes per
 * step, against 2–3 ns a byte for the best JS loop we had (json-plan.ts keeps that loop for short
 * strings, where calls cost more than they save, and for a Node without WebAssembly, e.g. `--jitless`).
 *
 * One native copy puts the string into the module's memory, the module escapes it into a second
 * region, and one more copy takes it out. Escapes are per byte, so a long string is done in
 * pieces of CHUNK bytes with the same result.
 */
import { WASM_BASE64 } from './csv-json.wasm.ts';

const HEX_AT = 256;
/** Memory below this is the module's tables (see csv-json.wat). */
export const TABLE_BYTES = 1024;
const IN = TABLE_BYTES;
const CHUNK = 64 * 1024;
const OUT = IN + CHUNK;
/** Escaped output is at most 6 bytes a byte, and the module may write 16 bytes past its end. */
const BYTES = OUT + 6 * CHUNK + 16;

type EscapeFn = (src: number, len: number, dst: number) => number;
type RenderFn = (op: number, opEnd: number, fields: number, dst: number) => number;
type RecordsFn = (base: number, from: number, to: number, delimiter: number, table: number, tableEnd: number) => number;

/**
 * Buffer#latin1Write: what `write(s, offset, length, 'latin1')` ends in, without its argument
 * handling, which costs as much as the copy for a few hundred bytes. Undocumented, but in every
 * Node this package supports (checked when the module is set up).
 */
type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

/** The part of the WebAssembly API used here (this project's TypeScript libs have no DOM types). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: CsvJsonExports };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface CsvJsonExports {
  readonly memory: WasmMemory;
  readonly escape: EscapeFn;
  readonly render: RenderFn;
  readonly records: RecordsFn;
}

const WASM_PAGE = 65536;

let compiled: object | undefined;

/**
 * A new instance of the module, its tables filled, its memory one page; null where it cannot
 * run: no WebAssembly (`--jitless`), no SIMD. Each instance has a memory of its own.
 */
export function csvJsonInstance(): CsvJsonExports | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    compiled ??= new wasm.Module(Buffer.from(WASM_BASE64, 'base64'));
    const exports = new wasm.Instance(compiled).exports;
    const mem = Buffer.from(exports.memory.buffer);
    for (let c = 0; c < 0x20; c++) mem[c] = 0x75; // \u00XX
    for (const [c, letter] of [[0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r'], [0x22, '"'], [0x5c, '\\']] as const) {
      mem[c] = letter.charCodeAt(0);
    }
    mem.write('0123456789abcdef', HEX_AT, 'latin1');
    return exports;
  } catch {
    // Not an error of the caller's: JS loops write the same bytes, only slower.
    return null;
  }
}

/** Grows `memory` to at least `bytes`; its old views are detached when it grew. */
export function growTo(memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
}

interface Module {
  readonly escape: EscapeFn;
  readonly mem: Latin1Buffer;
  /** The same memory as a plain Uint8Array: its subarray + set copies out faster than Buffer#copy. */
  readonly bytes: Uint8Array;
}

function instantiate(): Module | null {
  const exports = csvJsonInstance();
  if (exports === null) return null;
  try {
    growTo(exports.memory, BYTES);
  } catch {
    // No memory for 450 KiB of escape buffers: json-plan.ts escapes in JS instead.
    return null;
  }
  // The memory never grows again, so this view stays attached.
  const mem = Buffer.from(exports.memory.buffer) as Latin1Buffer;
  if (typeof mem.latin1Write !== 'function') return null;
  return { escape: exports.escape, mem, bytes: new Uint8Array(exports.memory.buffer) };
}

const module = instantiate();

/** False when this Node has no WebAssembly; callers then escape in JS. */
export const wasmEscapeAvailable = module !== null;

/**
 * Writes the JSON-escaped bytes of binary string `s` (no quotes) at `buf[pos]`; returns the end.
 * The caller has ensured room for 6 bytes per char. Requires `wasmEscapeAvailable`.
 */
export function escapeBinaryWasm(s: string, buf: Buffer, pos: number): number {
  const { escape, mem, bytes } = module!;
  const n = s.length;
  for (let from = 0; from < n; from += CHUNK) {
    const len = Math.min(CHUNK, n - from);
    mem.latin1Write(from === 0 && len === n ? s : s.slice(from, from + len), IN, len);
    const end = escape(IN, len, OUT);
    buf.set(bytes.subarray(OUT, end), pos);
    pos += end - OUT;
  }
  return pos;
}
