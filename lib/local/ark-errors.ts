/**
 * The Ark data-plane error contract (ark.md §5.1, DOC-Errors): status, `type` and message per
 * `code`, the `{"error":{code,message,param,type}}` body whose message ends with
 * `Request ID: {id}`, and the checks every chat body passes before a responder sees it.
 */
import type { ChatReply } from './responder-types.ts';

export interface ArkErrorSpec {
  readonly status: number;
  readonly type: string;
  /** Default message, without the trailing `Request ID: …`. */
  readonly message: string;
}

const BAD = 'BadRequest';
const RATE = 'TooManyRequests';
const rpm = 'The request has exceeded the requests per minute (RPM) limit of the associated endpoint for your account.';
const tpm = 'The request has exceeded the tokens per minute (TPM) limit of the associated endpoint for your account.';

const TABLE: Readonly<Record<string, ArkErrorSpec>> = {
  MissingParameter: { status: 400, type: BAD, message: 'The request failed because it is missing one or multiple required parameters.' },
  InvalidParameter: { status: 400, type: BAD, message: 'One or more parameters specified in the request are not valid.' },
  'InvalidEndpoint.ClosedEndpoint': { status: 400, type: BAD, message: 'The request targeted an endpoint that is currently closed or temporarily unavailable.' },
  AuthenticationError: { status: 401, type: 'Unauthorized', message: 'The API key or AK/SK in the request is missing or invalid.' },
  AccountOverdueError: { status: 403, type: 'Forbidden', message: 'The request failed because your account has an overdue balance.' },
  AccessDenied: { status: 403, type: 'Forbidden', message: 'The request failed because you do not have access to the requested resource.' },
  'InvalidEndpointOrModel.NotFound': { status: 404, type: 'NotFound', message: 'The model or endpoint does not exist or you do not have access to it.' },
  'InvalidEndpoint.NotFound': { status: 404, type: 'NotFound', message: 'The request targeted an endpoint that does not exist or is invalid.' },
  ModelNotOpen: { status: 404, type: 'NotFound', message: 'Your account has not activated the model. Please activate the model service in the Ark Console.' },
  NotFound: { status: 404, type: 'NotFound', message: 'The requested path does not exist.' },
  MethodNotAllowed: { status: 405, type: 'MethodNotAllowed', message: 'The request method is not allowed for this path.' },
  RateLimitExceeded: { status: 429, type: RATE, message: 'The request has exceeded a rate limit of your account.' },
  'RateLimitExceeded.EndpointRPMExceeded': { status: 429, type: RATE, message: rpm },
  'RateLimitExceeded.EndpointTPMExceeded': { status: 429, type: RATE, message: tpm },
  ModelAccountRpmRateLimitExceeded: { status: 429, type: RATE, message: 'The request has exceeded the RPM limit of the model for your account.' },
  ModelAccountTpmRateLimitExceeded: { status: 429, type: RATE, message: 'The request has exceeded the TPM limit of the model for your account.' },
  InternalServiceError: { status: 500, type: 'InternalServiceError', message: 'The service encountered an unexpected internal error.' },
  // Local-only: how a forwarding service reports an upstream it could not reach or that timed out.
  UpstreamUnavailable: { status: 502, type: 'BadGateway', message: 'The upstream service could not be reached.' },
  UpstreamBadResponse: { status: 502, type: 'BadGateway', message: 'The upstream service sent an answer that is not a JSON object.' },
  ServerOverloaded: { status: 503, type: 'ServiceUnavailable', message: 'The service is currently unable to handle additional requests due to server overload.' },
  UpstreamTimeout: { status: 504, type: 'GatewayTimeout', message: 'The upstream service did not answer in time.' },
};

/** Status, type and default message of a code; an unknown code is a 400 BadRequest. */
export function arkErrorSpec(code: string): ArkErrorSpec {
  return Object.hasOwn(TABLE, code) ? TABLE[code] : { status: 400, type: BAD, message: `The request failed with error code ${code}.` };
}

