/**
 * A child process that runs the real CLI (`main` from cli/main.ts) once per IPC message, so a
 * test pays the module loading once instead of per command. Each run gets its own environment
 * (only the variables sent), working directory, and captured stdout/stderr.
 */
import { main } from '../../cli/main.ts';

interface RunMessage {
  readonly id: number;
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
}

// Every command registers its interrupt handlers; across many runs they would trip the warning.
process.setMaxListeners(0);
const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
let queue = Promise.resolve();

process.on('message', (msg: RunMessage) => {
  queue = queue.then(async () => {
    let stdout = '';
    let stderr = '';
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, baseEnv, msg.env);
    process.chdir(msg.cwd);
    process.exitCode = undefined;
    process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(msg.args);
    } finally {
      process.stdout.write = realOut;
      process.stderr.write = realErr;
    }
    process.send!({ id: msg.id, code, stdout, stderr });
  });
});
// The test closes the channel when it is done; SIGTERM would only reach the commands' interrupt handlers.
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
