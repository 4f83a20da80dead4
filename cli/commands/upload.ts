import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import { formatTosUri, parseTosUri } from '../../lib/tos/client.ts';
import { formatBytes, parseSize } from '../../lib/util/size.ts';
import { tosUploadStream, type TosUploadResult } from '../../transforms/tos-upload-stream.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { createProgress } from '../progress.ts';
import { openTos, tosOptions, uploadOptions } from '../tos.ts';

function builder(y: Argv) {
  return uploadOptions(tosOptions(y))
    .positional('source', { type: 'string', demandOption: true, describe: 'File to upload, or - for stdin' })
    .positional('target', { type: 'string', demandOption: true, describe: 'tos://BUCKET/KEY' })
    .option('content-type', { type: 'string', describe: 'Content-Type of the object (default: application/octet-stream)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress, no summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print {bucket,key,bytes,parts,crc64,etag,seconds} on stdout when done' })
    .example('$0 prep reviews.csv --user "{{review}}" | $0 upload - tos://my-bucket/batch/in.jsonl', 'stream prep output straight into TOS')
    .example('$0 upload big.jsonl tos://my-bucket/in.jsonl --checkpoint big.upload.json', 'rerun the same line after a failure to resume');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const target = parseTosUri(argv.target as string);
  if (!target.key) throw new ArkBatchError('E_USAGE', `Expected an object key in ${argv.target as string}, like tos://bucket/dir/file.jsonl`);
  // yargs hands a lone '-' positional over as ''.
  const source = (argv.source as string) || '-';
  const expectedSize = source === '-' ? undefined : await fileSize(source);
  const tos = await openTos(argv, target.bucket);
  const progress = createProgress({ label: 'upload', totalBytes: expectedSize, quiet: argv.quiet || argv.json, countLabel: 'parts' });
  try {
    const result = await uploadStream(source === '-' ? process.stdin : createReadStream(source), {
      client: tos.client,
      ...target,
      partSize: parseSize(argv.partSize, '--part-size'),
      expectedSize,
      concurrency: argv.concurrency,
      checkpoint: argv.checkpoint,
      retries: argv.retries,
      ...(argv.contentType ? { contentType: argv.contentType } : {}),
      onProgress: (p) => progress.update({ bytes: p.bytes, rows: p.partsDone }),
    });
    progress.stop();
    writeSummary(result, { json: argv.json, quiet: argv.quiet, dataOnStdout: false, human: describeUpload });
  } finally {
    progress.stop();
    await tos.close();
  }
}

/** Pipes a source into a TOS upload; on failure waits until the upload is aborted (or kept for resume). */
export async function uploadStream(source: Readable, options: Parameters<typeof tosUploadStream>[0]): Promise<TosUploadResult> {
  const sink = tosUploadStream(options);
  try {
    await pipeline(source, sink, { signal: interruptSignal() });
  } catch (err) {
    await sink.result.catch(() => undefined);
    throw err;
  }
  return sink.result;
}

export function describeUpload(r: TosUploadResult): string {
  const how = r.parts === 0 ? 'one request' : `${r.parts} parts${r.partsReused ? ` (${r.partsReused} already uploaded)` : ''}`;
  return `upload: ${formatBytes(r.bytes)} → ${formatTosUri(r)} in ${how}, crc64 ${r.crc64} verified (${r.seconds.toFixed(1)} s, ${formatBytes(r.bytes / Math.max(r.seconds, 0.001))}/s)`;
}

async function fileSize(path: string): Promise<number | undefined> {
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ArkBatchError('E_USAGE', `Cannot read ${path}: ${err.code ?? err.message}`, { file: path, cause: err });
  });
  // A FIFO or device has no size worth planning with.
  return s.isFile() ? s.size : undefined;
}

export const uploadCommand: CommandModule<object, Args> = {
  command: 'upload <source> <target>',
  describe: 'Stream a file or stdin into a TOS object (multipart, retried, CRC-verified, resumable)',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
