import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type Cli = (args: readonly string[], env?: Record<string, string>, cwd?: string) => Promise<CliRun>;

/**
 * The CLI in one long-lived child process (see cli-runner.ts); commands run one at a time, each
 * with only the environment variables given. Stopped after the test.
 */
export async function cliRunner(t: { after: (fn: () => Promise<void> | void) => void }): Promise<Cli> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./cli-runner.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (r: CliRun) => void>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`cli runner exited with ${code}`)));
    child.on('message', (m: { ready?: boolean; id?: number } & CliRun) => {
      if (m.ready) return resolve();
      pending.get(m.id!)?.(m);
      pending.delete(m.id!);
    });
  });
  child.removeAllListeners('exit');
  t.after(async () => {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.disconnect();
    await exited;
  });
  return (args, env = {}, cwd = tmpdir()) =>
    new Promise<CliRun>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      child.send({ id, args: [...args], env, cwd });
    });
}
