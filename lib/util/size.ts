import { ArkBatchError } from '../errors.ts';

const UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1000, kb: 1000, m: 1000 ** 2, mb: 1000 ** 2, g: 1000 ** 3, gb: 1000 ** 3, t: 1000 ** 4, tb: 1000 ** 4,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

/** `5GiB`, `200MB`, `8 MiB`, `1048576` → bytes. Decimal units are powers of 1000, `i` units of 1024. */
export function parseSize(text: string | number, flag = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
    throw new ArkBatchError('E_USAGE', `Expected a size for ${flag}, got ${text} (number)`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ArkBatchError('E_USAGE', `Expected a size for ${flag} such as 200MB, 8MiB or 1048576, got ${JSON.stringify(text)}`);
  }
  return Math.floor(Number(m[1]) * unit);
}

/** 1536 → `1.5 KiB`, for humans on stderr. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
