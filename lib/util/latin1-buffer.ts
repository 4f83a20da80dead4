/**
 * Buffer#latin1Slice and Buffer#latin1Write: what `toString('latin1', …)` and
 * `write(s, offset, length, 'latin1')` end in, without their argument handling, which costs as
 * much as the copy for a few hundred bytes. Undocumented, but in every Node this package supports
 * (the tests run through both on every hot path that uses them).
 */
export type Latin1Buffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
};
