/**
 * The local service (`startLocalServer`, real wire) with a job engine a test can steer: a
 * responder that can hold lines, an injectable clock for CompletionWindows, a running limit.
 * Plus our OpenAPI client and the real TOS SDK pointed at it.
 */
import type { TosClient } from '@volcengine/tos-sdk';
import { createArkOpenApiClient, type ArkOpenApiClient, type ArkOpenApiClientOptions } from '../../lib/ark/openapi-client.ts';
import { createEchoResponder } from '../../lib/local/echo-model.ts';
import { createJobEngine } from '../../lib/local/jobs.ts';
import { createOpenApiHandler } from '../../lib/local/openapi-handler.ts';
import type { ChatResponder } from '../../lib/local/responder-types.ts';
import { startLocalServer, type LocalServer, type LocalServerOptions } from '../../lib/local/server.ts';
import { abortable } from './test-responder.ts';
import { sdkClient } from './tos.ts';

export interface ArkServiceOptions {
  /** @default the echo model */
  readonly responder?: ChatResponder;
  readonly clock?: () => number;
  readonly maxRunning?: number;
  readonly concurrencyPerJob?: number;
  readonly faults?: string;
  readonly seed?: number;
  readonly client?: Partial<ArkOpenApiClientOptions>;
  readonly server?: Partial<LocalServerOptions>;
}

export interface ArkService {
  readonly server: LocalServer;
  readonly client: ArkOpenApiClient;
  readonly tos: TosClient;
  put(bucket: string, key: string, text: string): Promise<void>;
}

export async function startArkService(t: { after: (fn: () => Promise<void>) => void }, o: ArkServiceOptions = {}): Promise<ArkService> {
  const server = await startLocalServer({
    faults: o.faults,
    seed: o.seed,
    ...o.server,
    openapi: async (ctx) => {
      const jobs = await createJobEngine({
        dataDir: ctx.dataDir,
        store: ctx.store,
        responder: o.responder ?? createEchoResponder({ seed: 1 }),
        clock: o.clock,
        maxRunning: o.maxRunning,
        concurrencyPerJob: o.concurrencyPerJob,
        expiryCheckMs: 20,
      });
      return {
        handler: createOpenApiHandler({ jobs, store: ctx.store, credentials: { accessKeyId: ctx.accessKey, secretAccessKey: ctx.secretKey }, region: ctx.region, faults: ctx.faults }),
        close: () => jobs.close(),
      };
    },
  });
  const client = createArkOpenApiClient({
    endpoint: server.openapiEndpoint,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    region: server.region,
    minRetryDelayMs: 5,
    maxRetryDelayMs: 20,
    ...o.client,
  });
  const tos = sdkClient(server, 'path');
  // The buckets most tests use exist from the start: a job needs its output bucket.
  const buckets = new Set<string>(['in-bkt', 'out-bkt']);
  for (const b of buckets) await server.store.createBucket(b);
  t.after(async () => {
    await client.close();
    await server.close();
  });
  return {
    server,
    client,
    tos,
    async put(bucket, key, text) {
      if (!buckets.has(bucket)) {
        buckets.add(bucket);
        if (!(await server.store.hasBucket(bucket))) await server.store.createBucket(bucket);
      }
      await server.store.putObject(bucket, key, Buffer.from(text, 'utf8'));
    },
  };
}

/** A latch: `wait()` resolves once `open()` was called. */
export function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { wait: () => p, open };
}

/** A responder that answers like the echo model but holds every line until `release()`. */
export function heldResponder(): { responder: ChatResponder; release: () => void; started: () => number } {
  const echo = createEchoResponder({ seed: 2 });
  const g = gate();
  let started = 0;
  return {
    responder: async (body, signal) => {
      started++;
      await abortable(g.wait(), signal);
      return echo(body, signal);
    },
    release: g.open,
    started: () => started,
  };
}

/** N input lines; line i (1-based) carries `[[fail:CODE]]` when `fail(i)` returns a code. */
export function inputLines(n: number, fail: (i: number) => string | undefined = () => undefined): string {
  let text = '';
  for (let i = 1; i <= n; i++) {
    const code = fail(i);
    text += JSON.stringify({ custom_id: `row-${i}`, body: { messages: [{ role: 'user', content: `line ${i} 你好 😀${code ? ` [[fail:${code}]]` : ''}` }], max_tokens: 50 } }) + '\n';
  }
  return text;
}
