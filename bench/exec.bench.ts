/**
 * `exec` against the local echo endpoint: requests/s at concurrency 1…1024, the client's CPU
 * per 1,000 requests, and peak RSS over a 100k-request run (flat memory is the claim).
 * The service runs in its own process so the client's CPU and RSS are the client's alone.
 * Baseline: a bare undici request loop at the same concurrency (no retry loop, no lines written).
 *
 *   node --import tsx bench/exec.bench.ts [requests-per-point=4000 (0: skip the sweep)] [rss-requests=100000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { execBatch } from '../lib/chat/exec.ts';
import { LOCAL_API_KEY, startLocalServer } from '../lib/local/server.ts';

if (process.argv[2] === '--serve') {
  const s = await startLocalServer();
  process.stdout.write(s.chatBaseUrl + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => void s.close().then(() => process.exit(0)));
} else {
  await main();
}

function batch(count: number, offset: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) {
        const id = offset + i;
        yield JSON.stringify({ custom_id: `b-${id}`, body: { messages: [{ role: 'user', content: `评论 ${id}: the product arrived quickly 😀` }], max_tokens: 32 } }) + '\n';
      }
    })(),
  );
}

async function startService(): Promise<{ baseUrl: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const baseUrl = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { baseUrl, stop: () => child.stdin.end() };
}

async function measure<T>(f: () => Promise<T>): Promise<{ wallS: number; cpuS: number; peakRss: number; value: T }> {
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { wallS, cpuS: (c.user + c.system) / 1e6, peakRss, value };
}

async function bareLoop(baseUrl: string, count: number, concurrency: number): Promise<number> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < count) {
      const id = next++;
      const body = JSON.stringify({ model: 'ep-bi-bench', messages: [{ role: 'user', content: `评论 ${id}: the product arrived quickly 😀` }], max_tokens: 32 });
      const res = await request(`${baseUrl}/batch/chat/completions`, { method: 'POST', body, headers: { authorization: `Bearer ${LOCAL_API_KEY}`, 'content-type': 'application/json' }, dispatcher: agent });
      await res.body.json();
      if (res.statusCode === 200) ok++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await agent.close();
  if (ok !== count) throw new Error(`bare loop: expected ${count} 200s, got ${ok}`);
  return ok;
}

async function main(): Promise<void> {
  const perPoint = Number(process.argv[2] ?? 4000);
  const rssCount = Number(process.argv[3] ?? 100_000);
  const dir = mkdtempSync(join(tmpdir(), 'ark-batch-exec-bench-'));
  const service = await startService();
  const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
  console.log(`Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model}), load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('| concurrency | impl | requests | req/s (wall) | client CPU ms / 1k req | peak RSS MiB |');
  console.log('|---:|---|---:|---:|---:|---:|');
  let offset = 0;
  try {
    for (const concurrency of perPoint > 0 ? [1, 4, 16, 64, 256, 1024] : []) {
      const count = concurrency === 1 ? Math.min(perPoint, 1000) : perPoint;
      const base = await measure(() => bareLoop(service.baseUrl, count, concurrency));
      console.log(`| ${concurrency} | bare undici loop | ${count} | ${(count / base.wallS).toFixed(0)} | ${((base.cpuS * 1e6) / count).toFixed(0)} | ${mib(base.peakRss)} |`);
      const run = await measure(() =>
        execBatch({ input: batch(count, offset), model: 'ep-bi-bench', baseUrl: service.baseUrl, apiKey: LOCAL_API_KEY, resultsPath: join(dir, `r-${concurrency}.jsonl`), errorsPath: join(dir, `e-${concurrency}.jsonl`), concurrency }),
      );
      offset += count;
      if (run.value.succeeded !== count) throw new Error(`expected ${count} results, got ${run.value.succeeded}`);
      console.log(`| ${concurrency} | exec | ${count} | ${(count / run.wallS).toFixed(0)} | ${((run.cpuS * 1e6) / count).toFixed(0)} | ${mib(run.peakRss)} |`);
    }
    for (const count of [rssCount / 10, rssCount / 2, rssCount]) {
      const run = await measure(() =>
        execBatch({ input: batch(count, offset), model: 'ep-bi-bench', baseUrl: service.baseUrl, apiKey: LOCAL_API_KEY, resultsPath: join(dir, `rss-${count}.jsonl`), errorsPath: join(dir, `rss-e-${count}.jsonl`), concurrency: 256 }),
      );
      offset += count;
      console.log(`RSS run: ${count} requests at concurrency 256: ${(count / run.wallS).toFixed(0)} req/s, ${((run.cpuS * 1e6) / count).toFixed(0)} CPU ms/1k, peak RSS ${mib(run.peakRss)} MiB`);
    }
  } finally {
    service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
