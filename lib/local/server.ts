import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { arkServiceFactories } from './ark-services.ts';
import { createDiskStore } from './disk-store.ts';
import { createFaults, type FaultDecision, type FaultRule, type Faults } from './faults.ts';
import type { MultipartStore } from './multipart-types.ts';
import { tosCodeForStatus, TOS_ERRORS, type TosErrorCode } from './tos-errors.ts';
import { createTosHandler, newTosRequestId, sendTosError } from './tos-handler.ts';
import { parseTosRequest } from './tos-request.ts';

/**
 * `ark-batch serve`: ONE http server on 127.0.0.1 that behaves like TOS, the Ark OpenAPI and
 * the Ark data plane on the wire. Routing: `/api/v3/…` → chat; a query with `Action=` →
 * OpenAPI; everything else → TOS. Faults and latency are applied here, before a handler runs.
 */

/** Fixed local credentials, documented so scripts can use them without configuration. */
import { LOCAL_ACCESS_KEY, LOCAL_API_KEY, LOCAL_REGION, LOCAL_SECRET_KEY } from './credentials.ts';

export { LOCAL_ACCESS_KEY, LOCAL_API_KEY, LOCAL_REGION, LOCAL_SECRET_KEY };

export type LocalHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** What a handler factory (OpenAPI, chat) gets to build its handler. */
export interface LocalServiceContext {
  readonly store: MultipartStore;
  readonly dataDir: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly apiKey: string;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  readonly faults: Faults;
  /** The options startLocalServer was called with (maxRunning, model, upstream … live here). */
  readonly options: LocalServerOptions;
}

export type HandlerFactory = (
  context: LocalServiceContext,
) => LocalHandler | { handler: LocalHandler; close?: () => Promise<void> } | Promise<LocalHandler | { handler: LocalHandler; close?: () => Promise<void> }>;

export interface LocalServerOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Where objects, uploads and job state live. @default a temp dir, removed on close */
  readonly dataDir?: string;
  /** @default LOCAL_ACCESS_KEY */
  readonly accessKey?: string;
  /** @default LOCAL_SECRET_KEY */
  readonly secretKey?: string;
  /** STS token every TOS request must carry. @default none */
  readonly securityToken?: string;
  /** @default LOCAL_API_KEY */
  readonly apiKey?: string;
  /** @default LOCAL_REGION ('cn-beijing') */
  readonly region?: string;
  /** Fault spec (see faults.ts) or parsed rules. @default none */
  readonly faults?: string | readonly FaultRule[];
  /** @default 0 */
  readonly seed?: number;
  /** Duration of a `stall` fault without its own. @default 60000 */
  readonly stallMs?: number;
  /** Delay before every request is handled. @default 0 */
  readonly latencyMs?: number;
  /** Smallest non-last multipart part. @default 5 MiB, as TOS */
  readonly minPartSize?: number;
  /** Idle keep-alive; above the SDK agent's 30 s so the server never closes a socket the client reuses. @default 65000 */
  readonly keepAliveTimeoutMs?: number;
  /** The OpenAPI (batch jobs) side; `false` leaves it out (501). @default the job engine */
  readonly openapi?: HandlerFactory | false;
  /** The chat data plane; `false` leaves it out (501). @default echo model or --upstream */
  readonly chat?: HandlerFactory | false;
  /** Called with errors a handler threw that became a 500 (for the CLI's log). */
  readonly onError?: (err: unknown) => void;
  /** Passed through for the job runner. @default 3 */
  readonly maxRunning?: number;
  /** Passed through for the chat side: 'echo' or an upstream. */
  readonly model?: string;
  readonly upstream?: string;
  readonly upstreamKey?: string;
}

export interface LocalServer {
  /** `http://127.0.0.1:P`; the TOS SDK wants it without the scheme (`endpoint: '127.0.0.1:P', secure: false`). */
  readonly tosEndpoint: string;
  readonly openapiEndpoint: string;
  /** `http://127.0.0.1:P/api/v3` */
  readonly chatBaseUrl: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly apiKey: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly store: MultipartStore;
  /** Stops listening, drops open connections, closes handlers, removes a temp data dir. */
  close(): Promise<void>;
}

