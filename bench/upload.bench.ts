/**
 * TOS transfer throughput against a loopback `ark-batch serve` (in its own process), and the
 * overlap of `prep` with its upload on the 1M-row dataset.
 *
 *   node --import tsx bench/upload.bench.ts [dataset.csv] [rawMiB]
 *
 * Every case runs as its own CLI process under /usr/bin/time, so wall time and peak RSS are the
 * process's own. Baselines: `prep -o file` (prep alone) and `cat file > /dev/null`-style copies.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createTosClient } from '../lib/tos/client.ts';

const root = path.join(import.meta.dirname, '..');
const dataset = process.argv[2] ?? path.join(root, 'bench', 'data', 'dataset-1000000-seed1.csv');
const rawMiB = Number(process.argv[3] ?? 512);
const bin = `${process.execPath} ${path.join(root, 'bin', 'ark-batch.js')}`;
const PREP = `prep ${JSON.stringify(dataset)} --id id --user 'Summarise: {{text}} ({{category}})' --max-tokens 64 -q`;

interface Measured {
  readonly label: string;
  readonly seconds: number;
  readonly rssMB: number;
  readonly bytes: number;
}

function run(label: string, line: string, env: Record<string, string>, bytes: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    // sh -c so pipelines are real; /usr/bin/time reports the peak RSS of the largest process.
    const child = spawn('/usr/bin/time', ['-f', '%e %M', 'sh', '-c', line], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.once('error', reject);
    child.once('close', (code) => {
      const last = err.trim().split('\n').at(-1) ?? '';
      const [secs, kb] = last.split(' ').map(Number);
      if (code !== 0 || !Number.isFinite(secs)) return reject(new Error(`${label} failed (${code}): ${err}`));
      resolve({ label, seconds: secs!, rssMB: kb! / 1024, bytes });
    });
  });
}

async function main(): Promise<void> {
  if (!existsSync(dataset)) throw new Error(`No dataset at ${dataset}; generate it with bench/gen-dataset.ts`);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-bench-up-'));
  const server = spawn(process.execPath, [path.join(root, 'bin', 'ark-batch.js'), 'serve', '--data', path.join(work, 'serve')], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const [first] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    const ep = JSON.parse(first) as { tosEndpoint: string; accessKey: string; secretKey: string };
    const env = { VOLC_ACCESSKEY: ep.accessKey, VOLC_SECRETKEY: ep.secretKey, TOS_ENDPOINT: ep.tosEndpoint };
    const client = createTosClient({ accessKeyId: ep.accessKey, secretAccessKey: ep.secretKey, region: 'cn-beijing', tosEndpoint: ep.tosEndpoint });
    await client.createBucket({ bucket: 'bench' });

    const raw = path.join(work, 'raw.bin');
    const out = createWriteStream(raw);
    for (let i = 0; i < rawMiB; i++) if (!out.write(randomBytes(1024 * 1024))) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const rawBytes = rawMiB * 1024 * 1024;
    const datasetBytes = (await fs.stat(dataset)).size;

    const results: Measured[] = [];
    const show = (m: Measured) => {
      results.push(m);
      console.log(`${m.label.padEnd(44)} ${m.seconds.toFixed(2).padStart(7)} s ${(m.bytes / 1e6 / m.seconds).toFixed(0).padStart(6)} MB/s ${m.rssMB.toFixed(0).padStart(5)} MB RSS`);
    };
    show(await run(`cp file (disk baseline, ${rawMiB} MiB)`, `cp ${raw} ${raw}.copy && rm ${raw}.copy`, env, rawBytes));
    show(await run(`upload file, 8 MiB × 4`, `${bin} upload ${raw} tos://bench/raw.bin -q`, env, rawBytes));
    show(await run(`upload stdin, 8 MiB × 4`, `${bin} upload - tos://bench/raw-stdin.bin -q < ${raw}`, env, rawBytes));
    show(await run(`upload file, 16 MiB × 8`, `${bin} upload ${raw} tos://bench/raw16.bin --part-size 16MiB --concurrency 8 -q`, env, rawBytes));
    show(await run(`download to file`, `${bin} download tos://bench/raw.bin -o ${raw}.down -q && rm ${raw}.down`, env, rawBytes));
    show(await run(`download to stdout | cat > /dev/null`, `${bin} download tos://bench/raw.bin -q | cat > /dev/null`, env, rawBytes));

    const prepAlone = await run('prep -o file (prep alone)', `${bin} ${PREP} -o ${path.join(work, 'prep.jsonl')}`, env, datasetBytes);
    show(prepAlone);
    show(await run('prep --upload (one process)', `${bin} ${PREP} --upload tos://bench/prep-direct.jsonl`, env, datasetBytes));
    show(await run('prep | upload - (two processes)', `${bin} ${PREP} | ${bin} upload - tos://bench/prep-piped.jsonl -q`, env, datasetBytes));
    for (const r of results.slice(-2)) console.log(`${r.label}: ${(r.seconds / prepAlone.seconds).toFixed(2)} × prep alone, peak RSS ${r.rssMB.toFixed(0)} MB`);
    console.log(`Node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
