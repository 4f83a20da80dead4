import { ArkBatchError } from '../lib/errors.ts';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';

/**
 * Where the cloud (or the embedded local service) is and how to sign for it. Read from the
 * environment once, here in cli/ only; flags override; `--local` replaces everything with the
 * embedded service.
 */
export interface CloudConfig {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  readonly region: string;
  /** A URL: `https://tos-cn-beijing.volces.com` or `http://127.0.0.1:P`. */
  readonly tosEndpoint: string;
  readonly openapiEndpoint: string;
  readonly project: string;
  readonly apiKey?: string;
  /** Batch chat / chat base URL, e.g. `https://ark.cn-beijing.volces.com/api/v3`. */
  readonly arkBaseUrl: string;
  /** True when this points at the embedded local service. */
  readonly local: boolean;
}

export const DEFAULT_REGION = 'cn-beijing';

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const region = env.VOLC_REGION || DEFAULT_REGION;
  return {
    accessKeyId: env.VOLC_ACCESSKEY || undefined,
    secretAccessKey: env.VOLC_SECRETKEY || undefined,
    sessionToken: env.VOLC_SESSION_TOKEN || undefined,
    region,
    tosEndpoint: env.TOS_ENDPOINT || `https://tos-${region}.volces.com`,
    openapiEndpoint: env.ARK_OPENAPI_ENDPOINT || 'https://open.volcengineapi.com',
    project: env.ARK_PROJECT || 'default',
    apiKey: env.ARK_API_KEY || undefined,
    arkBaseUrl: env.ARK_BASE_URL || `https://ark.${region}.volces.com/api/v3`,
    local: false,
  };
}

/** The AK/SK pair, or a config error naming the missing variable. Values never appear in messages. */
export function requireCredentials(config: CloudConfig): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  if (!config.accessKeyId) throw new ArkBatchError('E_CONFIG', 'VOLC_ACCESSKEY is not set (or pass --local to use the embedded service)');
  if (!config.secretAccessKey) throw new ArkBatchError('E_CONFIG', 'VOLC_SECRETKEY is not set (or pass --local to use the embedded service)');
  return { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, sessionToken: config.sessionToken };
}

export function requireApiKey(config: CloudConfig): string {
  if (!config.apiKey) throw new ArkBatchError('E_CONFIG', 'ARK_API_KEY is not set (or pass --local to use the embedded service)');
  return config.apiKey;
}

/** Data of the embedded service, kept between commands so `submit` then `wait` see the same jobs. */
export const LOCAL_DATA_DIR = '.ark-batch/local';

/**
 * Starts the embedded service for `--local` and returns a config pointing at it. Jobs run
 * while some command holds the service open; a later command picks them up where they were.
 */
export async function startLocalConfig(options: { dataDir?: string } = {}): Promise<{ config: CloudConfig; server: LocalServer }> {
  const server = await startLocalServer({ dataDir: options.dataDir ?? LOCAL_DATA_DIR });
  return {
    server,
    config: {
      accessKeyId: server.accessKey,
      secretAccessKey: server.secretKey,
      region: server.region,
      tosEndpoint: server.tosEndpoint,
      openapiEndpoint: server.openapiEndpoint,
      project: 'default',
      apiKey: server.apiKey,
      arkBaseUrl: server.chatBaseUrl,
      local: true,
    },
  };
}
