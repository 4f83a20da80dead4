import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { createJob, type ModelRef } from '../../lib/ark/jobs.ts';
import { ArkBatchError } from '../../lib/errors.ts';
import { arkOptions, parseTosUri, printJson, withArk } from '../ark.ts';
import { interruptSignal } from '../io.ts';

function builder(y: Argv) {
  return arkOptions(y)
    .positional('input', { type: 'string', demandOption: true, describe: 'The batch JSONL in TOS: tos://bucket/key.jsonl' })
    .option('model', { type: 'string', describe: 'Foundation model name, e.g. doubao-seed-1-6' })
    .option('model-version', { type: 'string', describe: 'Foundation model version, e.g. 250615' })
    .option('custom-model-id', { type: 'string', describe: 'A custom model instead of --model' })
    .option('output', { type: 'string', demandOption: true, describe: 'Output folder tos://bucket/prefix/ (results go to prefix/<job id>/)' })
    .option('name', { type: 'string', describe: 'Job name: letters, digits, - and _ (default: from the input file name)' })
    .option('description', { type: 'string', describe: 'Up to 300 characters' })
    .option('window', { type: 'string', describe: 'Completion window, 1d..28d (default: the service default, 28d)' })
    .option('tag', { type: 'string', array: true, describe: 'Tag key=value (repeatable)' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'Let the service check the request without creating a job' })
    .example('$0 submit tos://my-bucket/batch/reviews.jsonl --model doubao-seed-1-6 --model-version 250615 --output tos://my-bucket/out/', 'prints the job id');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

/** A job name from the input key: its base name without extension, invalid characters as `-`. */
export function defaultJobName(key: string): string {
  const base = key.split('/').pop()!.replace(/\.[^.]*$/, '');
  const name = base.replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 200);
  return name || 'ark-batch';
}

function modelRef(argv: Args): ModelRef {
  if (argv.customModelId !== undefined) {
    if (argv.model !== undefined || argv.modelVersion !== undefined) throw new ArkBatchError('E_USAGE', 'Use either --model [--model-version] or --custom-model-id, not both');
    return { customModelId: argv.customModelId };
  }
  if (argv.model === undefined) throw new ArkBatchError('E_USAGE', 'Expected --model NAME (or --custom-model-id ID)');
  return argv.modelVersion === undefined ? { name: argv.model } : { name: argv.model, version: argv.modelVersion };
}

function parseTags(tags: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new ArkBatchError('E_USAGE', `Expected --tag key=value, got ${JSON.stringify(t)}`);
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

async function handler(argv: Args): Promise<void> {
  const input = await parseTosUri(argv.input as string, 'the input');
  const outputDir = await parseTosUri(argv.output, '--output', { folder: true });
  const model = modelRef(argv);
  const tags = parseTags(argv.tag);
  await withArk(argv, async ({ config, client, note }) => {
    const res = await createJob(
      client,
      {
        name: argv.name ?? defaultJobName(input.key),
        description: argv.description,
        projectName: config.project,
        model,
        input,
        outputDir,
        completionWindow: argv.window,
        tags,
        dryRun: argv.dryRun,
      },
      { signal: interruptSignal() },
    );
    if (argv.json) return printJson(res);
    if (res.notice) note(res.notice);
    if (res.id) process.stdout.write(`${res.id}\n`);
  });
}

export const submitCommand: CommandModule<object, Args> = {
  command: 'submit <input>',
  describe: 'Create an Ark batch inference job for a JSONL file in TOS and print its id',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
