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
 * sharing one responder (the echo model, or an upstream), so a job's lines are answered
 * exactly as the chat endpoint would answer them.
 */
export function arkServiceFactories(options: LocalServerOptions): { openapi: HandlerFactory; chat: HandlerFactory } {
  let responder: (ChatResponder & { close?: () => Promise<void> }) | undefined;
  const shared = () =>
    (responder ??= options.upstream
      ? createUpstreamResponder({ baseUrl: options.upstream, apiKey: options.upstreamKey ?? '', timeoutMs: UPSTREAM_TIMEOUT_MS })
      : createEchoResponder({ seed: options.seed, latencyMs: options.latencyMs }));
  return {
    chat: (ctx) => ({
      handler: createChatHandler({ responder: shared(), apiKey: ctx.apiKey, faults: ctx.faults }),
      close: async () => responder?.close?.(),
    }),
    openapi: async (ctx) => {
      const jobs = await createJobEngine({ dataDir: ctx.dataDir, store: ctx.store, responder: shared(), maxRunning: options.maxRunning });
      return {
        handler: createOpenApiHandler({
          jobs,
          store: ctx.store,
          credentials: { accessKeyId: ctx.accessKey, secretAccessKey: ctx.secretKey },
          region: ctx.region,
          faults: ctx.faults,
        }),
        close: () => jobs.close(),
      };
    },
  };
}
