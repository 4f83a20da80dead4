import { pipeline } from 'node:stream/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { ArkBatchError } from '../../lib/errors.ts';
import { formatTosUri, parseTosUri } from '../../lib/tos/client.ts';
import { downloadToFile, tosObjectStream, type DownloadResult } from '../../lib/tos/download.ts';
import { formatBytes } from '../../lib/util/size.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { createProgress } from '../progress.ts';
import { openTos, tosOptions } from '../tos.ts';

function builder(y: Argv) {
  return tosOptions(y)
    .positional('source', { type: 'string', demandOption: true, describe: 'tos://BUCKET/KEY' })
    .option('output', { alias: 'o', type: 'string', default: '-', describe: 'File to write (atomically, after the CRC check), or - for stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress, no summary' })
    .option('json', { type: 'boolean', default: false, describe: 'Print {bucket,key,bytes,crc64,etag,seconds} when done (stderr if the data is on stdout)' })
    .example('$0 download tos://my-bucket/out/results.jsonl -o results.jsonl', 'resumes after resets, checks CRC-64');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const source = parseTosUri(argv.source as string);
  if (!source.key) throw new ArkBatchError('E_USAGE', `Expected an object key in ${argv.source as string}, like tos://bucket/dir/file.jsonl`);
  // yargs hands a lone '-' over as ''.
  const toStdout = !argv.output || argv.output === '-';
  const tos = await openTos(argv, source.bucket);
  const progress = createProgress({ label: 'download', quiet: argv.quiet || argv.json, countLabel: 'retries' });
  let retries = 0;
  const common = {
    client: tos.client,
    ...source,
    retries: argv.retries,
    onProgress: (bytes: number) => progress.update({ bytes, rows: retries }),
    onRetry: () => void retries++,
  };
  try {
    let result: DownloadResult;
    if (toStdout) {
      const started = Date.now();
      const stream = tosObjectStream(common);
      let bytes = 0;
      stream.on('data', (c: Buffer) => (bytes += c.length));
      await pipeline(stream, process.stdout, { signal: interruptSignal() });
      result = { ...(await stream.info), bytes, seconds: (Date.now() - started) / 1000 };
    } else {
      result = await downloadToFile({ ...common, path: argv.output, signal: interruptSignal() });
    }
    progress.stop();
    writeSummary(result, { json: argv.json, quiet: argv.quiet, dataOnStdout: toStdout, human: describe });
  } finally {
    progress.stop();
    await tos.close();
  }
}

function describe(r: DownloadResult): string {
  return `download: ${formatTosUri(r)} → ${formatBytes(r.bytes)}${r.crc64 !== undefined ? `, crc64 ${r.crc64} verified` : ''} (${r.seconds.toFixed(1)} s)`;
}

export const downloadCommand: CommandModule<object, Args> = {
  command: 'download <source>',
  describe: 'Stream a TOS object to a file or stdout (Range resume, CRC-64 check, atomic file)',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
