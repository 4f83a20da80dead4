import { ArkBatchError } from '../errors.ts';
import { binaryOf, type Row } from '../sources/row.ts';
import { fieldGetter, isEmptyValue, recordHasField, valueToText, type FieldGetter } from './fields.ts';
import { compileJsonPlan, writeJson, writeJsonBytes, type JsonPlan } from './json-plan.ts';
import type { LineBatcher } from '../jsonl/line-batch.ts';

/** What to do when a placeholder's value is missing, null or "". */
export type OnEmpty = 'error' | 'keep' | 'skip-row';

export interface TemplateOptions {
  /** System message text; may hold `{{placeholders}}`. */
  readonly system?: string;
  /** User message text with `{{column}}` / `{{a.b}}` placeholders. */
  readonly user?: string;
  /** A whole body template (parsed JSON): any chat parameters, multimodal parts; string values may hold placeholders. */
  readonly body?: unknown;
  /** Top-level body parameters (max_tokens, temperature, …) merged over the template. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** @default 'keep' */
  readonly onEmpty?: OnEmpty;
}

/** A compiled template: constants, text with placeholders, whole-value placeholders, nesting. */
export type TemplateNode = Node;

type Node =
  | { readonly t: 'const'; readonly v: unknown }
  | { readonly t: 'text'; readonly parts: readonly (string | number)[] }
  | { readonly t: 'value'; readonly slot: number }
  | { readonly t: 'array'; readonly items: readonly Node[] }
  | { readonly t: 'object'; readonly entries: readonly (readonly [string, Node])[] };

export interface CompiledTemplate {
  /** Field paths the template reads, in order of first use. */
  readonly fields: readonly string[];
  /**
   * Binds the template to the first row of a source: checks that every placeholder names a
   * column (tabular) or a key of the first record, and resolves field access once.
   */
  bind(firstRow: Row, file?: string): RowRenderer;
  /**
   * The same binding, rendering straight to the body's JSON text (byte-identical to
   * `JSON.stringify` of what `bind` renders) through a precompiled plan (lib/requests/json-plan.ts).
   * `model` is prepended to the body like the OpenAI line shape does.
   */
  bindJson(firstRow: Row, file?: string, model?: string): JsonBodyRenderer;
}

export type RenderFailure = { readonly ok: false; readonly skip: boolean; readonly error: ArkBatchError };

export type RenderResult = { readonly ok: true; readonly body: Record<string, unknown> } | RenderFailure;

export interface JsonBodyRenderer {
  /** The body's JSON text, or the row's --on-empty failure. */
  render(row: Row): string | RenderFailure;
  /** Binary rows only: writes the body's JSON bytes into the line in progress of `out`. */
  renderInto(row: Row, out: LineBatcher): RenderFailure | null;
  /** No row can change whether the body passes the schema (see json-plan.ts). */
  readonly schemaInvariant: boolean;
  /** The precompiled plan; its slots are the template's `fields`. */
  readonly plan: JsonPlan;
  /** The body a row whose fields are all "" gets: validating it once decides every row when schemaInvariant. */
  readonly probe: Record<string, unknown>;
}

export type RowRenderer = (row: Row) => RenderResult;

const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;

export function compileTemplate(options: TemplateOptions): CompiledTemplate {
  const onEmpty = options.onEmpty ?? 'keep';
  const fields: string[] = [];
  const slotOf = (path: string): number => {
    const i = fields.indexOf(path);
    return i >= 0 ? i : fields.push(path) - 1;
  };
  let root: Node;
  if (options.body !== undefined) {
    if (options.user !== undefined || options.system !== undefined) {
      throw new ArkBatchError('E_USAGE', 'Give either a body template or --user/--system, not both');
    }
    if (options.body === null || typeof options.body !== 'object' || Array.isArray(options.body)) {
      throw new ArkBatchError('E_TEMPLATE', `Body template must be a JSON object, got ${describe(options.body)}`);
    }
    root = compileNode({ ...(options.body as object), ...options.params }, slotOf, true);
  } else {
    if (options.user === undefined) throw new ArkBatchError('E_USAGE', 'A template is required: --user TEMPLATE or --body FILE');
    const message = (role: string, text: string): Node =>
      objectNode([['role', { t: 'const', v: role }], ['content', compileNode(text, slotOf, false)]]);
    const messages = [...(options.system !== undefined ? [message('system', options.system)] : []), message('user', options.user)];
    const params = Object.entries(options.params ?? {}).map(([k, v]) => [k, { t: 'const', v }] as const);
    root = objectNode([['messages', arrayNode(messages)], ...params]);
  }

  function bindFields(firstRow: Row, file: string | undefined) {
    const getters = fields.map((path) => {
      if (firstRow.columns) {
        const g = fieldGetter(path, firstRow.columns);
        if (!g) throw new ArkBatchError('E_TEMPLATE', `Placeholder {{${path}}} names no column; columns are: ${firstRow.columns.join(', ')}`, { file });
        return g;
      }
      if (firstRow.record && !recordHasField(firstRow.record, path)) {
        throw new ArkBatchError('E_TEMPLATE', `Placeholder {{${path}}} names no field of the first record; fields are: ${Object.keys(firstRow.record).join(', ')}`, { file, row: firstRow.index });
      }
      return fieldGetter(path)!;
    });
    // Binary rows (CSV fast path) carry UTF-8 bytes as latin1 strings; the template's own
    // text is converted once so that the whole body is in the same representation.
    const tree = firstRow.binary ? toBinary(root) : root;
    return { getters, tree, collect: valueCollector(getters, fields, onEmpty, file) };
  }

  return {
    fields,
    bind(firstRow, file) {
      const { tree, collect } = bindFields(firstRow, file);
      const values: unknown[] = new Array(fields.length);
      return (row) => {
        const failure = collect(row, values);
        if (failure) return failure;
        return { ok: true, body: render(tree, values) as Record<string, unknown> };
      };
    },
    bindJson(firstRow, file, model) {
      const { tree, collect } = bindFields(firstRow, file);
      const values: unknown[] = new Array(fields.length);
      const plan: JsonPlan = compileJsonPlan(tree, { stringValues: firstRow.columns !== undefined && firstRow.record === undefined, model });
      const probeBody = render(tree, fields.map(() => '')) as Record<string, unknown>;
      return {
        schemaInvariant: plan.schemaInvariant,
        plan,
        probe: model === undefined ? probeBody : { model, ...probeBody },
        render(row) {
          const failure = collect(row, values);
          return failure ?? writeJson(plan, values);
        },
        renderInto(row, out) {
          const failure = collect(row, values);
          if (failure === null) writeJsonBytes(plan, values, out);
          return failure;
        },
      };
    },
  };
}

