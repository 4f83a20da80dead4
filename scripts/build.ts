// Bundles the CLI and the worker entries into dist/ (`npm ci` runs this through `prepare`), so that
// `ark-batch` starts without compiling TypeScript and without tsx's loader thread.
// bin/ark-batch.js runs the sources instead whenever one of them is newer than the bundle.
import { build } from 'esbuild';
import { BUNDLE_OPTIONS, WORKER_ENTRIES, workerBundlePath } from '../lib/streams/ts-worker.ts';
import { packagePath } from '../lib/util/package-root.ts';

const common = { ...BUNDLE_OPTIONS, absWorkingDir: packagePath('.') };
await Promise.all([
  // Dependencies stay in node_modules: several load lazily, and the SDKs are large.
  build({ ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/cli.mjs', packages: 'external' }),
  // A worker has no loader: everything in one file.
  ...WORKER_ENTRIES.map((entry) => build({ ...common, entryPoints: [entry], outfile: workerBundlePath(entry) })),
]);
