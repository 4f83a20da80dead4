/**
 * The Ark data plane of the local service: `POST /api/v3/chat/completions` and
 * `POST /api/v3/batch/chat/completions`. It does what the real gateway does before a model
 * sees a request (API-key check, body parsing and validation, fault injection, errors with
 * `Request ID`), then hands the body to a `ChatResponder` (echo model or upstream) and writes
 * its reply with the Ark headers: `X-Request-Id`, `X-Client-Request-Id` echoed, `Retry-After`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { arkErrorCodeForStatus, arkErrorReply, chatBodyProblemReply, checkChatBody } from './ark-errors.ts';
import { createRequestIdGenerator, type RequestIdGenerator } from './ids.ts';
import type { ChatReply, ChatResponder } from './responder-types.ts';

/** What fault injection decides for one request (the shape `lib/local/faults.ts` returns). */
export type FaultDecision = null | { kind: 'status'; status: number } | { kind: 'reset' } | { kind: 'stall'; ms: number };

export interface FaultDecider {
  decide(operation: string): FaultDecision;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface ChatHandlerOptions {
  /** Answers every accepted request. */
  readonly responder: ChatResponder;
  /** The only accepted `Authorization: Bearer` token. */
  readonly apiKey: string;
  /**
   * Consulted once per request that passed auth and validation, with the operation `chat`:
   * `status` answers the Ark error for that status (429 with Retry-After), `reset` destroys the
   * socket, `stall` waits `ms` and then answers normally. @default no faults
   */
  readonly faults?: FaultDecider;
  /** Extra delay before the responder runs, in ms. @default 0 */
  readonly latencyMs?: number;
  /** Ids for the errors the handler answers itself. @default createRequestIdGenerator() */
  readonly ids?: RequestIdGenerator;
  /** Largest request body accepted; a bigger one is refused with 400 and the connection closed. @default 33554432 (32 MiB) */
  readonly maxBodyBytes?: number;
  /** Retry-After seconds sent with injected 429s. @default 1 */
  readonly retryAfterSeconds?: number;
  /** When set, a `model` outside this list gets 404 InvalidEndpointOrModel.NotFound. @default any model */
  readonly models?: readonly string[];
}

export const CHAT_PATHS: readonly string[] = ['/api/v3/chat/completions', '/api/v3/batch/chat/completions'];

export function createChatHandler(options: ChatHandlerOptions): RequestHandler {
  const { responder } = options;
  const ids = options.ids ?? createRequestIdGenerator();
  const latencyMs = options.latencyMs ?? 0;
  const maxBodyBytes = options.maxBodyBytes ?? 32 * 1024 * 1024;
  const retryAfter = options.retryAfterSeconds ?? 1;
  const models = options.models ? new Set(options.models) : undefined;
  const expectedAuth = Buffer.from(`Bearer ${options.apiKey}`);

  return async (req, res) => {
    const clientRequestId = header(req, 'x-client-request-id');
    const answer = (reply: ChatReply, extra?: Record<string, string>) => send(res, reply, clientRequestId, extra);
    const path = (req.url ?? '/').split('?', 1)[0];
    if (!CHAT_PATHS.includes(path)) return answer(arkErrorReply('NotFound', ids(), { message: `The requested path ${path} does not exist.` }));
    if (req.method !== 'POST') return answer(arkErrorReply('MethodNotAllowed', ids()), { allow: 'POST' });
    if (!authorized(header(req, 'authorization'), expectedAuth)) return answer(arkErrorReply('AuthenticationError', ids()));

    // A client that leaves mid-body cannot be answered; ending quietly is all that is left to do.
    const raw = await readBody(req, maxBodyBytes).catch(() => null);
    if (raw === null) return;
    if (raw === undefined) {
      const reply = arkErrorReply('InvalidParameter', ids(), { param: 'body', message: `The request body exceeds ${maxBodyBytes} bytes.` });
      return answer(reply, { connection: 'close' });
    }
    const parsed = parseJson(raw);
    if (!parsed.ok) return answer(arkErrorReply('InvalidParameter', ids(), { param: 'body', message: `The request body is not valid JSON: ${parsed.why}.` }));
    const problem = checkChatBody(parsed.value, { requireModel: true });
    if (problem) return answer(chatBodyProblemReply(problem, ids()));
    const body = parsed.value as Record<string, unknown>;
    if (models && !models.has(body.model as string)) {
      const message = `The model or endpoint ${body.model as string} does not exist or you do not have access to it.`;
      return answer(arkErrorReply('InvalidEndpointOrModel.NotFound', ids(), { param: 'model', message }));
    }

    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const fault = options.faults?.decide('chat') ?? null;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      const code = arkErrorCodeForStatus(fault.status);
      return answer(arkErrorReply(code, ids(), { status: fault.status, ...(fault.status === 429 ? { retryAfter } : {}) }));
    }
    try {
      if (fault?.kind === 'stall') await sleep(fault.ms, undefined, { signal: gone.signal });
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: gone.signal });
      answer(await responder(body, gone.signal));
    } catch (err) {
      // The client hung up: there is nobody to answer.
      if (gone.signal.aborted) return;
      const detail = err instanceof Error ? err.message : String(err);
      answer(arkErrorReply('InternalServiceError', ids(), { message: `The service encountered an unexpected internal error: ${detail}.` }));
    }
  };
}

function send(res: ServerResponse, reply: ChatReply, clientRequestId: string | undefined, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = Buffer.from(JSON.stringify(reply.body));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': payload.length,
    'x-request-id': reply.requestId,
    ...extra,
  };
  if (clientRequestId !== undefined) headers['x-client-request-id'] = clientRequestId;
  if (reply.retryAfter !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(reply.retryAfter)));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function authorized(value: string | undefined, expected: Buffer): boolean {
  if (value === undefined) return false;
  const got = Buffer.from(value.replace(/^bearer\s+/i, 'Bearer ').trim());
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/**
 * The whole body, or undefined once it passes `max` bytes (reading stops; the caller answers with
 * `connection: close`). Rejects when the client goes away mid-body.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) {
        chunks.push(chunk);
        return;
      }
      done();
      req.pause();
      resolve(undefined);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => onError(new Error('client closed the connection before the body ended'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false; why: string } {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, why: 'it is not UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}
