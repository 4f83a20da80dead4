import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { request } from 'undici';
import OfficialSignerModule from '@volcengine/openapi/lib/base/sign.js';
import { signRequest } from '../lib/ark/signer.ts';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { sdkClient } from './helpers/tos.ts';

const OfficialSigner = OfficialSignerModule.default;
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');

type Endpoints = Pick<LocalServer, 'tosEndpoint' | 'openapiEndpoint' | 'chatBaseUrl' | 'accessKey' | 'secretKey' | 'apiKey' | 'region'>;

/** An OpenAPI call signed by the official @volcengine/openapi Signer: an independent client. */
async function officialCall(svc: Endpoints, action: string, params: Record<string, unknown>): Promise<{ status: number; json: any }> {
  const body = JSON.stringify(params);
  const host = new URL(svc.openapiEndpoint).host;
  const signer = new OfficialSigner({ region: svc.region, method: 'POST', pathname: '/', params: { Action: action, Version: '2024-01-01' }, headers: { Host: host }, body }, 'ark');
  signer.addAuthorization({ accessKeyId: svc.accessKey, secretKey: svc.secretKey });
  const res = await request(`${svc.openapiEndpoint}/?Action=${action}&Version=2024-01-01`, {
    method: 'POST',
    headers: { ...(signer.request.headers as Record<string, string>), 'Content-Type': 'application/json' },
    body,
  });
  return { status: res.statusCode, json: await res.body.json() };
}

/** The same call signed by our own signer. */
async function ourCall(svc: Endpoints, action: string, params: Record<string, unknown>): Promise<{ status: number; json: any }> {
  const body = JSON.stringify(params);
  const url = `${svc.openapiEndpoint}/?Action=${action}&Version=2024-01-01`;
  const headers = signRequest({ method: 'POST', url, body, credentials: { accessKeyId: svc.accessKey, secretAccessKey: svc.secretKey }, region: svc.region, service: 'ark' });
  const res = await request(url, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body });
  return { status: res.statusCode, json: await res.body.json() };
}

function batchLines(n: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    const content = i % 7 === 0 ? `question ${i} [[fail:InvalidParameter]]` : `question ${i} 你好`;
    lines.push(JSON.stringify({ custom_id: `q-${i}`, body: { messages: [{ role: 'user', content }], max_tokens: 64 } }));
  }
  return lines.join('\n') + '\n';
}

