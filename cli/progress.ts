import cliProgress from 'cli-progress';
import { formatBytes } from '../lib/util/size.ts';

export interface ProgressUpdate {
  readonly bytes: number;
  readonly rows?: number;
}

export interface Progress {
  update(p: ProgressUpdate): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/**
 * A progress bar on stderr, only when stderr is a terminal and the user did not ask for
 * --quiet/--json: scripts and pipes never see it.
 */
export function createProgress(options: { label: string; totalBytes?: number; quiet?: boolean; countLabel?: string }): Progress {
  if (options.quiet || !process.stderr.isTTY) return silent;
  const started = Date.now();
  const known = options.totalBytes !== undefined && options.totalBytes > 0;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: known
        ? `${options.label} {bar} {percentage}% | {done} / {total_h} | {rows} ${options.countLabel ?? 'rows'} | {rate}/s`
        : `${options.label} {done} | {rows} ${options.countLabel ?? 'rows'} | {rate}/s`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (bytes: number, rows = 0) => ({
    done: formatBytes(bytes),
    total_h: formatBytes(options.totalBytes ?? 0),
    rows: rows.toLocaleString('en-US'),
    rate: formatBytes(bytes / Math.max(0.001, (Date.now() - started) / 1000)),
  });
  bar.start(known ? options.totalBytes! : 1, 0, payload(0));
  return {
    update(p) {
      bar.update(known ? p.bytes : 0, payload(p.bytes, p.rows));
    },
    stop() {
      bar.stop();
    },
  };
}
