import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { createTosClient } from '../lib/tos/client.ts';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'ark-batch.js');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a shell line (so pipes between two ark-batch processes are real pipes) with the given env. */
function sh(line: string, env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, AB: `${process.execPath} ${BIN}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

describe('upload, download and ls commands against the local service', () => {
  let server: LocalServer;
  let dir: string;
  let env: Record<string, string>;
  let client: ReturnType<typeof createTosClient>;
  before(async () => {
    server = await startLocalServer({ minPartSize: 1024 });
    client = createTosClient({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey, region: server.region, tosEndpoint: server.tosEndpoint });
    await client.createBucket({ bucket: 'cli-bkt' });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-cli-tos-'));
    env = { VOLC_ACCESSKEY: server.accessKey, VOLC_SECRETKEY: server.secretKey, TOS_ENDPOINT: server.tosEndpoint };
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a file uploads in parts with --json, lists, and downloads to an identical file', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 17);
    await fs.writeFile(path.join(dir, 'in.bin'), data);
    const up = await sh('$AB upload in.bin tos://cli-bkt/dir/in.bin --part-size 5MiB --json', env, dir);
    assert.equal(up.code, 0, up.stderr);
    const summary = JSON.parse(up.stdout.toString());
    assert.deepEqual({ bucket: summary.bucket, key: summary.key, bytes: summary.bytes, parts: summary.parts }, { bucket: 'cli-bkt', key: 'dir/in.bin', bytes: data.length, parts: 3 });
    for (const field of ['crc64', 'etag', 'seconds']) assert.ok(field in summary, field);

    const ls = await sh('$AB ls tos://cli-bkt/dir/ --json', env, dir);
    assert.equal(ls.code, 0, ls.stderr);
    const entries = ls.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(entries.map((e) => [e.key, e.size]), [['dir/in.bin', data.length]]);

    const down = await sh('$AB download tos://cli-bkt/dir/in.bin -o out.bin --quiet', env, dir);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(sha(await fs.readFile(path.join(dir, 'out.bin'))), sha(data));
  });

  test('prep piped into upload - and prep --upload store the same JSONL', async () => {
    await fs.writeFile(path.join(dir, 'rows.csv'), 'id,text\n1,你好\n2,emoji 😀\n');
    const piped = await sh("$AB prep rows.csv --id id --user 'Say: {{text}}' -q | $AB upload - tos://cli-bkt/piped.jsonl -q", env, dir);
    assert.equal(piped.code, 0, piped.stderr);
    const direct = await sh("$AB prep rows.csv --id id --user 'Say: {{text}}' --upload tos://cli-bkt/direct.jsonl --json", env, dir);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(JSON.parse(direct.stdout.toString()).upload.key, 'direct.jsonl');
    const read = async (key: string) => (await client.getObjectV2({ bucket: 'cli-bkt', key, dataType: 'buffer' })).data.content.toString('utf8');
    const a = await read('piped.jsonl');
    assert.equal(a, await read('direct.jsonl'));
    assert.match(a, /"custom_id":"2".*emoji 😀/);
  });

  test('a missing credential is a usage error naming the variable, and no secret is printed on failures', async () => {
    const noKey = await sh('$AB ls tos://cli-bkt/', { ...env, VOLC_ACCESSKEY: '' }, dir);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /VOLC_ACCESSKEY is not set/);
    const wrong = await sh('$AB download tos://cli-bkt/nope.bin -o x.bin', { ...env, VOLC_SECRETKEY: 'wrong-secret-value-123' }, dir);
    assert.equal(wrong.code, 3);
    assert.doesNotMatch(wrong.stderr + wrong.stdout.toString(), /wrong-secret-value-123/);
    assert.doesNotMatch(wrong.stderr, new RegExp(server.secretKey));
    await assert.rejects(fs.access(path.join(dir, 'x.bin')));
  });
});
