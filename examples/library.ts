// The README's library example: run with `node --import tsx examples/library.ts`.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { buildRequests, createIdTracker, encodeJsonl, rowsFromCsv, validateRequests } from 'ark-batch';

const input = new URL('./reviews.csv', import.meta.url);
await pipeline(
  createReadStream(input),
  rowsFromCsv({ file: 'reviews.csv' }),
  buildRequests({ user: 'Classify: {{review}}', id: { column: 'id' } }),
  validateRequests({ ids: createIdTracker() }),
  encodeJsonl(),
  process.stdout,
);
