/**
 * Pure per-line logic of a batch job: validating an input line and shaping a reply into Ark's
 * results/errors line (ark.md §3, §4).
 */
import type { ChatReply } from './responder-types.ts';

export function usageOf(reply: ChatReply): [number, number, number] {
  const u = (reply.body.usage ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const p = num(u.prompt_tokens);
  const c = num(u.completion_tokens);
  return [p, c, u.total_tokens === undefined ? p + c : num(u.total_tokens)];
}

/** Ark output line shapes (ark.md §4.2/§4.3), keys in the documented order. */
export function outputLine(customId: string, reply: ChatReply): { ok: boolean; out: Record<string, unknown> } {
  const response = { request_id: reply.requestId, status_code: reply.status, body: reply.body };
  if (reply.status === 200) return { ok: true, out: { id: reply.requestId, custom_id: customId, error: null, response } };
  const e = (reply.body.error ?? {}) as Record<string, unknown>;
  return {
    ok: false,
    out: {
      id: reply.requestId,
      custom_id: customId,
      response,
      error: {
        code: typeof e.code === 'string' ? e.code : `HTTP${reply.status}`,
        type: typeof e.type === 'string' ? e.type : 'InternalServerError',
        message: typeof e.message === 'string' ? e.message : `request failed with HTTP ${reply.status}`,
      },
    },
  };
}

export interface ParsedLine {
  readonly lineNo: number;
  readonly customId: string;
  readonly body: Record<string, unknown>;
}

/** Validates one input line; a message in the style of Ark's "第N行非json数据" notification otherwise. */
export function parseInputLine(lineNo: number, text: string): ParsedLine | { error: string } | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: `第${lineNo}行非json数据 (line ${lineNo} is not valid JSON)` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: `第${lineNo}行非json对象 (line ${lineNo} is not a JSON object)` };
  }
  const rec = value as Record<string, unknown>;
  if (typeof rec.custom_id !== 'string' || rec.custom_id === '') {
    return { error: `第${lineNo}行缺少custom_id (line ${lineNo} has no custom_id string)` };
  }
  if (typeof rec.body !== 'object' || rec.body === null || Array.isArray(rec.body)) {
    return { error: `第${lineNo}行缺少body (line ${lineNo} has no body object)` };
  }
  return { lineNo, customId: rec.custom_id, body: rec.body as Record<string, unknown> };
}
