import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { createTosClient } from '../lib/tos/client.ts';
import { listObjects } from '../lib/tos/list.ts';
import { removePrefix } from '../lib/tos/remove-prefix.ts';

let server: LocalServer;
let client: ReturnType<typeof createTosClient>;
before(async () => {
  server = await startLocalServer({ minPartSize: 1024 });
  client = createTosClient({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey, region: server.region, tosEndpoint: server.tosEndpoint });
  await client.createBucket({ bucket: 'rm-bkt' });
});
after(() => server.close());

const keys = async (prefix = '') => {
  const out: string[] = [];
  for await (const e of listObjects({ client, bucket: 'rm-bkt', prefix })) if (e.type === 'object') out.push(e.key);
  return out.sort();
};

test('removePrefix deletes every object and aborts every unfinished upload under the prefix, and nothing beside it', async () => {
  for (const key of ['scratch/run-1/a.jsonl', 'scratch/run-1/deep/b.jsonl', 'scratch/run-10/keep.jsonl', 'scratch/run-1', 'other.jsonl']) {
    await client.putObject({ bucket: 'rm-bkt', key, body: Buffer.from(key) });
  }
  const mine = await client.createMultipartUpload({ bucket: 'rm-bkt', key: 'scratch/run-1/half.jsonl' });
  await client.uploadPart({ bucket: 'rm-bkt', key: 'scratch/run-1/half.jsonl', uploadId: mine.data.UploadId, partNumber: 1, body: Buffer.alloc(2048, 1) });
  const theirs = await client.createMultipartUpload({ bucket: 'rm-bkt', key: 'scratch/run-10/half.jsonl' });

  const r = await removePrefix({ client, bucket: 'rm-bkt', prefix: 'scratch/run-1/', retries: 0 });
  assert.deepEqual(r, { deleted: 2, aborted: 1 });
  assert.deepEqual(await keys(), ['other.jsonl', 'scratch/run-1', 'scratch/run-10/keep.jsonl']);
  const uploads = (await client.listMultipartUploads({ bucket: 'rm-bkt' })).data.Uploads.map((u) => u.UploadId);
  assert.deepEqual(uploads, [theirs.data.UploadId]);
  assert.deepEqual(await removePrefix({ client, bucket: 'rm-bkt', prefix: 'scratch/run-1/' }), { deleted: 0, aborted: 0 }, 'a second sweep finds nothing');
});

test('removePrefix refuses a prefix that could reach beyond one scratch folder', async () => {
  for (const prefix of ['', '/', 'scratch/run-1']) {
    await assert.rejects(removePrefix({ client, bucket: 'rm-bkt', prefix }), (e: { code: string }) => e.code === 'E_USAGE', JSON.stringify(prefix));
  }
  assert.ok((await keys()).includes('other.jsonl'));
});
