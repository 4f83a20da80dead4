// The seeded dataset moved to lib/bench/synthetic.ts so `ark-batch bench --synthetic` can use it.
export * from '../lib/bench/synthetic.ts';
