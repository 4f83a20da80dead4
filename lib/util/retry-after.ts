/**
 * A `Retry-After` header (delta-seconds or an HTTP date, RFC 9110) → milliseconds to wait;
 * undefined when absent, negative or unreadable.
 */
export function retryAfterMs(value: string | readonly string[] | undefined, nowMs = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : (value as string | undefined);
  if (v === undefined || v.trim() === '') return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
