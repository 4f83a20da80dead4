/**
 * A deterministic stand-in for the echo model (which lives on another branch): answers with the
 * last user message; `[[fail:X]]` in it gives an error reply (X numeric → that HTTP status).
 * `before` lets a test hold or order requests; a held request rejects when its signal aborts.
 */
import type { ChatReply, ChatResponder } from '../../lib/local/responder-types.ts';

let seq = 0;

export function requestId(): string {
  seq++;
  return `021${String(Date.now()).padStart(13, '0')}${seq.toString(16).padStart(37, '0')}`;
}

export function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  const user = messages.filter((m) => m.role === 'user').at(-1);
  return typeof user?.content === 'string' ? user.content : '';
}

export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function testResponder(before?: (text: string, signal?: AbortSignal) => Promise<void>): ChatResponder {
  return async (body, signal): Promise<ChatReply> => {
    const text = lastUserText(body);
    if (before) await abortable(before(text, signal), signal);
    const id = requestId();
    const fail = /\[\[fail:([A-Za-z0-9_.]+)\]\]/.exec(text);
    if (fail) {
      const status = /^\d{3}$/.test(fail[1]) ? Number(fail[1]) : 400;
      const code = /^\d{3}$/.test(fail[1]) ? (status === 429 ? 'RateLimitExceeded' : 'InternalServiceError') : fail[1];
      return { status, requestId: id, body: { error: { code, message: `forced failure ${fail[1]} Request ID: ${id}`, param: '', type: status === 429 ? 'TooManyRequests' : 'BadRequest' } } };
    }
    const promptTokens = [...text].length;
    const completionTokens = promptTokens;
    return {
      status: 200,
      requestId: id,
      body: {
        id,
        object: 'chat.completion',
        created: 1741184547,
        model: String(body.model ?? ''),
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      },
    };
  };
}

/** One JSONL input line asking the echo model to repeat `text`. */
export function inputLine(customId: string, text: string): string {
  return JSON.stringify({ custom_id: customId, body: { messages: [{ role: 'user', content: text }], max_tokens: 10 } });
}
