/**
 * The two batch line dialects we write and check. Ark is the default; OpenAI's shape is
 * supported so the same engine can prepare files for OpenAI-compatible batch APIs.
 */
export type Target = 'ark' | 'openai';

export interface TargetLimits {
  /** Largest input file the service accepts (Ark: 5 GiB default quota; OpenAI: 200 MB). */
  readonly maxFileBytes: number;
  /** Most lines in one file (Ark: not documented, so none). */
  readonly maxLines?: number;
}

export const TARGET_LIMITS: Readonly<Record<Target, TargetLimits>> = {
  ark: { maxFileBytes: 5 * 1024 ** 3 },
  openai: { maxFileBytes: 200 * 1000 ** 2, maxLines: 50_000 },
};

/** Neither Ark nor OpenAI documents a per-line limit; a line over 8 MiB is almost surely a mistake. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

export const OPENAI_CHAT_URL = '/v1/chat/completions';

/** An Ark batch line; OpenAI lines add `method` and `url` and carry `model` in the body. */
export interface BatchLine {
  readonly custom_id: string;
  readonly method?: 'POST';
  readonly url?: string;
  readonly body: Record<string, unknown>;
}

export interface LineShapeOptions {
  readonly target?: Target;
  /** OpenAI target: the model written into every body. */
  readonly model?: string;
  /** OpenAI target: the endpoint path. @default '/v1/chat/completions' */
  readonly url?: string;
}

/** Builds the line object in the target's key order (custom_id first, as the services show it). */
export function makeBatchLine(customId: string, body: Record<string, unknown>, options: LineShapeOptions): BatchLine {
  if (options.target === 'openai') {
    return {
      custom_id: customId,
      method: 'POST',
      url: options.url ?? OPENAI_CHAT_URL,
      body: options.model !== undefined ? { model: options.model, ...body } : body,
    };
  }
  return { custom_id: customId, body };
}
