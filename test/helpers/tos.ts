import { TosClient } from '@volcengine/tos-sdk';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import type { LocalServer } from '../../lib/local/server.ts';
import { decodePath, formatTosDate, parseRawQuery, signTosRequest } from '../../lib/local/tos-signature.ts';

export type Style = 'path' | 'virtual-host';

/** The real SDK pointed at the local server, in path style or (through `proxy`) virtual-host style. */
export function sdkClient(server: Pick<LocalServer, 'tosEndpoint' | 'accessKey' | 'secretKey' | 'region'>, style: Style, extra: Record<string, unknown> = {}): TosClient {
  const common = { accessKeyId: server.accessKey, accessKeySecret: server.secretKey, region: server.region, maxRetryCount: 0, requestTimeout: 30_000, ...extra };
  if (style === 'path') return new TosClient({ ...common, endpoint: server.tosEndpoint.replace(/^http:\/\//, ''), secure: false });
  // The SDK keeps the signed Host `bucket.tos-cn-beijing.volces.com` and sends the request to the proxy URL.
  return new TosClient({ ...common, proxy: server.tosEndpoint } as ConstructorParameters<typeof TosClient>[0]);
}

export interface RawRequest {
  readonly method: string;
  /** As it goes on the wire, percent-encoded, starting with '/'. */
  readonly rawPath: string;
  readonly rawQuery?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer | Readable;
  readonly date?: Date;
  /** Sign with these instead of the server's. */
  readonly accessKey?: string;
  readonly secretKey?: string;
  /** Change the request after signing (tamper tests). */
  readonly tamper?: (req: { method: string; rawPath: string; rawQuery: string; headers: Record<string, string> }) => void;
  readonly unsigned?: boolean;
}

/** A TOS request signed like the SDK signs it, sent with undici so tests control every byte. */
export async function signedRequest(server: Pick<LocalServer, 'tosEndpoint' | 'accessKey' | 'secretKey' | 'region'>, req: RawRequest): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const host = new URL(server.tosEndpoint).host;
  const headers: Record<string, string> = { host, 'x-tos-date': formatTosDate(req.date ?? new Date()), 'x-tos-content-sha256': 'UNSIGNED-PAYLOAD', ...req.headers };
  const rawQuery = req.rawQuery ?? '';
  if (!req.unsigned) {
    const signedHeaders = Object.keys(headers).filter((h) => h === 'host' || h.startsWith('x-tos-')).sort();
    headers.authorization = signTosRequest({
      accessKey: req.accessKey ?? server.accessKey,
      secretKey: req.secretKey ?? server.secretKey,
      region: server.region,
      tosDate: headers['x-tos-date'],
      method: req.method,
      decodedPath: decodePath(req.rawPath),
      query: parseRawQuery(rawQuery),
      signedHeaders,
      headers,
    }).authorization;
  }
  const sent = { method: req.method, rawPath: req.rawPath, rawQuery, headers };
  req.tamper?.(sent);
  const res = await request(`${server.tosEndpoint}${sent.rawPath}${sent.rawQuery ? `?${sent.rawQuery}` : ''}`, {
    method: sent.method as 'GET',
    headers: sent.headers,
    body: req.body,
  });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}
