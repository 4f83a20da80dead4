import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv, requireApiKey, requireCredentials } from '../cli/config.ts';

test('config comes from the documented variables with regional defaults', () => {
  const c = configFromEnv({ VOLC_ACCESSKEY: 'AK', VOLC_SECRETKEY: 'SK', VOLC_REGION: 'cn-shanghai' });
  assert.equal(c.tosEndpoint, 'https://tos-cn-shanghai.volces.com');
  assert.equal(c.arkBaseUrl, 'https://ark.cn-shanghai.volces.com/api/v3');
  assert.equal(c.openapiEndpoint, 'https://open.volcengineapi.com');
  assert.equal(c.project, 'default');
  assert.deepEqual(requireCredentials(c), { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: undefined });
});

test('a missing credential names the variable and never a value', () => {
  assert.throws(() => requireCredentials(configFromEnv({ VOLC_ACCESSKEY: 'AK-SECRET-VALUE' })), (e: Error) => /VOLC_SECRETKEY/.test(e.message) && !/AK-SECRET-VALUE/.test(e.message));
  assert.throws(() => requireCredentials(configFromEnv({})), /E_CONFIG VOLC_ACCESSKEY is not set/);
  assert.throws(() => requireApiKey(configFromEnv({})), /ARK_API_KEY/);
});