type Route = 'chat' | 'openapi' | 'tos';

function routeOf(req: http.IncomingMessage): Route {
  const url = req.url ?? '/';
  const pathPart = url.replace(/^https?:\/\/[^/]*/i, '');
  if (pathPart.startsWith('/api/v3/')) return 'chat';
  const q = pathPart.indexOf('?');
  if (q >= 0 && /(?:^|&)Action=/.test(pathPart.slice(q + 1))) return 'openapi';
  return 'tos';
}

function actionOf(req: http.IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://local');
  return url.searchParams.get('Action') ?? '';
}

function arkRequestId(): string {
  const stamp = new Date(Date.now() + 8 * 3600_000).toISOString().replace(/\D/g, '').slice(0, 14);
  return stamp + randomBytes(10).toString('hex').toUpperCase();
}

async function drain(req: http.IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // A failed request's body is read and dropped so the client sees the status, not EPIPE.
  }
}

const CHAT_FAULT_CODES: Readonly<Record<number, { code: string; type: string }>> = {
  400: { code: 'InvalidParameter', type: 'BadRequest' },
  401: { code: 'AuthenticationError', type: 'Unauthorized' },
  403: { code: 'AccessDenied', type: 'Forbidden' },
  404: { code: 'InvalidEndpointOrModel.NotFound', type: 'NotFound' },
  429: { code: 'RateLimitExceeded.EndpointRPMExceeded', type: 'TooManyRequests' },
  500: { code: 'InternalServiceError', type: 'InternalServerError' },
  503: { code: 'ServerOverloaded', type: 'ServiceUnavailable' },
};

