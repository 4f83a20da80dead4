import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { ArkBatchError } from '../../lib/errors.ts';
import { formatBytes, parseSize } from '../../lib/util/size.ts';
import type { ValidateFileSummary } from '../../lib/validate/validate-file.ts';
import { interruptSignal } from '../io.ts';
import { describeTokens, tokenCounterFrom, tokenizerOptions } from '../tokenizer.ts';

function builder(y: Argv) {
  return tokenizerOptions(y)
    .positional('file', { type: 'string', default: '-', describe: 'Batch JSONL file, or - for stdin' })
    .option('target', { choices: ['ark', 'openai'] as const, default: 'ark' as const, describe: 'Line shape and file limits' })
    .option('max-file-bytes', { type: 'string', describe: 'File size limit (default: 5GiB for Ark, 200MB for OpenAI)' })
    .option('max-line-bytes', { type: 'string', default: '8MiB', describe: 'Line size limit' })
    .option('max-problems', { type: 'number', default: 1000, describe: 'Problems printed at most (all are counted)' })
    .option('id-memory', { type: 'string', default: '64MiB', describe: 'Memory for the custom_id uniqueness table before it spills to disk' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print nothing; the exit code tells' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object: the summary, with the first problems under details' });
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const shown: ArkBatchError[] = [];
  const { validateFile } = await import('../../lib/validate/validate-file.ts');
  const tokens = argv.tokenizer === undefined ? undefined : await tokenCounterFrom(argv);
  const summary = await validateFile({
    tokens,
    input: argv.file as string,
    target: argv.target,
    maxFileBytes: argv.maxFileBytes === undefined ? undefined : parseSize(argv.maxFileBytes, '--max-file-bytes'),
    maxLineBytes: parseSize(argv.maxLineBytes, '--max-line-bytes'),
    idMemoryBytes: parseSize(argv.idMemory, '--id-memory'),
    signal: interruptSignal(),
    onProblem(problem) {
      if (shown.length >= argv.maxProblems) return;
      shown.push(problem);
      // Problems are this command's output: one located line each, greppable.
      if (!argv.json && !argv.quiet) process.stdout.write(problem.message + '\n');
    },
  });
  if (argv.json) {
    const problems = shown.map((p) => ({ line: p.line, custom_id: p.customId, code: p.code, message: p.detail }));
    process.stdout.write(JSON.stringify({ ...summary, details: problems }) + '\n');
  } else if (!argv.quiet) {
    if (summary.problems > shown.length) process.stdout.write(`… and ${summary.problems - shown.length} more problems\n`);
    process.stderr.write(describe(summary) + '\n');
  }
  if (!summary.valid) process.exitCode = 1;
}

function describe(s: ValidateFileSummary): string {
  return (
    `validate: ${s.file}: ${s.valid ? 'valid' : `${s.problems} problem${s.problems === 1 ? '' : 's'}`} — ` +
    `${s.lines} lines, ${formatBytes(s.bytes)}, ${s.ids} unique ids, ${describeTokens(s.inputTokens, s)}`
  );
}

export const validateCommand: CommandModule<object, Args> = {
  command: 'validate [file]',
  describe: 'Check a batch JSONL file against every rule of the Ark precheck, the chat body schema and the file limits',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