/** The code the service would most plausibly send with a bare status (used by fault injection). */
export function arkErrorCodeForStatus(status: number): string {
  switch (status) {
    case 400: return 'InvalidParameter';
    case 401: return 'AuthenticationError';
    case 403: return 'AccessDenied';
    case 404: return 'InvalidEndpointOrModel.NotFound';
    case 429: return 'RateLimitExceeded.EndpointRPMExceeded';
    case 502: return 'UpstreamUnavailable';
    case 503: return 'ServerOverloaded';
    case 504: return 'UpstreamTimeout';
    default: return status >= 500 ? 'InternalServiceError' : 'InvalidParameter';
  }
}

export interface ArkErrorOptions {
  /** Replaces the table's default message (still followed by `Request ID: …`). */
  readonly message?: string;
  readonly param?: string;
  /** Overrides the table's status, e.g. a fault asking for 502 with a generic code. */
  readonly status?: number;
  /** Seconds, sent as Retry-After. */
  readonly retryAfter?: number;
}

export function arkErrorReply(code: string, requestId: string, options: ArkErrorOptions = {}): ChatReply {
  const spec = arkErrorSpec(code);
  const body = {
    error: { code, message: `${options.message ?? spec.message} Request ID: ${requestId}`, param: options.param ?? '', type: spec.type },
  };
  const reply: ChatReply = { status: options.status ?? spec.status, body, requestId };
  return options.retryAfter === undefined ? reply : { ...reply, retryAfter: options.retryAfter };
}

/** Why a body was refused, before any model work. */
export interface ChatBodyProblem {
  readonly code: 'MissingParameter' | 'InvalidParameter';
  readonly param: string;
  readonly message: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

/**
 * The checks the data plane applies to a chat body: an object with non-empty `messages` of known
 * roles, `model` when `requireModel` (a Batch Job line carries none), no `stream: true`
 * (batch inference does not stream), and positive integer token limits.
 */
export function checkChatBody(body: unknown, options: { readonly requireModel: boolean }): ChatBodyProblem | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return invalid('body', `Expected the request body to be a JSON object, got ${Array.isArray(body) ? 'array' : body === null ? 'null' : typeof body}.`);
  }
  const b = body as Record<string, unknown>;
  if (options.requireModel && (b.model === undefined || b.model === null || b.model === '')) return missing('model');
  if (b.model !== undefined && typeof b.model !== 'string') return invalid('model', `Expected model to be a string, got ${typeof b.model}.`);
  if (b.messages === undefined || b.messages === null) return missing('messages');
  if (!Array.isArray(b.messages) || b.messages.length === 0) return invalid('messages', 'Expected messages to be a non-empty array.');
  for (let i = 0; i < b.messages.length; i++) {
    const m: unknown = b.messages[i];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return invalid(`messages[${i}]`, 'Expected a message object.');
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) return invalid(`messages[${i}].role`, `Unknown role ${JSON.stringify(msg.role)}.`);
    const c = msg.content;
    if (!(typeof c === 'string' || Array.isArray(c) || ((c === undefined || c === null) && msg.role === 'assistant'))) {
      return invalid(`messages[${i}].content`, 'Expected content to be a string or an array of parts.');
    }
  }
  if (b.stream === true) return invalid('stream', 'Streaming is not supported by batch inference; set stream to false.');
  for (const key of ['max_tokens', 'max_completion_tokens'] as const) {
    const v = b[key];
    if (v !== undefined && v !== null && !(Number.isSafeInteger(v) && (v as number) > 0)) {
      return invalid(key, `Expected ${key} to be a positive integer, got ${JSON.stringify(v)}.`);
    }
  }
  return null;
}

/** The error reply for a refused body. */
export function chatBodyProblemReply(problem: ChatBodyProblem, requestId: string): ChatReply {
  return arkErrorReply(problem.code, requestId, { param: problem.param, message: problem.message });
}

function missing(param: string): ChatBodyProblem {
  return { code: 'MissingParameter', param, message: `The request failed because it is missing one or multiple required parameters: ${param}.` };
}

function invalid(param: string, why: string): ChatBodyProblem {
  return { code: 'InvalidParameter', param, message: `The parameter \`${param}\` specified in the request is not valid: ${why}` };
}
