/**
 * Files of the package by their path from its root, whether the code runs from its sources
 * (through tsx) or from the bundle in dist/ (scripts/build.ts): `import.meta.url` differs
 * between the two, the package root does not.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'ark-batch') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`ark-batch: no package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** A path from the package root. */
export function packagePath(path: string): string {
  return join(packageRoot(), path);
}
