/**
 * A template compiled to JSON text: the constant fragments of the body are serialised once,
 * and a row only escapes its own values (`JSON.stringify` of one string is native and fast),
 * instead of building the body object and serialising all of it per row.
 *
 * The plan also decides whether the body's schema validity can depend on the row at all
 * (`schemaInvariant`). It can not when every placeholder sits in a free-text position of the
 * chat schema (lib/requests/schema.ts) and always yields a string there:
 *
 * - `messages[i].content` — the schema allows any string (`anyOf` string | parts | null) and no
 *   `if`/`const`/`enum` of a message looks at content, only at `role` and `tool_calls`;
 * - `messages[i].content[j].text` of a part whose `type` is the constant `"text"` — the part
 *   then matches the text branch of `oneOf` and no other, for any string.
 *
 * A `text` node (placeholders mixed with text) always yields a string; a whole-value
 * placeholder yields one only for tabular rows (CSV cells are strings; a missing cell renders
 * as ""). The structure around those strings is constant, so one validation of a probe body
 * (all values "") decides every row. Any placeholder elsewhere (role, model, url, numbers,
 * enums, typed values of records) makes the plan not invariant, and the caller validates each
 * row with ajv as before.
 */
import type { LineBatcher, LineWriter } from '../jsonl/line-batch.ts';
import type { TemplateNode } from './template.ts';
import { valueToText } from './fields.ts';
import { escapeBinaryWasm, wasmEscapeAvailable } from '../wasm/json-escape.ts';

interface Dyn {
  /** Parts of a text node (constants and slots), or null for a whole-value placeholder. */
  readonly text: readonly (string | number)[] | null;
  /** `text` with its constants JSON-escaped (without quotes) as bytes, for the byte writer. */
  readonly escaped: readonly (Uint8Array | number)[] | null;
  readonly slot: number;
}

export interface JsonPlan {
  /** `consts[0] dyn[0] consts[1] … dyn[n-1] consts[n]`. */
  readonly consts: readonly string[];
  /** `consts` as bytes (their chars are bytes when the template is binary), for the byte writer. */
  readonly constBytes: readonly Uint8Array[];
  readonly dyns: readonly Dyn[];
  /** True when no row can change whether the body passes the schema (see above). */
  readonly schemaInvariant: boolean;
}

export interface JsonPlanOptions {
  /** Whole-value placeholders always yield strings (tabular rows). */
  readonly stringValues: boolean;
  /** Prepended to the body as `model` (OpenAI target), like `{ model, ...body }`. */
  readonly model?: string;
}

/** Object keys, and null for an array item (any string can be a key). */
type Path = readonly (string | null)[];

/** The body template → its plan. `root` must be an object node or a constant object. */
export function compileJsonPlan(root: TemplateNode, options: JsonPlanOptions): JsonPlan {
  const consts: string[] = [];
  const dyns: Dyn[] = [];
  let text = '';
  let invariant = true;

  const dynamic = (d: Dyn, path: Path, parentHasTextType: boolean) => {
    consts.push(text);
    text = '';
    dyns.push(d);
    const isString = d.text !== null || options.stringValues;
    if (!isString || !freeTextPosition(path, parentHasTextType)) invariant = false;
  };

  const emit = (node: TemplateNode, path: Path, parentHasTextType: boolean): void => {
    switch (node.t) {
      case 'const':
        text += JSON.stringify(node.v) ?? 'null';
        return;
      case 'value':
        dynamic({ text: null, escaped: null, slot: node.slot }, path, parentHasTextType);
        return;
      case 'text':
        dynamic({ text: node.parts, escaped: node.parts.map((p) => (typeof p === 'string' ? latin1Bytes(JSON.stringify(p).slice(1, -1)) : p)), slot: -1 }, path, parentHasTextType);
        return;
      case 'array':
        text += '[';
        node.items.forEach((item, i) => {
          if (i > 0) text += ',';
          emit(item, [...path, null], false);
        });
        text += ']';
        return;
      case 'object': {
        const entries = resolveEntries(node.entries);
        const hasTextType = entries.some(([k, n]) => k === 'type' && n.t === 'const' && n.v === 'text');
        text += '{';
        let first = true;
        for (const [key, child] of entries) {
          // JSON.stringify leaves out object members whose value has no JSON form.
          if (child.t === 'const' && JSON.stringify(child.v) === undefined) continue;
          text += `${first ? '' : ','}${JSON.stringify(key)}:`;
          first = false;
          emit(child, [...path, key], hasTextType);
        }
        text += '}';
        return;
      }
    }
  };

  emit(withModel(root, options.model), [], false);
  consts.push(text);
  return { consts, constBytes: consts.map(latin1Bytes), dyns, schemaInvariant: invariant };
}

