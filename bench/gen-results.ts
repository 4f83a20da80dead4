// The seeded job output moved to lib/bench/results.ts so `ark-batch bench --stages join` can use it.
export * from '../lib/bench/results.ts';
