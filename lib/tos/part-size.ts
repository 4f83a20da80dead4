import { ArkBatchError } from '../errors.ts';

/** TOS multipart limits (tos.md §9). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** For a stream of unknown length the part size doubles after every this many parts. */
export const PARTS_PER_SIZE_STEP = 1_000;

const MiB = 1024 * 1024;

export interface PartPlanOptions {
  /** Requested part size in bytes. @default DEFAULT_PART_SIZE (8 MiB) */
  readonly partSize?: number;
  /** Total bytes, when known up front (a file); chooses one fixed size. */
  readonly expectedSize?: number;
  /** Smallest allowed part (tests lower it together with the local server's). @default MIN_PART_SIZE */
  readonly minPartSize?: number;
  /** @default MAX_PARTS */
  readonly maxParts?: number;
  /** @default PARTS_PER_SIZE_STEP */
  readonly partsPerStep?: number;
}

/**
 * How big each part is. With a known size, one size for all parts, raised so the object fits
 * in maxParts. With an unknown size, the size doubles every `partsPerStep` parts (8 MiB: up to
 * 8 GB at 8 MiB, 24 GB at 16 MiB, … ≈ 8 TiB in 10,000 parts), so small inputs keep small parts
 * (and small memory) while a huge stream never runs out of part numbers. A pure function of the
 * part number, so a resumed upload cuts the input exactly as the first run did.
 */
export interface PartPlan {
  readonly baseSize: number;
  readonly fixed: boolean;
  sizeOf(partNumber: number): number;
  /** Bytes that fit in parts 1..maxParts. */
  readonly capacity: number;
}

export function planParts(options: PartPlanOptions = {}): PartPlan {
  const minPartSize = options.minPartSize ?? MIN_PART_SIZE;
  const maxParts = options.maxParts ?? MAX_PARTS;
  const partsPerStep = options.partsPerStep ?? PARTS_PER_SIZE_STEP;
  const requested = options.partSize ?? Math.max(DEFAULT_PART_SIZE, minPartSize);
  if (!Number.isSafeInteger(requested) || requested < minPartSize || requested > MAX_PART_SIZE) {
    throw new ArkBatchError('E_USAGE', `Expected a part size between ${minPartSize} and ${MAX_PART_SIZE} bytes, got ${requested}`);
  }
  if (options.expectedSize !== undefined) {
    const needed = Math.ceil(options.expectedSize / maxParts);
    // Rounded up to whole MiB when raised, so sizes stay readable in logs and checkpoints.
    const baseSize = needed > requested ? Math.ceil(needed / MiB) * MiB : requested;
    if (baseSize > MAX_PART_SIZE) throw new ArkBatchError('E_FILE_TOO_LARGE', `${options.expectedSize} bytes do not fit in ${maxParts} parts of at most ${MAX_PART_SIZE} bytes`);
    return { baseSize, fixed: true, sizeOf: () => baseSize, capacity: baseSize * maxParts };
  }
  const sizeOf = (partNumber: number) => Math.min(MAX_PART_SIZE, requested * 2 ** Math.floor((partNumber - 1) / partsPerStep));
  let capacity = 0;
  for (let n = 1; n <= maxParts; n += partsPerStep) capacity += sizeOf(n) * Math.min(partsPerStep, maxParts - n + 1);
  return { baseSize: requested, fixed: false, sizeOf, capacity };
}
