import { ArkBatchError, type ErrorContext } from '../errors.ts';
import { chatBodyValidator, describeSchemaError } from '../requests/schema.ts';
import type { Target } from '../requests/targets.ts';

/**
 * Every per-line rule of the input precheck, on a parsed line: a JSON object with a
 * non-empty string custom_id and an object body that passes the chat body schema, in the
 * target's shape. Uniqueness and sizes are checked by the caller, which sees the whole file.
 * Returns the problem instead of throwing, so callers decide between stop and reject.
 */
export function checkBatchLine(value: unknown, target: Target, ctx: ErrorContext): ArkBatchError | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return new ArkBatchError('E_LINE_NOT_OBJECT', `Line is not a JSON object (got ${kind(value)})`, ctx);
  }
  const line = value as Record<string, unknown>;
  const id = line.custom_id;
  if (id === undefined || id === null) return new ArkBatchError('E_ID_EMPTY', 'custom_id is missing', ctx);
  if (typeof id !== 'string') return new ArkBatchError('E_ROW_INVALID', `custom_id must be a string, got ${kind(id)}`, ctx);
  const at = { ...ctx, customId: id };
  if (id === '') return new ArkBatchError('E_ID_EMPTY', 'custom_id is empty', at);
  const body = line.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return new ArkBatchError('E_BODY_INVALID', `body must be a JSON object, got ${kind(body)}`, at);
  }
  for (const key of Object.keys(line)) {
    if (key === 'custom_id' || key === 'body') continue;
    if (target === 'openai' && (key === 'method' || key === 'url')) continue;
    // Ark documents only custom_id and body; an unknown key is most often a mistake
    // (an OpenAI-shaped file sent to Ark), so it is reported rather than passed on.
    return new ArkBatchError('E_ROW_INVALID', `Unexpected top-level key ${key} for target ${target}`, at);
  }
  if (target === 'openai') {
    if (line.method !== 'POST') return new ArkBatchError('E_ROW_INVALID', 'method must be "POST"', at);
    if (typeof line.url !== 'string' || !line.url.startsWith('/v1/')) {
      return new ArkBatchError('E_ROW_INVALID', 'url must be an endpoint path such as /v1/chat/completions', at);
    }
    if (typeof (body as Record<string, unknown>).model !== 'string') {
      return new ArkBatchError('E_BODY_INVALID', 'body.model is required for target openai', at);
    }
  }
  const validate = chatBodyValidator();
  if (!validate(body)) return new ArkBatchError('E_BODY_INVALID', describeSchemaError(validate.errors), at);
  return null;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