/** A binary string's bytes, as a plain Uint8Array (what putBytes copies fastest). */
export function latin1Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** The body's JSON text for one row's values (slot order of the template's fields). */
export function writeJson(plan: JsonPlan, values: readonly unknown[]): string {
  const consts = plan.consts;
  const dyns = plan.dyns;
  let s = consts[0]!;
  for (let i = 0; i < dyns.length; i++) {
    const d = dyns[i]!;
    let v: string;
    if (d.text === null) {
      const x = values[d.slot];
      v = JSON.stringify(x === undefined || x === null ? '' : x);
    } else {
      const parts = d.text;
      let t = '';
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k]!;
        t += typeof p === 'string' ? p : valueToText(values[p]);
      }
      // Escaped as one string, so a surrogate pair split between text and value stays a pair.
      v = JSON.stringify(t);
    }
    s += v + consts[i + 1]!;
  }
  return s;
}

/**
 * The byte writer for binary rows (latin1 strings, one char per UTF-8 byte): the body's JSON
 * written straight into the batch, escaping in place — `JSON.stringify` of a 300-byte string
 * costs about a µs on Node 20, several times this. Escapes are per char and a binary string
 * has no surrogates, so escaping pieces one by one equals escaping their concatenation.
 */
export function writeJsonBytes(plan: JsonPlan, values: readonly unknown[], out: LineBatcher): void {
  const consts = plan.constBytes;
  const dyns = plan.dyns;
  putBytes(out, consts[0]!);
  for (let i = 0; i < dyns.length; i++) {
    const d = dyns[i]!;
    if (d.escaped === null) {
      const x = values[d.slot];
      if (typeof x === 'string') putJsonString(out, x);
      else if (x === undefined || x === null) putRaw(out, '""');
      else putRaw(out, JSON.stringify(x));
    } else {
      const parts = d.escaped;
      let bound = 2;
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k]!;
        bound += typeof p === 'number' ? 6 * textLength(values[p]) : p.length;
      }
      out.ensure(bound);
      const buf = out.buf;
      let pos = out.pos;
      buf[pos++] = QUOTE;
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k]!;
        if (typeof p !== 'number') pos = copyBytes(p, buf, pos);
        else {
          const v = values[p];
          pos = escapeInto(typeof v === 'string' ? v : valueToText(v), buf, pos);
        }
      }
      buf[pos++] = QUOTE;
      out.pos = pos;
    }
    putBytes(out, consts[i + 1]!);
  }
}

/**
 * The plan as the steps of a wasm body program (lib/wasm/csv-render.ts) for tabular rows, whose
 * values are all strings: constant bytes, and slot numbers where a value goes (escaped, between
 * quotes that are part of the constants). The steps of `prefix`, and `suffix`, frame the body.
 */
export function planSteps(plan: JsonPlan, prefix: readonly (Uint8Array | number)[], suffix: Uint8Array): (Uint8Array | number)[] {
  const steps: (Uint8Array | number)[] = [...prefix, plan.constBytes[0]!];
  plan.dyns.forEach((d, i) => {
    steps.push(QUOTE_BYTES, ...(d.escaped ?? [d.slot]), QUOTE_BYTES, plan.constBytes[i + 1]!);
  });
  steps.push(suffix);
  // Neighbouring constants become one copy.
  const merged: (Uint8Array | number)[] = [];
  for (const step of steps) {
    const last = merged[merged.length - 1];
    if (typeof step !== 'number' && step.length === 0) continue;
    if (typeof step !== 'number' && last !== undefined && typeof last !== 'number') merged[merged.length - 1] = Buffer.concat([last, step]);
    else merged.push(step);
  }
  return merged;
}

/** Bytes written as they are. */
export function putBytes(out: LineWriter, b: Uint8Array): void {
  out.ensure(b.length);
  out.pos = copyBytes(b, out.buf, out.pos);
}

/** A binary string written as it is. */
export function putRaw(out: LineWriter, s: string): void {
  out.ensure(s.length);
  out.pos = copyLatin1(s, out.buf, out.pos);
}

/** A binary string as a JSON string literal, byte-identical to `JSON.stringify(s)`. */
export function putJsonString(out: LineWriter, s: string): void {
  out.ensure(6 * s.length + 2);
  const buf = out.buf;
  let pos = out.pos;
  buf[pos++] = QUOTE;
  pos = escapeInto(s, buf, pos);
  buf[pos++] = QUOTE;
  out.pos = pos;
}

