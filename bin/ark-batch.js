#!/usr/bin/env node
// Runs the CLI from its bundle (dist/cli.mjs, built by `npm ci` through `prepare`) when every
// source is older than it, else from the TypeScript sources through tsx's loader, so that
// `npx ark-batch` works right after `npm ci` and an edited checkout never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = `${root}dist/cli.mjs`;

/** True when a file under `dir` changed after `time`. */
function changedSince(dir, time) {
  return readdirSync(dir, { withFileTypes: true }).some((e) => {
    const path = `${dir}/${e.name}`;
    return e.isDirectory() ? changedSince(path, time) : statSync(path).mtimeMs > time;
  });
}

function bundleIsFresh() {
  if (process.env.ARK_BATCH_SOURCES === '1' || !existsSync(bundle)) return false;
  // Built together by scripts/build.ts: the CLI and the worker entries it starts.
  const bundles = readdirSync(`${root}dist`).filter((f) => f.endsWith('.mjs')).map((f) => `${root}dist/${f}`);
  const built = Math.min(...bundles.map((b) => statSync(b).mtimeMs));
  const files = ['package.json', 'package-lock.json'].filter((f) => existsSync(`${root}${f}`));
  return files.every((f) => statSync(`${root}${f}`).mtimeMs <= built) && !['cli', 'lib', 'transforms', 'scripts'].some((d) => changedSince(`${root}${d}`, built));
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import('../dist/cli.mjs'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
// An interrupted run has cleaned up by now (temp files removed, uploads aborted); a request the
// TOS SDK cannot cancel, stalled on a socket, must not keep the process alive until it times out.
if (process.exitCode === 130) process.exit(130);
