import { stat } from 'node:fs/promises';
import { ArkBatchError } from '../../lib/errors.ts';

/**
 * Turns the inputs named on the command line into what the library reads: local paths or `-`.
 *
 * The hook for remote inputs: once the TOS transfer and job client land, `tos://bucket/key`
 * becomes a download (or a stream) and a job id becomes the job's results/errors locations
 * (`results ID`). Until then they are refused here with a usage error, never half-handled.
 */
export async function resolveInputs(inputs: readonly string[], flag: string): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    if (input === '-') {
      out.push(input);
      continue;
    }
    if (input.startsWith('tos://')) {
      throw new ArkBatchError('E_USAGE', `${flag} ${input}: tos:// inputs are not supported by this build yet; download the object first`);
    }
    const s = await stat(input).catch(() => null);
    if (!s?.isFile()) {
      throw new ArkBatchError('E_USAGE', `${flag} ${input}: no such file (job ids as inputs are not supported by this build yet)`);
    }
    out.push(input);
  }
  return out;
}
