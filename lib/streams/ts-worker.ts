/**
 * Worker threads whose code is TypeScript, like the rest of the package (prep's CSV workers,
 * join's spill workers).
 *
 * Run from the sources, tsx's loader does not reach a worker on Node 20 by itself, and
 * registering it in each worker starts one more loader thread per worker (~30 MB each). So the
 * worker's entry is bundled once per process with esbuild (the compiler tsx itself runs on;
 * ~80 ms) into one plain ES module that the worker loads from a data: URL, with no loader at
 * all. Run from the CLI bundle (scripts/build.ts), the worker's bundle was built beside it.
 */
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { BuildOptions } from 'esbuild';
import { packagePath } from '../util/package-root.ts';

/** esbuild options of every bundle of ours (scripts/build.ts and the runtime one below). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Code that picks between a bundle and the sources asks this.
  define: { 'process.env.ARK_BATCH_BUNDLED': '"1"' },
} satisfies BuildOptions;

/** Worker entries, from the package root: scripts/build.ts bundles each. */
export const WORKER_ENTRIES = ['lib/requests/csv-lines-worker.ts', 'lib/join/join-worker.ts', 'lib/jsonl/file-writer-worker.ts'] as const;
export type WorkerEntry = (typeof WORKER_ENTRIES)[number];

/** Where scripts/build.ts puts a worker entry's bundle. */
export function workerBundlePath(entry: WorkerEntry): string {
  return `dist/${basename(entry, '.ts')}.mjs`;
}

const bundles = new Map<string, URL>();

/** Synchronous, so that pools can start workers where they are built; esbuild is loaded on first use. */
function bundle(entry: WorkerEntry): URL {
  if (process.env.ARK_BATCH_BUNDLED === '1') return pathToFileURL(packagePath(workerBundlePath(entry)));
  const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const out = buildSync({ ...BUNDLE_OPTIONS, absWorkingDir: packagePath('.'), entryPoints: [entry], write: false, logLevel: 'silent' });
  return new URL(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.contents).toString('base64')}`);
}

/** Starts a worker running the TypeScript module `entry`. Throws when it cannot be built. */
export function startTsWorker(entry: WorkerEntry, options: WorkerOptions = {}): Worker {
  let url = bundles.get(entry);
  if (!url) {
    url = bundle(entry);
    bundles.set(entry, url);
  }
  // No inherited `--import tsx`: the bundle needs no loader, and one would start a loader thread.
  return new Worker(url, { ...options, execArgv: [] });
}
