/** Test helpers: Ark results/errors lines in the shapes of ark.md §4. */

export interface FakeOutcome {
  readonly id: string;
  /** 'ok', 'error' (error object, response null) or 'http' (status_code >= 400, error in body). */
  readonly kind: 'ok' | 'error' | 'http';
  readonly content?: string;
  readonly code?: string;
}

export function resultLine(o: FakeOutcome): string {
  if (o.kind === 'ok') {
    return JSON.stringify({
      id: `req-${o.id}`,
      custom_id: o.id,
      error: null,
      response: {
        request_id: `req-${o.id}`,
        status_code: 200,
        body: {
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: o.content ?? `answer ${o.id}` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
        },
      },
    });
  }
  if (o.kind === 'error') {
    return JSON.stringify({ id: `req-${o.id}`, custom_id: o.id, response: null, error: { code: o.code ?? 'AccessDenied', type: 'Forbidden', message: 'no access' } });
  }
  return JSON.stringify({
    id: `req-${o.id}`,
    custom_id: o.id,
    error: null,
    response: { request_id: `req-${o.id}`, status_code: 429, body: { error: { code: o.code ?? 'RateLimitExceeded', message: 'slow down', type: 'TooManyRequests' } } },
  });
}