/** Fills `values` from a row; returns the --on-empty failure, or null. */
function valueCollector(getters: readonly FieldGetter[], fields: readonly string[], onEmpty: OnEmpty, file: string | undefined) {
  return (row: Row, values: unknown[]): RenderFailure | null => {
    for (let i = 0; i < getters.length; i++) {
      const v = getters[i]!(row);
      if (onEmpty !== 'keep' && isEmptyValue(v)) {
        return {
          ok: false,
          skip: onEmpty === 'skip-row',
          error: new ArkBatchError('E_EMPTY_CELL', `Field ${fields[i]} is empty`, { file, row: row.index, line: row.line }),
        };
      }
      values[i] = v;
    }
    return null;
  };
}

/** `typed`: a string that is exactly one placeholder takes the value as it is (a JSONL array of
 * content parts stays an array, a number stays a number); message text from --user/--system is
 * always text. */
function compileNode(v: unknown, slotOf: (path: string) => number, typed: boolean): Node {
  if (typeof v === 'string') {
    const parts: (string | number)[] = [];
    let last = 0;
    for (const m of v.matchAll(PLACEHOLDER)) {
      if (m.index > last) parts.push(v.slice(last, m.index));
      parts.push(slotOf(m[1]!));
      last = m.index + m[0].length;
    }
    if (parts.length === 0) return { t: 'const', v };
    if (last < v.length) parts.push(v.slice(last));
    if (typed && parts.length === 1 && typeof parts[0] === 'number') return { t: 'value', slot: parts[0] };
    return { t: 'text', parts };
  }
  if (Array.isArray(v)) return arrayNode(v.map((x) => compileNode(x, slotOf, typed)));
  if (v !== null && typeof v === 'object') {
    return objectNode(Object.entries(v).map(([k, x]) => [k, compileNode(x, slotOf, typed)] as const));
  }
  return { t: 'const', v };
}

// Subtrees without placeholders collapse to one constant, built once and shared by every row.
function arrayNode(items: readonly Node[]): Node {
  return items.every((n) => n.t === 'const') ? { t: 'const', v: items.map((n) => (n as { v: unknown }).v) } : { t: 'array', items };
}

function objectNode(entries: readonly (readonly [string, Node])[]): Node {
  if (!entries.every(([, n]) => n.t === 'const')) return { t: 'object', entries };
  return { t: 'const', v: Object.fromEntries(entries.map(([k, n]) => [k, (n as { v: unknown }).v])) };
}

function toBinary(node: Node): Node {
  switch (node.t) {
    case 'const':
      return { t: 'const', v: binaryValue(node.v) };
    case 'value':
      return node;
    case 'text':
      return { t: 'text', parts: node.parts.map((p) => (typeof p === 'string' ? binaryOf(p) : p)) };
    case 'array':
      return { t: 'array', items: node.items.map(toBinary) };
    case 'object':
      return { t: 'object', entries: node.entries.map(([k, n]) => [binaryOf(k), toBinary(n)] as const) };
  }
}

function binaryValue(v: unknown): unknown {
  if (typeof v === 'string') return binaryOf(v);
  if (Array.isArray(v)) return v.map(binaryValue);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [binaryOf(k), binaryValue(x)]));
  return v;
}

function render(node: Node, values: readonly unknown[]): unknown {
  switch (node.t) {
    case 'const':
      // Shared between rows: safe because lines are serialised at once and never mutated.
      return node.v;
    case 'value': {
      const v = values[node.slot];
      return v === undefined || v === null ? '' : v;
    }
    case 'text': {
      let s = '';
      for (const p of node.parts) s += typeof p === 'string' ? p : valueToText(values[p]);
      return s;
    }
    case 'array':
      return node.items.map((n) => render(n, values));
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, n] of node.entries) out[k] = render(n, values);
      return out;
    }
  }
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
