/**
 * Buffer#latin1Write: what `write(s, offset, length, 'latin1')` ends in, without its argument
 * handling, which costs as much as the copy for a few hundred bytes. Undocumented, but in every
 * Node this package supports (the tests run through it on every hot path that uses it).
 */
export type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };
