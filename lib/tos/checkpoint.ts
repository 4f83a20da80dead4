import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { ArkBatchError } from '../errors.ts';

/**
 * The resume state of one multipart upload, rewritten (temp file + rename) after every part so
 * a kill -9 leaves either the old or the new state, never half of one.
 */
export interface UploadCheckpoint {
  readonly version: 1;
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  /** The part plan the input was cut with; a resume must cut it the same way. */
  readonly partSize: number;
  readonly fixedPartSize: boolean;
  /** Parts known to be uploaded, ascending. */
  readonly parts: readonly CheckpointPart[];
}

export interface CheckpointPart {
  readonly partNumber: number;
  readonly size: number;
  readonly etag: string;
  /** CRC-64/ECMA, unsigned decimal. */
  readonly crc64: string;
}

export async function readCheckpoint(path: string): Promise<UploadCheckpoint | null> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ArkBatchError('E_IO', `Cannot read checkpoint: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path, cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ArkBatchError('E_USAGE', 'Checkpoint file is not JSON; remove it to start over', { file: path, cause: err });
  }
  const cp = value as Partial<UploadCheckpoint>;
  if (cp.version !== 1 || typeof cp.uploadId !== 'string' || typeof cp.bucket !== 'string' || typeof cp.key !== 'string' || typeof cp.partSize !== 'number' || !Array.isArray(cp.parts)) {
    throw new ArkBatchError('E_USAGE', 'Checkpoint file is not an ark-batch upload checkpoint; remove it to start over', { file: path });
  }
  return cp as UploadCheckpoint;
}

export async function writeCheckpoint(path: string, checkpoint: UploadCheckpoint): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, JSON.stringify(checkpoint) + '\n');
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw new ArkBatchError('E_IO', `Cannot write checkpoint: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path, cause: err });
  }
}

export async function removeCheckpoint(path: string): Promise<void> {
  await fs.rm(path, { force: true });
}
