import type { Row } from '../sources/row.ts';

/**
 * Reads a named field from a row. Tabular rows are looked up by column name; record rows by
 * key, and `a.b` walks nested objects (a key that literally contains the dot wins).
 * Compiled once per (path, columns) so the per-row cost is an index or a few property reads.
 */
export type FieldGetter = (row: Row) => unknown;

export function fieldGetter(path: string, columns?: readonly string[]): FieldGetter | undefined {
  if (columns) {
    const i = columns.indexOf(path);
    if (i < 0) return undefined;
    return (row) => row.cells?.[i];
  }
  const segments = path.split('.');
  return (row) => {
    const rec = row.record;
    if (!rec) return undefined;
    if (path in rec) return rec[path];
    let v: unknown = rec;
    for (const s of segments) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[s];
    }
    return v;
  };
}

/** True when a record (the first of a record source) has the field, for the up-front check. */
export function recordHasField(record: Readonly<Record<string, unknown>>, path: string): boolean {
  if (path in record) return true;
  let v: unknown = record;
  for (const s of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(s in (v as object))) return false;
    v = (v as Record<string, unknown>)[s];
  }
  return true;
}

/** Missing, null and empty-string values are "empty" for the --on-empty policy. */
export function isEmptyValue(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

/** How a value is written into a string template: strings as they are, others as JSON. */
export function valueToText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}
