import type { IdSeen } from '../../lib/validate/checker.ts';

/** A plain in-memory tracker: the reference the bounded one is tested against elsewhere. */
export function mapIds(): IdSeen {
  const seen = new Map<string, number>();
  return {
    add(id, row) {
      const first = seen.get(id);
      if (first !== undefined) return first;
      seen.set(id, row);
      return null;
    },
  };
}
