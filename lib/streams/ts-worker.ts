/**
 * Worker threads whose code is TypeScript, like the rest of the package.
 *
 * Run from the sources, tsx's loader does not reach a worker on Node 20 (neither `--import tsx`
 * nor `register()` carries over), and loading TypeScript in a worker through tsx's `tsImport`
 * starts one more loader thread per worker (~30 MB each). So the worker's entry is bundled once
 * per process with esbuild (the compiler tsx itself runs on; ~80 ms) into one plain ES module
 * that the worker loads from a data: URL, with no loader at all. Run from the CLI bundle
 * (scripts/build.ts), the worker's bundle was built beside it.
 */
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

/** Where scripts/build.ts puts a worker entry's bundle. */
export function workerBundlePath(entry: string): string {
  return `dist/${basename(entry, '.ts')}.mjs`;
}

const bundles = new Map<string, Promise<URL>>();

async function bundle(entry: string): Promise<URL> {
  if (process.env.ARK_BATCH_BUNDLED === '1') return pathToFileURL(packagePath(workerBundlePath(entry)));
  const { build } = await import('esbuild');
  const out = await build({ ...BUNDLE_OPTIONS, absWorkingDir: packagePath('.'), entryPoints: [entry], write: false, logLevel: 'silent' });
  return new URL(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.contents).toString('base64')}`);
}

/** Starts a worker running the TypeScript module at `entry` (a path from the package root). */
export async function startTsWorker(entry: string, options: WorkerOptions = {}): Promise<Worker> {
  let url = bundles.get(entry);
  if (!url) {
    url = bundle(entry);
    bundles.set(entry, url);
    // A failed build is not cached: the next call tries again.
    url.catch(() => bundles.delete(entry));
  }
  // No inherited `--import tsx`: the bundle needs no loader, and one would start a loader thread.
  return new Worker(await url, { ...options, execArgv: [] });
}
