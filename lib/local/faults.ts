import { ArkBatchError } from '../errors.ts';

/**
 * Seeded fault injection for the local service.
 *
 * Spec: comma-separated `operation=probability:kind`, e.g.
 * `uploadPart=0.2:500,getObject=0.05:reset,openapi=0.1:429,chat=0.1:503,putObject=1:stall:2000`.
 * - operation: a TOS op name (putObject, uploadPart, …), `openapi` or an OpenAPI action name,
 *   `chat`, or `*` for any operation without its own rule.
 * - probability: 0..1.
 * - kind: an HTTP status 100-599; `reset` (destroy the socket); `stall` or `stall:<ms>`
 *   (stop answering for that long, then carry on).
 *
 * Decisions are deterministic: the n-th decision for an operation depends only on the seed,
 * the operation name and n, so concurrency across operations does not change them.
 */

export type FaultDecision = { readonly kind: 'status'; readonly status: number } | { readonly kind: 'reset' } | { readonly kind: 'stall'; readonly ms: number };

export interface FaultRule {
  readonly operation: string;
  readonly probability: number;
  readonly fault: FaultDecision;
}

export interface Faults {
  /** Whether to fail this call of `operation`, and how; null means serve it normally. */
  decide(operation: string): FaultDecision | null;
  readonly rules: readonly FaultRule[];
}

export interface FaultOptions {
  /** How long a `stall` without its own duration lasts. @default 60000 */
  readonly stallMs?: number;
}

export const DEFAULT_STALL_MS = 60_000;

/** Parses a fault spec; an empty or blank spec has no rules. Throws E_USAGE naming the bad entry. */
export function parseFaultSpec(spec: string, options: FaultOptions = {}): FaultRule[] {
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const rules: FaultRule[] = [];
  for (const entry of spec.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([A-Za-z*][\w.*-]*)\s*=\s*([0-9]*\.?[0-9]+(?:e-?\d+)?)\s*:\s*(\d{3}|reset|stall(?::(\d+))?)$/.exec(entry);
    if (!m) throw new ArkBatchError('E_USAGE', `Expected a fault like "uploadPart=0.2:500" (operation=probability:status|reset|stall[:ms]), got ${JSON.stringify(entry)}`);
    const probability = Number(m[2]);
    if (!(probability >= 0 && probability <= 1)) throw new ArkBatchError('E_USAGE', `Expected a fault probability between 0 and 1, got ${m[2]} in ${JSON.stringify(entry)}`);
    let fault: FaultDecision;
    if (m[3] === 'reset') fault = { kind: 'reset' };
    else if (m[3].startsWith('stall')) fault = { kind: 'stall', ms: m[4] === undefined ? stallMs : Number(m[4]) };
    else {
      const status = Number(m[3]);
      if (status < 100 || status > 599) throw new ArkBatchError('E_USAGE', `Expected an HTTP status 100-599 in a fault, got ${m[3]} in ${JSON.stringify(entry)}`);
      fault = { kind: 'status', status };
    }
    rules.push({ operation: m[1], probability, fault });
  }
  return rules;
}

// splitmix64 finaliser on 32-bit halves would do; a 32-bit mix (lowbias32) is plenty for test faults.
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function hashString(text: string, seed: number): number {
  let h = mix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < text.length; i++) h = mix32(h ^ text.charCodeAt(i));
  return h;
}

/** A uniform number in [0,1) for the n-th draw of a stream. */
function draw(stream: number, n: number): number {
  const a = mix32(stream ^ mix32(n));
  const b = mix32(a ^ 0x85ebca6b ^ n);
  return (a * 2 ** 21 + (b >>> 11)) / 2 ** 53;
}

/**
 * Builds the decider for a spec (string or parsed rules) and seed. The rules naming the
 * operation apply together (probabilities add up, in order); `*` applies to operations no rule names.
 */
export function createFaults(spec: string | readonly FaultRule[] | undefined, seed = 0, options: FaultOptions = {}): Faults {
  const rules = typeof spec === 'string' ? parseFaultSpec(spec, options) : [...(spec ?? [])];
  const counters = new Map<string, number>();
  const seed32 = Math.trunc(seed) >>> 0;
  return {
    rules,
    decide(operation) {
      let own = rules.filter((r) => r.operation === operation);
      if (own.length === 0) own = rules.filter((r) => r.operation === '*');
      if (own.length === 0) return null;
      const n = counters.get(operation) ?? 0;
      counters.set(operation, n + 1);
      // Several rules for one operation share one draw and split it: `chat=0.1:503,chat=0.05:429`
      // fails 10 % with 503 and another 5 % with 429.
      const u = draw(hashString(operation, seed32), n);
      let cumulative = 0;
      for (const rule of own) {
        if (rule.probability <= 0) continue;
        if (rule.probability >= 1) return rule.fault;
        cumulative += rule.probability;
        if (u < cumulative) return rule.fault;
      }
      return null;
    },
  };
}
