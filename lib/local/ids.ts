/**
 * Ark request ids, as the data plane and the batch results carry them
 * (`id` == `response.request_id` == `body.id`):
 *
 *   02 1741184352236 00000000000000000000 ffff ac152003 9ca4e1
 *   ── ───────────── ──────────────────── ──── ──────── ──────
 *   │  epoch ms (13) zero padding (20)    IPv4-mapped   tail (6 hex)
 *   version                               host (8 hex)
 *
 * 53 characters. The layout is read off the one real id in the Ark guide
 * (`02174118435223600000000000000000000ffffac1520039ca4e1`), so every id of this era starts
 * with `021`. The local service uses the loopback host `7f000001`; the tail is a counter
 * from a (seedable) random start, so ids are unique within a generator.
 */
import { randomInt } from 'node:crypto';

export const REQUEST_ID_LENGTH = 53;

const TAIL_SPACE = 0x1000000;
const ID_PATTERN = /^02(\d{13})0{20}ffff([0-9a-f]{8})([0-9a-f]{6})$/;

export interface RequestIdOptions {
  /** Makes the id sequence reproducible (together with `now`). @default a random start */
  readonly seed?: number;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** IPv4 of the answering host as 8 hex digits. @default '7f000001' (127.0.0.1) */
  readonly hostHex?: string;
}

/** Returns a new id on each call. */
export type RequestIdGenerator = () => string;

export function formatRequestId(epochMs: number, hostHex: string, tail: number): string {
  if (!Number.isSafeInteger(epochMs) || epochMs < 0 || epochMs > 9_999_999_999_999) {
    throw new RangeError(`Expected epochMs to be an integer of at most 13 digits, got ${epochMs}`);
  }
  checkHostHex(hostHex);
  const tailHex = (((tail % TAIL_SPACE) + TAIL_SPACE) % TAIL_SPACE).toString(16).padStart(6, '0');
  return `02${String(epochMs).padStart(13, '0')}${'0'.repeat(20)}ffff${hostHex}${tailHex}`;
}

export function createRequestIdGenerator(options: RequestIdOptions = {}): RequestIdGenerator {
  const now = options.now ?? Date.now;
  const hostHex = options.hostHex ?? '7f000001';
  checkHostHex(hostHex);
  let tail = options.seed === undefined ? randomInt(TAIL_SPACE) : seededStart(options.seed);
  return () => {
    const id = formatRequestId(Math.floor(now()), hostHex, tail);
    tail = (tail + 1) % TAIL_SPACE;
    return id;
  };
}

export function isArkRequestId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** The epoch milliseconds an id was minted at, or undefined when it is not an Ark request id. */
export function requestIdTime(id: string): number | undefined {
  const m = ID_PATTERN.exec(id);
  return m ? Number(m[1]) : undefined;
}

function checkHostHex(hostHex: string): void {
  if (!/^[0-9a-f]{8}$/.test(hostHex)) throw new RangeError(`Expected hostHex to be 8 lowercase hex digits, got ${JSON.stringify(hostHex)}`);
}

// One round of splitmix32-style mixing is enough: the start only has to differ between seeds.
function seededStart(seed: number): number {
  let h = (seed | 0) + 0x9e3779b9;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % TAIL_SPACE;
}
