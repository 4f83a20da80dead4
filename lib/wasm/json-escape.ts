/**
 * JSON escaping of binary strings (latin1, one char per UTF-8 byte) on wasm SIMD: 16 bytes per
 * step, against 2–3 ns a byte for the best JS loop we had (json-plan.ts keeps that loop for short
 * strings, where calls cost more than they save, and for a Node without WebAssembly, e.g. `--jitless`).
 *
 * One native copy puts the string into the module's memory, the module escapes it into a second
 * region, and one more copy takes it out. Escapes are per byte, so a long string is done in
 * pieces of CHUNK bytes with the same result.
 */
import { WASM_BASE64 } from './json-escape.wasm.ts';

const HEX_AT = 256;
const IN = 1024;
const CHUNK = 64 * 1024;
const OUT = IN + CHUNK;
/** Escaped output is at most 6 bytes a byte, and the module may write 16 bytes past its end. */
const BYTES = OUT + 6 * CHUNK + 16;

type EscapeFn = (src: number, len: number, dst: number) => number;

/**
 * Buffer#latin1Write: what `write(s, offset, length, 'latin1')` ends in, without its argument
 * handling, which costs as much as the copy for a few hundred bytes. Undocumented, but in every
 * Node this package supports (checked when the module is set up).
 */
type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

/** The part of the WebAssembly API used here (this project's TypeScript libs have no DOM types). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: { readonly memory: WasmMemory; readonly escape: EscapeFn } };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface Module {
  readonly escape: EscapeFn;
  readonly mem: Latin1Buffer;
  /** The same memory as a plain Uint8Array: its subarray + set copies out faster than Buffer#copy. */
  readonly bytes: Uint8Array;
}

function instantiate(): Module | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  const instance = new wasm.Instance(new wasm.Module(Buffer.from(WASM_BASE64, 'base64')));
  const memory = instance.exports.memory;
  memory.grow(Math.ceil(BYTES / 65536) - memory.buffer.byteLength / 65536);
  // The memory never grows again, so this view stays attached.
  const mem = Buffer.from(memory.buffer) as Latin1Buffer;
  if (typeof mem.latin1Write !== 'function') return null;
  for (let c = 0; c < 0x20; c++) mem[c] = 0x75; // \u00XX
  for (const [c, letter] of [[0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r'], [0x22, '"'], [0x5c, '\\']] as const) {
    mem[c] = letter.charCodeAt(0);
  }
  mem.write('0123456789abcdef', HEX_AT, 'latin1');
  return { escape: instance.exports.escape, mem, bytes: new Uint8Array(memory.buffer) };
}

/** The module, or null where it cannot run: no WebAssembly (`--jitless`), no SIMD, no memory for it. */
function tryInstantiate(): Module | null {
  try {
    return instantiate();
  } catch {
    // Not an error of the caller's: the JS loop in json-plan.ts escapes the same bytes, only slower.
    return null;
  }
}

const module = tryInstantiate();

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
