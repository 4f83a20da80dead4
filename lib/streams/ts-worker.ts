/**
 * Worker threads whose code is TypeScript, like the rest of the package (run through tsx).
 *
 * tsx's loader does not reach a worker on Node 20 (neither `--import tsx` nor `register()`
 * carries over), and loading TypeScript in a worker through tsx's `tsImport` starts one more
 * loader thread per worker (~30 MB each). So the worker's entry is bundled once per process
 * with esbuild (the compiler tsx itself runs on; ~80 ms) into one plain ES module that the
 * worker loads from a data: URL, with no loader at all.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

const bundles = new Map<string, Promise<URL>>();

async function bundle(entry: URL): Promise<URL> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [entry.pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  return new URL(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.contents).toString('base64')}`);
}

/** Starts a worker running the TypeScript module at `entry` (a file: URL). */
export async function startTsWorker(entry: URL, options: WorkerOptions = {}): Promise<Worker> {
  let url = bundles.get(entry.href);
  if (!url) {
    url = bundle(entry);
    bundles.set(entry.href, url);
    // A failed build is not cached: the next call tries again.
    url.catch(() => bundles.delete(entry.href));
  }
  // No inherited `--import tsx`: the bundle needs no loader, and one would start a loader thread.
  return new Worker(await url, { ...options, execArgv: [] });
}
