/**
 * How the local service answers one chat request, shared by the data plane
 * (`/api/v3/chat/completions`, `/api/v3/batch/chat/completions`) and the batch job runner.
 */
export interface ChatReply {
  /** HTTP status the data plane would answer with. */
  readonly status: number;
  /** A chat.completion object when status is 200, `{error:{code,message,param,type}}` otherwise. */
  readonly body: Record<string, unknown>;
  /** The Ark request id (`021…`, 53 characters). */
  readonly requestId: string;
  /** Seconds, for 429 answers. */
  readonly retryAfter?: number;
}

export type ChatResponder = (body: Record<string, unknown>, signal?: AbortSignal) => Promise<ChatReply>;
