/**
 * One error base for the whole toolkit. Callers match on `code`, never on message text.
 * The message is "Title: specifics" with the location appended, so a user sees
 * `reviews.csv:12: E_ID_EMPTY custom_id is empty (custom_id=)` without any other context.
 */

/** Data problems: the input or a remote object is wrong. Exit code 1. */
const DATA_CODES = [
  'E_CSV_PARSE',
  'E_JSONL_PARSE',
  'E_JSON_PARSE',
  'E_PARQUET',
  'E_ENCODING',
  'E_ROW_INVALID',
  'E_EMPTY_CELL',
  'E_ID_EMPTY',
  'E_ID_DUPLICATE',
  'E_LINE_NOT_OBJECT',
  'E_BODY_INVALID',
  'E_LINE_TOO_LARGE',
  'E_FILE_TOO_LARGE',
  'E_TOO_MANY_REJECTS',
  'E_INTEGRITY',
  'E_JOB_FAILED',
  'E_JOIN_MISSING_ID',
  /** A local file could not be written, renamed or removed (disk full, permissions). */
  'E_IO',
] as const;

/** The call itself is wrong: flags, templates, config. Exit code 2. */
const USAGE_CODES = ['E_USAGE', 'E_CONFIG', 'E_TEMPLATE', 'E_BUFFER_LIMIT'] as const;

/** A service or the network failed. Exit code 3. */
const REMOTE_CODES = [
  'E_TOS',
  'E_UPLOAD_PART',
  'E_DOWNLOAD',
  'E_ARK_API',
  'E_CHAT_API',
  'E_TIMEOUT',
  'E_ABORTED',
] as const;

export type DataErrorCode = (typeof DATA_CODES)[number];
export type UsageErrorCode = (typeof USAGE_CODES)[number];
export type RemoteErrorCode = (typeof REMOTE_CODES)[number];
export type ErrorCode = DataErrorCode | UsageErrorCode | RemoteErrorCode;

/** Where an error happened and what it concerns; every field optional. */
export interface ErrorContext {
  readonly file?: string;
  /** 1-based data row of a tabular source (the header is not a row). */
  readonly row?: number;
  /** 1-based physical line of a text file. */
  readonly line?: number;
  readonly customId?: string;
  readonly partNumber?: number;
  readonly requestId?: string;
  readonly status?: number;
  /** A service's own error code (TOS `Code`, Ark `Code`). */
  readonly remoteCode?: string;
  readonly cause?: unknown;
}

// The context fields live on the error itself (set in the constructor), typed once above.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ArkBatchError extends Omit<ErrorContext, 'cause'> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ArkBatchError extends Error {
  readonly code: ErrorCode;
  /** The message without the location prefix, for rejects files and JSON summaries. */
  readonly detail: string;

  constructor(code: ErrorCode, detail: string, context: ErrorContext = {}) {
    super(formatMessage(code, detail, context), context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'ArkBatchError';
    this.code = code;
    this.detail = detail;
    const { cause: _cause, ...fields } = context;
    Object.assign(this, fields);
  }
}

function formatMessage(code: ErrorCode, detail: string, ctx: ErrorContext): string {
  const where = [ctx.file, ctx.line ?? ctx.row].filter((p) => p !== undefined).join(':');
  const extras: string[] = [];
  if (ctx.customId !== undefined) extras.push(`custom_id=${ctx.customId}`);
  if (ctx.partNumber !== undefined) extras.push(`part=${ctx.partNumber}`);
  if (ctx.requestId !== undefined) extras.push(`request_id=${ctx.requestId}`);
  return `${where ? `${where}: ` : ''}${code} ${detail}${extras.length ? ` (${extras.join(', ')})` : ''}`;
}

export function isArkBatchError(err: unknown): err is ArkBatchError {
  return err instanceof ArkBatchError;
}

/** Exit status for an error: 1 data, 2 usage, 3 remote; anything unexpected is 1. */
export function exitCodeFor(err: unknown): 1 | 2 | 3 {
  if (!isArkBatchError(err)) return 1;
  if ((USAGE_CODES as readonly string[]).includes(err.code)) return 2;
  if ((REMOTE_CODES as readonly string[]).includes(err.code)) return 3;
  return 1;
}

/** An error as plain data, to cross a thread (worker → main); rebuilt with its class, code and context. */
export interface SerializedError {
  readonly code?: ErrorCode;
  readonly detail?: string;
  readonly fields?: Record<string, unknown>;
  readonly message: string;
  readonly stack?: string;
  readonly causeMessage?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ArkBatchError) {
    const { code, detail, name: _n, ...fields } = err as ArkBatchError & Record<string, unknown>;
    const cause = err.cause;
    return { code, detail, fields, message: err.message, causeMessage: cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause) };
  }
  return err instanceof Error ? { message: err.message, stack: err.stack } : { message: String(err) };
}

export function deserializeError(e: SerializedError): Error {
  const cause = e.causeMessage === undefined ? undefined : new Error(e.causeMessage);
  if (e.code !== undefined) return new ArkBatchError(e.code, e.detail!, { ...e.fields, cause });
  const err = new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}
