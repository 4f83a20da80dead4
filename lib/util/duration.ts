import { ArkBatchError } from '../errors.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, '': 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** `24h`, `30m`, `90s`, `500ms`, `1.5h`, or a bare number of seconds → milliseconds. */
export function parseDuration(text: string | number, flag = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(text));
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const ms = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!(ms > 0)) throw new ArkBatchError('E_USAGE', `Expected a duration for ${flag} such as 24h, 30m, 90s or 500ms, got ${JSON.stringify(text)}`);
  return ms;
}
