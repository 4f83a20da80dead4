import { createReadStream } from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArkBatchError } from '../errors.ts';
import type { Line } from '../jsonl/lines.ts';
import { estimatedTokens, type TokenCounter } from '../requests/tokenizer.ts';
import { linesFromBytes } from '../../transforms/lines-from-bytes.ts';
import { createIdTracker } from './id-tracker.ts';
import { createFileValidator, type FileValidatorOptions, type ValidateSummary } from './validate-lines.ts';

export interface ValidateFileOptions extends Omit<FileValidatorOptions, 'ids' | 'file' | 'estimateTokens'> {
  /** A path or `-`. */
  readonly input: string;
  readonly stdin?: Readable;
  /** Memory for the uniqueness table before it spills. @default 64 MiB */
  readonly idMemoryBytes?: number;
  readonly tmpDir?: string;
  readonly signal?: AbortSignal;
  /** How input tokens are counted: a tokenizer from `loadTokenizer`. @default the estimate */
  readonly tokens?: TokenCounter;
}

export interface ValidateFileSummary extends ValidateSummary {
  /** Input tokens of the valid lines, counted as `tokens` says. */
  readonly inputTokens: number;
  readonly tokens: 'estimated' | 'exact';
  /** The tokenizer file, when `tokens` is `exact`. */
  readonly tokenizer?: string;
}

/**
 * `validate`: checks a batch JSONL file written by anything, streaming, with bounded memory
 * (lines are framed with a byte bound, ids tracked in a spilling fingerprint table). Problems
 * go to `onProblem` in line order; the summary says whether the file is valid.
 */
export async function validateFile(options: ValidateFileOptions): Promise<ValidateFileSummary> {
  const name = options.input === '-' ? 'stdin' : options.input;
  const input = options.input === '-' ? (options.stdin ?? process.stdin) : createReadStream(options.input, { highWaterMark: 1 << 20 });
  const ids = createIdTracker({ memoryBytes: options.idMemoryBytes, tmpDir: options.tmpDir });
  const counter = options.tokens ?? estimatedTokens;
  const validator = createFileValidator({ ...options, ids, file: name, estimateTokens: counter.countBody });
  let bytes = 0;
  try {
    await pipeline(
      input,
      new Transform({
        transform(chunk: Buffer, _enc, callback) {
          bytes += chunk.length;
          callback(null, chunk);
        },
      }),
      // Lines over the limit are reported by the validator, not fatal: frame with headroom.
      linesFromBytes({ file: name, maxLineBytes: Math.max(options.maxLineBytes ?? 0, 128 * 1024 * 1024) }),
      new Writable({
        objectMode: true,
        write(line: Line, _enc, callback) {
          validator.check(line);
          callback();
        },
      }),
      { signal: options.signal },
    );
    const spilled = await ids.finish();
    for (const d of spilled.duplicates) {
      options.onProblem(duplicateAcrossRuns(name, d.first, d.second));
    }
    const { estimatedInputTokens, ...summary } = validator.finish(bytes, spilled.duplicateCount);
    const inputTokens = estimatedInputTokens ?? 0;
    // `estimatedInputTokens` stays for the estimate (its earlier name); an exact count is never called an estimate.
    return counter.kind === 'exact'
      ? { ...summary, inputTokens, tokens: 'exact', tokenizer: counter.tokenizer }
      : { ...summary, estimatedInputTokens: inputTokens, inputTokens, tokens: 'estimated' };
  } finally {
    ids.close();
  }
}

function duplicateAcrossRuns(file: string, first: number, second: number): ArkBatchError {
  return new ArkBatchError('E_ID_DUPLICATE', `custom_id duplicates line ${first}`, { file, line: second });
}