function textLength(v: unknown): number {
  return typeof v === 'string' ? v.length : valueToText(v).length;
}

const QUOTE = 0x22;
const QUOTE_BYTES = Uint8Array.of(QUOTE);
const BACKSLASH = 0x5c;
/** Bytes an escape adds: 1 for `\"` `\\` `\n` …, 5 for `\u00XX`, 0 for a byte written as it is. */
const EXTRA = new Uint8Array(256);
/** The letter after the backslash. */
const LETTER = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) {
  EXTRA[c] = 5;
  LETTER[c] = 0x75;
}
for (const [c, letter] of [[0x08, 0x62], [0x09, 0x74], [0x0a, 0x6e], [0x0c, 0x66], [0x0d, 0x72], [QUOTE, QUOTE], [BACKSLASH, BACKSLASH]] as const) {
  EXTRA[c] = 1;
  LETTER[c] = letter;
}
const HEX = '0123456789abcdef';
/** Below this length a JS loop beats a native call. */
const NATIVE_FROM = 48;
/** From this length the wasm escape beats the JS loop below (its two copies cost ~100 ns). */
const WASM_FROM = 48;

/** Below this length a JS loop beats TypedArray#set. */
const SET_FROM = 8;

function copyBytes(b: Uint8Array, buf: Buffer, pos: number): number {
  const n = b.length;
  if (n >= SET_FROM) {
    buf.set(b, pos);
    return pos + n;
  }
  for (let k = 0; k < n; k++) buf[pos++] = b[k]!;
  return pos;
}

function copyLatin1(s: string, buf: Buffer, pos: number): number {
  const n = s.length;
  if (n >= NATIVE_FROM) return pos + buf.write(s, pos, 'latin1');
  for (let k = 0; k < n; k++) buf[pos++] = s.charCodeAt(k);
  return pos;
}

/**
 * Escapes long strings in wasm; short ones are written as they are, then escaped in place from
 * the back: a byte loop over a Buffer is about twice as fast as a charCodeAt loop, and most
 * text needs no escape. The caller has ensured room for 6 bytes per char.
 */
function escapeInto(s: string, buf: Buffer, pos: number): number {
  if (s.length >= WASM_FROM && wasmEscapeAvailable) return escapeBinaryWasm(s, buf, pos);
  const end = copyLatin1(s, buf, pos);
  let extra = 0;
  let first = -1;
  for (let i = pos; i < end; i++) {
    const x = EXTRA[buf[i]!]!;
    if (x !== 0) {
      extra += x;
      if (first < 0) first = i;
    }
  }
  if (extra === 0) return end;
  let w = end + extra;
  for (let r = end - 1; r >= first; r--) {
    const c = buf[r]!;
    const x = EXTRA[c]!;
    if (x === 0) {
      buf[--w] = c;
    } else if (x === 1) {
      buf[--w] = LETTER[c]!;
      buf[--w] = BACKSLASH;
    } else {
      buf[--w] = HEX.charCodeAt(c & 15);
      buf[--w] = HEX.charCodeAt(c >> 4);
      buf[--w] = 0x30;
      buf[--w] = 0x30;
      buf[--w] = 0x75;
      buf[--w] = BACKSLASH;
    }
  }
  return end + extra;
}

function freeTextPosition(path: Path, parentHasTextType: boolean): boolean {
  if (path.length === 3) return path[0] === 'messages' && path[1] === null && path[2] === 'content';
  if (path.length === 5) {
    return parentHasTextType && path[0] === 'messages' && path[1] === null && path[2] === 'content' && path[3] === null && path[4] === 'text';
  }
  return false;
}

/**
 * Object members in the order and with the values the rendered object has: assignment order,
 * except that array-index keys come first in ascending order, the last of repeated keys wins in
 * the first one's place, and `__proto__` (which sets the prototype on assignment) disappears.
 */
function resolveEntries(entries: readonly (readonly [string, TemplateNode])[]): [string, TemplateNode][] {
  const byKey: Record<string, TemplateNode> = Object.create(null);
  for (const [k, n] of entries) byKey[k] = n;
  return Object.keys(byKey)
    .filter((k) => k !== '__proto__')
    .map((k) => [k, byKey[k]!]);
}

function withModel(root: TemplateNode, model: string | undefined): TemplateNode {
  if (model === undefined) return root;
  if (root.t === 'const') return { t: 'const', v: { model, ...(root.v as object) } };
  if (root.t === 'object') return { t: 'object', entries: [['model', { t: 'const', v: model }], ...root.entries] };
  return root;
}
