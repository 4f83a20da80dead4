/**
 * The checks `exec` makes on a batch line before spending a request on it: JSON, an object, a
 * non-empty string custom_id, an object body, and no streaming (Batch Chat refuses
 * `stream: true`, ark.md §5). Everything else about the body is the service's to judge.
 */
import { ArkBatchError } from '../errors.ts';
import type { Line } from '../jsonl/lines.ts';

export interface ExecLine {
  readonly line: number;
  readonly customId: string;
  readonly body: Record<string, unknown>;
}

/** A parsed line, null for a blank line, or the problem (with customId when the line had one). */
export function parseExecLine(l: Line, file?: string): ExecLine | ArkBatchError | null {
  if (l.text.trim() === '') return null;
  const at = { file, line: l.line };
  if (!l.validUtf8) return new ArkBatchError('E_ENCODING', 'line is not valid UTF-8', at);
  let value: unknown;
  try {
    value = JSON.parse(l.text);
  } catch (err) {
    return new ArkBatchError('E_JSONL_PARSE', `line is not valid JSON (${(err as Error).message})`, at);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return new ArkBatchError('E_LINE_NOT_OBJECT', `Line is not a JSON object (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`, at);
  }
  const rec = value as Record<string, unknown>;
  if (typeof rec.custom_id !== 'string' || rec.custom_id === '') return new ArkBatchError('E_ID_EMPTY', 'custom_id is missing or not a non-empty string', at);
  const withId = { ...at, customId: rec.custom_id };
  const body = rec.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return new ArkBatchError('E_BODY_INVALID', 'body must be a JSON object', withId);
  if ((body as Record<string, unknown>).stream === true) return new ArkBatchError('E_BODY_INVALID', 'body.stream must not be true: Batch Chat does not stream', withId);
  return { line: l.line, customId: rec.custom_id, body: body as Record<string, unknown> };
}

/** The errors-file line for a line refused before sending, so join and retry see it like any failure. */
export function rejectLine(err: ArkBatchError, id: string): Record<string, unknown> {
  return { id, custom_id: err.customId, response: null, error: { code: 'InvalidParameter', type: 'BadRequest', message: `${err.code} ${err.detail} (line ${err.line})` } };
}
