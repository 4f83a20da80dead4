/**
 * One line of a results or errors JSONL file, reduced to what a join needs. Both error shapes
 * of ark.md §4.3 are read: `error` set with `response: null`, and `response.status_code >= 400`
 * with the error in the body.
 */
import { ArkBatchError } from '../errors.ts';

/** The compact result of one request, as kept in memory or in a spill file. */
export interface ResultRecord {
  readonly customId: string;
  readonly ok: boolean;
  readonly content: string | null;
  readonly reasoningContent: string | null;
  readonly finishReason: string | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** Index of the results file (in the order given) the line came from. */
  readonly file: number;
  /** 1-based line in that file. */
  readonly line: number;
  /** The whole line, kept only when asked for (`raw`). */
  readonly raw: string | null;
}

export interface ParseResultOptions {
  readonly file: number;
  readonly line: number;
  /** Keep the line text in `raw`. @default false */
  readonly keepRaw?: boolean;
  /** Name for error messages. */
  readonly fileName?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Parses one result line; a line that is not a JSON object with a custom_id is an error. */
export function parseResultLine(text: string, options: ParseResultOptions): ResultRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ArkBatchError('E_JSONL_PARSE', `result line is not JSON: ${(err as Error).message}`, { file: options.fileName, line: options.line, cause: err });
  }
  if (!isObject(value)) throw new ArkBatchError('E_LINE_NOT_OBJECT', 'result line is not a JSON object', { file: options.fileName, line: options.line });
  const customId = value.custom_id;
  if (typeof customId !== 'string' || customId === '') {
    throw new ArkBatchError('E_JOIN_MISSING_ID', 'result line has no custom_id', { file: options.fileName, line: options.line });
  }
  const response = isObject(value.response) ? value.response : null;
  const status = response ? num(response.status_code) : null;
  const body = response && isObject(response.body) ? response.body : null;
  const usage = body && isObject(body.usage) ? body.usage : null;
  const topError = isObject(value.error) ? value.error : value.error ? { message: value.error } : null;
  const bodyError = body && isObject(body.error) ? body.error : null;
  const failed = topError !== null || response === null || (status !== null && status >= 400) || bodyError !== null;
  // Records are built in one literal (no spreads), so they all share one hidden class.
  const record: ResultRecord = {
    customId,
    ok: !failed,
    content: null,
    reasoningContent: null,
    finishReason: null,
    promptTokens: usage ? num(usage.prompt_tokens) : null,
    completionTokens: usage ? num(usage.completion_tokens) : null,
    errorCode: null,
    errorMessage: null,
    file: options.file,
    line: options.line,
    raw: options.keepRaw ? text : null,
  };
  const r = record as { -readonly [K in keyof ResultRecord]: ResultRecord[K] };
  if (failed) {
    const e = topError ?? bodyError;
    r.errorCode = str(e?.code) ?? str(e?.type) ?? (status !== null && status >= 400 ? `HTTP_${status}` : 'NO_RESPONSE');
    r.errorMessage = str(e?.message) ?? (response ? null : 'the result line has neither a response nor an error');
    return record;
  }
  const choices = body && Array.isArray(body.choices) ? body.choices : null;
  const choice = choices && isObject(choices[0]) ? choices[0] : null;
  const message = choice && isObject(choice.message) ? choice.message : null;
  if (message) {
    r.content = str(message.content);
    r.reasoningContent = str(message.reasoning_content);
  }
  if (choice) r.finishReason = str(choice.finish_reason);
  return record;
}

/**
 * Whether a later result for the same custom_id replaces the one kept so far: the first success
 * wins; until one comes, the latest failure (the newest attempt) stands.
 */
export function replacesKept(keptOk: boolean): boolean {
  return !keptOk;
}

/** The record as one JSON line for a spill file. */
export function encodeRecord(r: ResultRecord): string {
  return JSON.stringify([r.customId, r.ok ? 1 : 0, r.content, r.reasoningContent, r.finishReason, r.promptTokens, r.completionTokens, r.errorCode, r.errorMessage, r.file, r.line, r.raw]);
}

/**
 * The custom_id and outcome of an encoded record without decoding the rest: the line starts
 * `["<id as JSON>",1,` (or `,0,`), and a JSON string ends at the first quote not escaped.
 */
export function peekRecord(text: string): { customId: string; ok: boolean } {
  let i = 2;
  for (;;) {
    const q = text.indexOf('"', i);
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) {
      return { customId: JSON.parse(text.slice(1, q + 1)) as string, ok: text.charCodeAt(q + 2) === 49 };
    }
    i = q + 1;
  }
}

export function decodeRecord(text: string): ResultRecord {
  const a = JSON.parse(text) as [string, number, string | null, string | null, string | null, number | null, number | null, string | null, string | null, number, number, string | null];
  return {
    customId: a[0],
    ok: a[1] === 1,
    content: a[2],
    reasoningContent: a[3],
    finishReason: a[4],
    promptTokens: a[5],
    completionTokens: a[6],
    errorCode: a[7],
    errorMessage: a[8],
    file: a[9],
    line: a[10],
    raw: a[11],
  };
}
