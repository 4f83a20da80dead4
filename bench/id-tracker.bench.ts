/**
 * custom_id uniqueness on 10M ids: createIdTracker (default 64 MiB budget, and a forced-spill
 * 8 MiB budget) against the naive Set<string>, and against generating the ids alone.
 * Each case runs in its own child process so its peak RSS is its own.
 *
 *   node --import tsx bench/id-tracker.bench.ts [count] [doc,random]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIdTracker } from '../lib/validate/id-tracker.ts';

type Kind = 'doc' | 'random';
type Impl = 'generate-only' | 'set' | 'tracker-64MiB' | 'tracker-8MiB';

/** `doc-<n>`, or 16 pseudo-random base-36 characters from a fixed-seed xorshift (same ids every run). */
function idSource(kind: Kind): (n: number) => string {
  if (kind === 'doc') return (n) => `doc-${n}`;
  let s = 0x9e3779b9;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const codes = new Array<number>(16);
  return () => {
    for (let i = 0; i < 16; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      codes[i] = alphabet.charCodeAt((s >>> 0) % 36);
    }
    // One flat string, like the ids a CSV or JSON parser hands over (a += chain would build a
    // rope that every consumer must flatten first, which measures V8, not us).
    return String.fromCharCode(...codes);
  };
}

async function runCase(impl: Impl, kind: Kind, count: number): Promise<void> {
  const next = idSource(kind);
  const dir = mkdtempSync(join(tmpdir(), 'ark-batch-bench-'));
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let duplicates = 0;
  let finishMs = 0;
  let runs = 0;
  try {
    if (impl === 'generate-only') {
      let total = 0;
      for (let n = 1; n <= count; n++) total += next(n).length;
      if (total < 0) throw new Error('unreachable');
    } else if (impl === 'set') {
      const seen = new Set<string>();
      for (let n = 1; n <= count; n++) {
        const id = next(n);
        if (seen.has(id)) duplicates++;
        else seen.add(id);
      }
    } else {
      const memoryBytes = impl === 'tracker-64MiB' ? 64 * 1024 * 1024 : 8 * 1024 * 1024;
      const tracker = createIdTracker({ memoryBytes, tmpDir: dir });
      for (let n = 1; n <= count; n++) if (tracker.add(next(n), n) !== null) duplicates++;
      const f0 = performance.now();
      const summary = await tracker.finish();
      finishMs = performance.now() - f0;
      duplicates += summary.duplicateCount;
      runs = summary.runs;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  // The machine may be shared: CPU time is the steadier measure, wall time what a user waits.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    `${JSON.stringify({ impl, kind, count, ms: Math.round(ms), finishMs: Math.round(finishMs), idsPerSec: Math.round(count / (ms / 1000)), idsPerCpuSec: Math.round(count / (cpuMs / 1000)), peakRssMiB: Math.round(peakRssMiB), runs, duplicates })}\n`,
  );
}

async function main(): Promise<void> {
  const [, , a, b, c] = process.argv;
  if (a === '--case') {
    await runCase(b as Impl, c as Kind, Number(process.argv[5]));
    return;
  }
  const count = Number(a ?? 10_000_000);
  const self = fileURLToPath(import.meta.url);
  process.stdout.write(`node ${process.version}, ${count} ids per case, load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs\n`);
  process.stdout.write('| ids | impl | ids/s (wall) | ids/s (CPU) | total s | finish s | peak RSS MiB | runs | duplicates |\n|---|---|---|---|---|---|---|---|---|\n');
  const kinds = (process.argv[3] ?? 'doc,random').split(',') as Kind[];
  for (const kind of kinds) {
    for (const impl of ['generate-only', 'set', 'tracker-64MiB', 'tracker-8MiB'] as const) {
      const child = spawnSync(process.execPath, [...process.execArgv, self, '--case', impl, kind, String(count)], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (child.status !== 0) throw new Error(`case ${impl} ${kind} failed: ${child.stderr}`);
      const r = JSON.parse(child.stdout) as Record<string, number | string>;
      const row = `| ${kind} | ${impl} | ${Number(r.idsPerSec).toLocaleString('en')} | ${Number(r.idsPerCpuSec).toLocaleString('en')} | ${(Number(r.ms) / 1000).toFixed(1)} | ${(Number(r.finishMs) / 1000).toFixed(1)} | ${r.peakRssMiB} | ${r.runs} | ${r.duplicates} |`;
      process.stdout.write(`${row}\n`);
    }
  }
}

await main();
