import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseTosUri } from '../../lib/tos/client.ts';
import { listObjects } from '../../lib/tos/list.ts';
import { openTos, tosOptions } from '../tos.ts';

function builder(y: Argv) {
  return tosOptions(y)
    .positional('prefix', { type: 'string', demandOption: true, describe: 'tos://BUCKET or tos://BUCKET/PREFIX' })
    .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'List every key under the prefix instead of grouping by /' })
    .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line: {type,key,size,lastModified,etag,crc64}' })
    .example('$0 ls tos://my-bucket/batch/', 'keys, sizes and times');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const { bucket, key: prefix } = parseTosUri(argv.prefix as string);
  const tos = await openTos(argv, bucket);
  try {
    const entries = listObjects({ client: tos.client, bucket, prefix, retries: argv.retries, ...(argv.recursive ? {} : { delimiter: '/' }) });
    for await (const e of entries) {
      const line = argv.json
        ? JSON.stringify(e)
        : e.type === 'prefix'
          ? `${''.padEnd(20)} ${'PRE'.padStart(14)}  tos://${bucket}/${e.key}`
          : `${new Date(e.lastModified).toISOString().slice(0, 19)}Z ${String(e.size).padStart(14)}  tos://${bucket}/${e.key}`;
      if (!process.stdout.write(line + '\n')) await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
  } finally {
    await tos.close();
  }
}

export const lsCommand: CommandModule<object, Args> = {
  command: 'ls <prefix>',
  describe: 'List objects under a TOS prefix with sizes and times',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
