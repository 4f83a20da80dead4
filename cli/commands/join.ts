import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { JoinOutputSummary } from '../../lib/join/output.ts';
import { interruptSignal, writeSummary } from '../io.ts';
import { resultInputOptions, sourceOptions, spillOptionsFrom } from '../options.ts';
import { resolveInputs } from './join-inputs.ts';

function builder(y: Argv) {
  return resultInputOptions(sourceOptions(y))
    .positional('source', { type: 'string', demandOption: true, describe: 'The source prep read (CSV, TSV, JSONL, JSON, Parquet), or - for stdin' })
    .option('output', { alias: 'o', type: 'string', describe: 'Output file (default: stdout, JSONL)' })
    .option('format', { choices: ['csv', 'tsv', 'jsonl', 'parquet'] as const, describe: 'Output format (default: from the -o extension, else jsonl)' })
    .option('select', { type: 'string', array: true, describe: 'Output only these columns, in this order' })
    .option('raw', { type: 'boolean', default: false, describe: 'Add the whole result line as raw_response' })
    .option('result-prefix', { type: 'string', default: '', describe: 'Prefix for the added columns, when the source already has a status/content/… column' })
    .option('orphans', { type: 'string', describe: 'Write results whose custom_id matches no row here (JSONL)' })
    .example('$0 join reviews.csv -r results.jsonl -e errors.jsonl -o labelled.csv', 'every row with status, content, tokens, error')
    .example('$0 join docs.jsonl --id doc_id -r round1.jsonl -r round2.jsonl -o out.parquet', 'a retry round fills earlier failures');
}

type Args = ArgumentsCamelCase<ReturnType<typeof builder> extends Argv<infer T> ? T : never>;

async function handler(argv: Args): Promise<void> {
  const signal = interruptSignal();
  const inputs = await resolveInputs({ results: argv.results, errors: argv.errors ?? [] }, { local: argv.local, quiet: argv.quiet || argv.json, signal });
  const { joinToOutput } = await import('../../lib/join/output.ts');
  const summary = await joinToOutput({
    source: argv.source as string,
    format: argv.from,
    delimiter: argv.delimiter,
    header: argv.header,
    id: { column: argv.id, template: argv.idTemplate },
    results: inputs.results,
    errors: inputs.errors,
    output: argv.output ?? process.stdout,
    outputFormat: argv.format,
    select: argv.select,
    raw: argv.raw,
    resultPrefix: argv.resultPrefix,
    orphansPath: argv.orphans,
    ...spillOptionsFrom(argv),
    signal,
  }).finally(() => inputs.cleanup());
  writeSummary(summary, { json: argv.json, quiet: argv.quiet, dataOnStdout: argv.output === undefined, human: describe });
}

function describe(s: JoinOutputSummary): string {
  return (
    `join: ${s.rows} rows = ${s.ok} ok + ${s.error} error + ${s.missing} missing` +
    (s.noId ? ` (${s.noId} without a custom_id)` : '') +
    `; ${s.resultLines} result lines, ${s.duplicates} duplicate, ${s.orphans} orphan${s.orphansFile && s.orphans ? ` (in ${s.orphansFile})` : ''}` +
    (s.partitions ? `; spilled to ${s.partitions} partitions` : '') +
    ` → ${s.output} (${s.outputFormat})`
  );
}

export const joinCommand: CommandModule<object, Args> = {
  command: 'join <source>',
  describe: 'Put results back onto the source rows by custom_id, in source order (CSV, JSONL or Parquet out)',
  builder: builder as unknown as CommandModule<object, Args>['builder'],
  handler,
};
