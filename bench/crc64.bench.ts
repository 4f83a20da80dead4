// CRC-64/XZ throughput: ours (slice-by-8 on 32-bit halves) against tos-crc64-js (the SDK's
// Emscripten build). Run: node --import tsx bench/crc64.bench.ts
import { crc64 as reference } from 'tos-crc64-js';
import { CRC64_INITIAL, crc64ToString, crc64Update } from '../lib/tos/crc64.ts';

const TOTAL = 256 * 1024 * 1024;
const CHUNK = 64 * 1024;
const chunk = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 2654435761) >>> 24;

function measure(name: string, run: () => string): void {
  const start = process.hrtime.bigint();
  const result = run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${name.padEnd(14)} ${(TOTAL / 1024 / 1024 / seconds).toFixed(0).padStart(6)} MB/s  crc=${result}\n`);
}

process.stdout.write(`node ${process.version}, ${TOTAL / 1024 / 1024} MiB in ${CHUNK / 1024} KiB chunks\n`);
for (let r = 0; r < 2; r++) measure('ark-batch', () => {
  let crc = CRC64_INITIAL;
  for (let done = 0; done < TOTAL; done += CHUNK) crc = crc64Update(crc, chunk);
  return crc64ToString(crc);
});
measure('tos-crc64-js', () => {
  let crc = '0';
  for (let done = 0; done < TOTAL; done += CHUNK) crc = reference(chunk, crc);
  return crc;
});
