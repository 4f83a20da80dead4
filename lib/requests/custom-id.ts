import { ArkBatchError } from '../errors.ts';
import { binaryOf, textOf, type Row } from '../sources/row.ts';
import { fieldGetter, recordHasField, valueToText } from './fields.ts';

/**
 * How a row's custom_id is made. One rule serves prep (writing lines) and join (matching
 * results back), so the two can never disagree.
 */
export interface IdRule {
  /** Take the id from this column / field. */
  readonly column?: string;
  /** Build it from a template such as `doc-{{id}}`. */
  readonly template?: string;
}

/** Returns the id, or an E_ID_EMPTY error for the row. */
export type IdMaker = (row: Row) => string | ArkBatchError;

const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** True when the rule yields distinct ids by construction (the default `row-<n>`). */
export function idsUniqueByConstruction(rule: IdRule): boolean {
  return rule.column === undefined && rule.template === undefined;
}

export function describeIdRule(rule: IdRule): string {
  if (rule.column !== undefined) return `column ${rule.column}`;
  if (rule.template !== undefined) return `template ${rule.template}`;
  return 'row-<n>';
}

/** Binds the rule to a source's first row (checking the fields exist) and returns the id maker. */
export function bindIdRule(rule: IdRule, firstRow: Row, file?: string): IdMaker {
  if (rule.column !== undefined && rule.template !== undefined) {
    throw new ArkBatchError('E_USAGE', 'Give either --id or --id-template, not both');
  }
  if (rule.column === undefined && rule.template === undefined) return (row) => `row-${row.index}`;

  const getterFor = (path: string) => {
    const known = firstRow.columns ? firstRow.columns.includes(path) : !firstRow.record || recordHasField(firstRow.record, path);
    const g = known ? fieldGetter(path, firstRow.columns) : undefined;
    if (!g) throw new ArkBatchError('E_TEMPLATE', `custom_id field ${path} names no column of the source`, { file });
    return g;
  };
  const empty = (row: Row, id: string) =>
    new ArkBatchError('E_ID_EMPTY', 'custom_id is empty', { file, row: row.index, line: row.line, customId: row.binary ? textOf(id) : id });

  if (rule.column !== undefined) {
    const get = getterFor(rule.column);
    return (row) => {
      const id = valueToText(get(row));
      return id === '' ? empty(row, id) : id;
    };
  }
  const template = rule.template!;
  const parts: (string | ((row: Row) => unknown))[] = [];
  let last = 0;
  // Binary rows (CSV fast path) get the template's own text as latin1 too, so ids match.
  const text = (t: string) => (firstRow.binary ? binaryOf(t) : t);
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(text(template.slice(last, m.index)));
    parts.push(getterFor(m[1]!));
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(text(template.slice(last)));
  if (!parts.some((p) => typeof p === 'function')) {
    throw new ArkBatchError('E_TEMPLATE', `--id-template ${template} has no placeholder, so every row would get the same id`);
  }
  return (row) => {
    let id = '';
    let anyValue = false;
    for (const p of parts) {
      if (typeof p === 'string') id += p;
      else {
        const v = valueToText(p(row));
        if (v !== '') anyValue = true;
        id += v;
      }
    }
    // `doc-{{id}}` with an empty id would give every such row the id `doc-`: an empty id.
    return anyValue ? id : empty(row, id);
  };
}
