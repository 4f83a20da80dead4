import { createChatHandler } from './chat-handler.ts';
import { createEchoResponder } from './echo-model.ts';
import { createJobEngine } from './jobs.ts';
import { createOpenApiHandler } from './openapi-handler.ts';
import type { ChatResponder } from './responder-types.ts';
import type { HandlerFactory, LocalServerOptions } from './server.ts';
import { createUpstreamResponder } from './upstream.ts';

/** A day: Ark advises 24 h+ client timeouts for batch chat. */
const UPSTREAM_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * The Ark side of the local service: the OpenAPI batch-job handler and the chat data plane,
 * answered by the echo model or an upstream (`--upstream`).
 */
export function arkServiceFactories(options: LocalServerOptions): { openapi: HandlerFactory; chat: HandlerFactory } {
  // The chat endpoint passes upstream answers through (its callers retry, as exec does); the job
  // runner retries like exec itself, because a batch job has no caller to retry for it.
  const responders = new Map<'chat' | 'jobs', ChatResponder & { close?: () => Promise<void> }>();
  const shared = (use: 'chat' | 'jobs') => {
    let r = responders.get(use);
    if (!r) {
      if (options.upstream) {
        r = createUpstreamResponder({ baseUrl: options.upstream, apiKey: options.upstreamKey ?? '', timeoutMs: UPSTREAM_TIMEOUT_MS, retry: use === 'jobs' });
      } else {
        // One echo model for both, so a job's lines are answered exactly as the chat endpoint would.
        r = responders.get(use === 'chat' ? 'jobs' : 'chat') ?? createEchoResponder({ seed: options.seed, latencyMs: options.latencyMs });
      }
      responders.set(use, r);
    }
    return r;
  };
  const closeAll = async () => {
    const all = new Set(responders.values());
    responders.clear();
    for (const r of all) await r.close?.();
  };
  return {
    chat: (ctx) => ({
      // Faults are injected once, by the server in front of every route (see server.ts).
      handler: createChatHandler({ responder: shared('chat'), apiKey: ctx.apiKey }),
      close: closeAll,
    }),
    openapi: async (ctx) => {
      const jobs = await createJobEngine({ dataDir: ctx.dataDir, store: ctx.store, responder: shared('jobs'), maxRunning: options.maxRunning });
      return {
        handler: createOpenApiHandler({
          jobs,
          store: ctx.store,
          credentials: { accessKeyId: ctx.accessKey, secretAccessKey: ctx.secretKey },
          region: ctx.region,
        }),
        close: async () => {
          await jobs.close();
          await closeAll();
        },
      };
    },
  };
}