function sendFaultStatus(route: Route, req: http.IncomingMessage, res: http.ServerResponse, status: number, region: string): void {
  const message = `Injected fault: HTTP ${status}.`;
  if (route === 'tos') {
    const code = tosCodeForStatus(status);
    const ec = code in TOS_ERRORS ? TOS_ERRORS[code as TosErrorCode].ec : '0005-00000001';
    sendTosError(req, res, { status, code, message, ec }, newTosRequestId(), req.url ?? '/');
    return;
  }
  const requestId = arkRequestId();
  let body: unknown;
  if (route === 'chat') {
    const known = CHAT_FAULT_CODES[status] ?? { code: status >= 500 ? 'InternalServiceError' : 'InvalidParameter', type: 'Error' };
    body = { error: { code: known.code, message: `${message} Request ID: ${requestId}`, param: null, type: known.type } };
    res.setHeader('x-request-id', requestId);
    if (status === 429) res.setHeader('retry-after', '1');
  } else {
    const url = new URL(req.url ?? '/', 'http://local');
    const code = status === 429 ? 'FlowLimitExceeded' : status >= 500 ? 'InternalError' : status === 403 ? 'AccessDenied' : 'InvalidParameter';
    body = {
      ResponseMetadata: {
        RequestId: requestId,
        Action: url.searchParams.get('Action') ?? '',
        Version: url.searchParams.get('Version') ?? '',
        Service: 'ark',
        Region: region,
        Error: { Code: code, Message: message },
      },
    };
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function notConfigured(route: Route): LocalHandler {
  return async (req, res) => {
    await drain(req);
    const text = JSON.stringify({ error: { code: 'NotImplemented', message: `No ${route} handler is configured in this local service.`, param: null, type: 'NotImplemented' } });
    res.writeHead(501, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
}

export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const host = options.host ?? '127.0.0.1';
  const accessKey = options.accessKey ?? LOCAL_ACCESS_KEY;
  const secretKey = options.secretKey ?? LOCAL_SECRET_KEY;
  const apiKey = options.apiKey ?? LOCAL_API_KEY;
  const region = options.region ?? LOCAL_REGION;
  const latencyMs = options.latencyMs ?? 0;
  // Parsed first: a bad spec is a usage error and must not leave a temp dir behind.
  const faults = createFaults(options.faults, options.seed ?? 0, { stallMs: options.stallMs });
  const ownDataDir = options.dataDir === undefined;
  const dataDir = ownDataDir ? await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-serve-')) : path.resolve(options.dataDir!);
  await fs.mkdir(dataDir, { recursive: true });
  const store = createDiskStore(path.join(dataDir, 'tos'), { minPartSize: options.minPartSize });
  const tos = createTosHandler({ store, accessKey, secretKey, region, securityToken: options.securityToken });
  const closing = new AbortController();
  // Every request waiting out --latency listens on this one signal.
  setMaxListeners(0, closing.signal);

  let routes: Record<Route, LocalHandler> = { tos: tos as LocalHandler, openapi: notConfigured('openapi'), chat: notConfigured('chat') };
  const closers: (() => Promise<void>)[] = [];

  const decide = (route: Route, req: http.IncomingMessage): { fault: FaultDecision | null; operation: string } => {
    if (route === 'chat') return { fault: faults.decide('chat'), operation: 'chat' };
    if (route === 'openapi') {
      const action = actionOf(req);
      const ownRule = faults.rules.some((r) => r.operation === action);
      return { fault: faults.decide(ownRule ? action : 'openapi'), operation: action };
    }
    let operation = 'unsupported';
    try {
      operation = parseTosRequest(req).operation;
    } catch {
      // Malformed URLs get their 400 from the handler; no fault rule can name them.
    }
    return { fault: faults.decide(operation), operation };
  };

  const server = http.createServer(async (req, res) => {
    try {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: closing.signal });
      const route = routeOf(req);
      const { fault, operation } = decide(route, req);
      if (fault?.kind === 'stall') await sleep(fault.ms, undefined, { signal: closing.signal });
      if (fault?.kind === 'status') {
        await drain(req);
        sendFaultStatus(route, req, res, fault.status, region);
        return;
      }
      if (fault?.kind === 'reset') {
        if (route === 'tos' && operation === 'getObject') {
          await tos(req, res, { resetMidBody: true });
          return;
        }
        req.socket.resetAndDestroy();
        return;
      }
      await routes[route](req, res);
    } catch (err) {
      if (closing.signal.aborted) {
        res.destroy();
        return;
      }
      options.onError?.(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      req.resume();
      const text = JSON.stringify({ error: { code: 'InternalError', message: 'The local service failed to handle this request.' } });
      res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
  server.headersTimeout = server.keepAliveTimeout + 1_000;
  // Multi-GiB uploads must not hit Node's default 5 min whole-request timeout.
  server.requestTimeout = 0;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if (ownDataDir) await fs.rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const context: LocalServiceContext = { store, dataDir, region, accessKey, secretKey, apiKey, baseUrl, faults, options };
  const ark = arkServiceFactories(options);
  const build = async (factory: HandlerFactory | false | undefined, route: Route): Promise<LocalHandler> => {
    if (!factory) return notConfigured(route);
    const built = await factory(context);
    if (typeof built === 'function') return built;
    if (built.close) closers.push(built.close);
    return built.handler;
  };
  try {
    routes = {
      tos: tos as LocalHandler,
      openapi: await build(options.openapi ?? ark.openapi, 'openapi'),
      chat: await build(options.chat ?? ark.chat, 'chat'),
    };
  } catch (err) {
    server.close();
    if (ownDataDir) await fs.rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  let closed: Promise<void> | null = null;
  return {
    tosEndpoint: baseUrl,
    openapiEndpoint: baseUrl,
    chatBaseUrl: `${baseUrl}/api/v3`,
    region,
    accessKey,
    secretKey,
    apiKey,
    host,
    port,
    dataDir,
    store,
    close() {
      closed ??= (async () => {
        closing.abort();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        for (const close of closers) await close();
        if (ownDataDir) await fs.rm(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