async function waitForPhase(svc: Endpoints, id: string, phases: string[], timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await ourCall(svc, 'GetBatchInferenceJob', { Id: id });
    assert.equal(got.status, 200, JSON.stringify(got.json));
    if (phases.includes(got.json.Result.Status.Phase)) return got.json.Result;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${got.json.Result.Status.Phase}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readObject(svc: Endpoints, bucket: string, key: string): Promise<string> {
  const { data } = await sdkClient(svc, 'path').getObjectV2({ bucket, key, dataType: 'stream' });
  const chunks: Buffer[] = [];
  for await (const c of data.content as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function idsOf(jsonl: string): string[] {
  return jsonl.split('\n').filter(Boolean).map((l) => JSON.parse(l).custom_id as string);
}

test('a whole batch job over the wire: SDK upload, officially signed create, results and errors in Ark shapes', async () => {
  const svc = await startLocalServer();
  try {
    const tos = sdkClient(svc, 'path');
    await tos.createBucket({ bucket: 'jobs' });
    await tos.putObject({ bucket: 'jobs', key: 'in/batch.jsonl', body: Buffer.from(batchLines(50)) });
    const created = await officialCall(svc, 'CreateBatchInferenceJob', {
      Name: 'e2e',
      ModelReference: { FoundationModel: { Name: 'doubao-pro', ModelVersion: '240615' } },
      InputFileTosLocation: { BucketName: 'jobs', ObjectKey: 'in/batch.jsonl' },
      OutputDirTosLocation: { BucketName: 'jobs', ObjectKey: 'out/' },
      CompletionWindow: '1d',
    });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const id = created.json.Result.Id as string;
    assert.match(id, /^bi-\d{14}-[a-z0-9]{5}$/);
    const job = await waitForPhase(svc, id, ['Completed', 'Failed']);
    assert.equal(job.Status.Phase, 'Completed');
    assert.deepEqual(job.RequestCounts, { Total: 50, Completed: 43, Failed: 7 });
    const results = await readObject(svc, 'jobs', `out/${id}/output/results.jsonl`);
    const errors = await readObject(svc, 'jobs', `${job.ErrorFileTosLocation.ObjectKey}`);
    assert.equal(job.ErrorFileTosLocation.ObjectKey, `out/${id}/error/errors.jsonl`);
    const all = [...idsOf(results), ...idsOf(errors)].sort();
    assert.deepEqual(all, Array.from({ length: 50 }, (_, i) => `q-${i + 1}`).sort(), 'every request exactly once');
    const ok = JSON.parse(results.split('\n')[0]!);
    assert.deepEqual(Object.keys(ok), ['id', 'custom_id', 'error', 'response']);
    assert.equal(ok.error, null);
    assert.equal(ok.response.status_code, 200);
    assert.equal(ok.response.body.object, 'chat.completion');
    const bad = JSON.parse(errors.split('\n')[0]!);
    assert.equal(bad.error.code, 'InvalidParameter');
    assert.match(bad.custom_id, /^q-\d*7$|^q-(14|21|28|35|42|49)$/);
    const listed = await tos.listObjectsType2({ bucket: 'jobs', prefix: `out/${id}/` });
    assert.deepEqual(listed.data.Contents.map((c: { Key: string }) => c.Key).sort(), [`out/${id}/error/errors.jsonl`, `out/${id}/output/results.jsonl`]);

    const again = await officialCall(svc, 'CreateBatchInferenceJob', {
      Name: 'e2e',
      ModelReference: { FoundationModel: { Name: 'doubao-pro', ModelVersion: '240615' } },
      InputFileTosLocation: { BucketName: 'jobs', ObjectKey: 'in/batch.jsonl' },
      OutputDirTosLocation: { BucketName: 'jobs', ObjectKey: 'out/' },
    });
    assert.equal(again.status, 200, 'a finished job does not block a new one for the same input');

    const chat = await request(`${svc.chatBaseUrl}/batch/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'ep-bi-local', messages: [{ role: 'user', content: 'hello' }] }),
    });
    const reply = (await chat.body.json()) as any;
    assert.equal(chat.statusCode, 200);
    assert.equal(reply.model, 'local-echo');
  } finally {
    await svc.close();
  }
});

function startServeProcess(dataDir: string): Promise<{ child: ChildProcess; endpoints: Endpoints }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data', dataDir, '--latency', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, endpoints: JSON.parse(line) }));
  });
}

test('serve killed with SIGKILL mid-job continues after a restart without losing or duplicating a line', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'serve-kill-'));
  let current: ChildProcess | undefined;
  try {
    const first = await startServeProcess(dataDir);
    current = first.child;
    const svc = first.endpoints;
    const tos = sdkClient(svc, 'path');
    await tos.createBucket({ bucket: 'kill' });
    await tos.putObject({ bucket: 'kill', key: 'batch.jsonl', body: Buffer.from(batchLines(300)) });
    const created = await ourCall(svc, 'CreateBatchInferenceJob', {
      Name: 'kill-test',
      ModelReference: { CustomModelId: 'cm-local' },
      InputFileTosLocation: { BucketName: 'kill', ObjectKey: 'batch.jsonl' },
      OutputDirTosLocation: { BucketName: 'kill', ObjectKey: 'out/' },
    });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const id = created.json.Result.Id as string;
    // Kill once some, not all, lines are done.
    let done = 0;
    while (done < 20) {
      const got = await ourCall(svc, 'GetBatchInferenceJob', { Id: id });
      done = got.json.Result.RequestCounts.Completed + got.json.Result.RequestCounts.Failed;
      if (done < 20) await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    assert.ok(done < 300, `killed mid-job (${done} of 300 done)`);
    await new Promise((r) => first.child.once('exit', r));

    const second = await startServeProcess(dataDir);
    current = second.child;
    const job = await waitForPhase(second.endpoints, id, ['Completed', 'Failed'], 90_000);
    assert.equal(job.Status.Phase, 'Completed');
    assert.equal(job.RequestCounts.Total, 300);
    const results = await readObject(second.endpoints, 'kill', `out/${id}/output/results.jsonl`);
    const errors = await readObject(second.endpoints, 'kill', `out/${id}/error/errors.jsonl`);
    const all = [...idsOf(results), ...idsOf(errors)];
    assert.equal(all.length, 300, 'no line lost or duplicated');
    assert.equal(new Set(all).size, 300);
    assert.equal(idsOf(errors).length, Math.floor(300 / 7));
  } finally {
    current?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});
