// The one public barrel: everything the CLI does is reachable from here.
export * from './errors.ts';
