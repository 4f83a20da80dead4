import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArkBatchError } from '../../lib/errors.ts';
import { withArk } from '../ark.ts';

const JOB_ID = /^bi-\d{14}-[a-z0-9]{5}$/;

export interface ResolvedInputs {
  readonly results: string[];
  readonly errors: string[];
  /** Removes downloaded copies; call when the join is done, also after an error. */
  cleanup(): Promise<void>;
}

/**
 * Turns the inputs named on the command line into what the library reads: local paths or `-`.
 * `tos://bucket/key` objects are downloaded (verified, atomically) to a temp dir; a job id
 * (`bi-…`) stands for that job's results and errors files, found and downloaded like
 * `ark-batch results ID` does, its errors files joining the `--errors` list.
 */
export async function resolveInputs(
  inputs: { readonly results: readonly string[]; readonly errors: readonly string[] },
  flags: { readonly local: boolean; readonly quiet: boolean; readonly signal?: AbortSignal },
): Promise<ResolvedInputs> {
  const remote = [...inputs.results, ...inputs.errors].filter((i) => i.startsWith('tos://') || JOB_ID.test(i));
  for (const input of [...inputs.results, ...inputs.errors]) {
    if (input === '-' || remote.includes(input)) continue;
    const s = await stat(input).catch(() => null);
    if (!s?.isFile()) throw new ArkBatchError('E_USAGE', `${input}: no such file, tos:// object or job id (bi-…)`);
  }
  if (remote.length === 0) return { results: [...inputs.results], errors: [...inputs.errors], cleanup: async () => {} };

  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-join-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const results: string[] = [];
    const errors: string[] = [];
    await withArk({ local: flags.local, json: false, quiet: flags.quiet }, async ({ client, tos }) => {
      const [{ parseTosUri }, { downloadToFile }, { getJob }, { downloadJobResults }] = await Promise.all([
        import('../../lib/tos/client.ts'),
        import('../../lib/tos/download.ts'),
        import('../../lib/ark/jobs.ts'),
        import('../../lib/ark/results.ts'),
      ]);
      let n = 0;
      const fetch = async (input: string, into: string[]) => {
        if (!remote.includes(input)) return void into.push(input);
        if (JOB_ID.test(input)) {
          const job = await getJob(client, input, { signal: flags.signal });
          const files = await downloadJobResults({ tos: await tos(), job, dir: join(dir, input), signal: flags.signal });
          results.push(...files.filter((f) => f.kind === 'results').map((f) => f.path));
          errors.push(...files.filter((f) => f.kind === 'errors').map((f) => f.path));
          return;
        }
        const location = parseTosUri(input);
        const path = join(dir, `${++n}.jsonl`);
        await downloadToFile({ client: await tos(), ...location, path, signal: flags.signal });
        into.push(path);
      };
      // In order: a later results file fills an earlier failure.
      for (const input of inputs.results) await fetch(input, results);
      for (const input of inputs.errors) await fetch(input, errors);
    });
    return { results, errors, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
