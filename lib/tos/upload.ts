import type { TosClient } from '@volcengine/tos-sdk';
import { ArkBatchError } from '../errors.ts';
import { readCheckpoint, removeCheckpoint, writeCheckpoint, type CheckpointPart } from './checkpoint.ts';
import { tosError, tosErrorInfo } from './client.ts';
import { crc64, crc64Combine, crc64FromString, crc64ToString, CRC64_INITIAL } from './crc64.ts';
import { planParts, type PartPlan, type PartPlanOptions } from './part-size.ts';
import { withRetry, type RetryOptions } from './retry.ts';

export interface TosUploadOptions extends PartPlanOptions, RetryOptions {
  readonly client: TosClient;
  readonly bucket: string;
  readonly key: string;
  /** Parts uploading at once; memory is about partSize × (concurrency + 1). @default 4 */
  readonly concurrency?: number;
  /**
   * A checkpoint file: a failed or killed upload is left open and continues from here on the
   * next run with the same input; removed after success. Without it a failure aborts the upload.
   */
  readonly checkpoint?: string;
  /** @default 'application/octet-stream' (TOS then guesses nothing) */
  readonly contentType?: string;
  /** Called as bytes are accepted and parts finish. */
  readonly onProgress?: (p: UploadProgress) => void;
  /** Called before a retry of a failed call (for a log line). */
  readonly onRetry?: (err: ArkBatchError) => void;
}

export interface UploadProgress {
  readonly bytes: number;
  readonly partsDone: number;
}

export interface TosUploadResult {
  readonly bucket: string;
  readonly key: string;
  readonly bytes: number;
  /** 0 for a single PutObject. */
  readonly parts: number;
  /** CRC-64/ECMA of the whole object, unsigned decimal, equal to the server's. */
  readonly crc64: string;
  readonly etag: string;
  readonly seconds: number;
  /** Parts sent in this run and parts found already uploaded (resume) and verified by CRC. */
  readonly partsSent: number;
  readonly partsReused: number;
}

interface DonePart {
  readonly size: number;
  readonly crc: bigint;
  readonly etag: string;
}

export interface Uploader {
  /** Accepts bytes; resolves when they are buffered or handed to a part upload (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Uploads what is left, completes and verifies the object. */
  finish(): Promise<TosUploadResult>;
  /** Stops retries, waits for parts in flight, aborts the upload unless checkpointing. */
  fail(err: unknown): Promise<void>;
}

/**
 * The multipart part loop as a push API: bytes go in, part Buffers of the planned sizes go to
 * UploadPart with bounded concurrency and retries, and `finish` completes with the parts in
 * ascending order and compares the combined CRC with the server's. Input of at most one part
 * becomes a single PutObject, so the first full part is held until more bytes show up.
 * `onFailure` hears about a part that failed for good, even while no write or finish is waiting.
 */
export function createUploader(options: TosUploadOptions, onFailure?: (err: unknown) => void): Uploader {
  const { client, bucket, key } = options;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ArkBatchError('E_USAGE', `Expected concurrency to be an integer >= 1, got ${concurrency}`);
  const maxParts = options.maxParts ?? 10_000;
  const plan: PartPlan = planParts(options);
  const started = Date.now();
  const stop = new AbortController();
  const contentType = options.contentType ?? 'application/octet-stream';
  const onRetry = (what: string, partNumber?: number) => (err: unknown) => options.onRetry?.(tosError(partNumber ? 'E_UPLOAD_PART' : 'E_TOS', `${what} (retrying)`, err, { partNumber }));

  let loaded = false;
  let uploadId: string | undefined;
  let existing = new Map<number, { size: number; etag: string; crc?: string }>();
  const done = new Map<number, DonePart>();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  let closed = false;
  let partNumber = 1;
  let buf: Buffer | null = null;
  let filled = 0;
  let heldFirst: Buffer | null = null;
  let bytes = 0;
  let partsSent = 0;
  let partsReused = 0;
  let saving: Promise<void> = Promise.resolve();
  let starting: Promise<void> | null = null;

  const progress = () => options.onProgress?.({ bytes, partsDone: done.size });

  async function load(): Promise<void> {
    if (loaded) return;
    loaded = true;
    if (!options.checkpoint) return;
    const cp = await readCheckpoint(options.checkpoint);
    if (!cp) return;
    if (cp.bucket !== bucket || cp.key !== key) {
      throw new ArkBatchError('E_USAGE', `Checkpoint belongs to tos://${cp.bucket}/${cp.key}, not tos://${bucket}/${key}`, { file: options.checkpoint });
    }
    if (cp.partSize !== plan.baseSize || cp.fixedPartSize !== plan.fixed) {
      throw new ArkBatchError('E_USAGE', `Checkpoint was written with part size ${cp.partSize}${cp.fixedPartSize ? ' (fixed)' : ''}; resume with the same --part-size and input, or remove the checkpoint`, { file: options.checkpoint });
    }
    const fromCheckpoint = new Map<number, CheckpointPart>(cp.parts.map((p) => [p.partNumber, p]));
    try {
      existing = await listUploadedParts(cp.uploadId, fromCheckpoint);
    } catch (err) {
      // The upload was completed or aborted since: start a new one.
      if (tosErrorInfo(err).status === 404) return;
      throw tosError('E_TOS', 'ListParts', err);
    }
    uploadId = cp.uploadId;
  }

  async function listUploadedParts(id: string, fromCheckpoint: Map<number, CheckpointPart>) {
    const found = new Map<number, { size: number; etag: string; crc?: string }>();
    let marker = 0;
    for (;;) {
      const page = await withRetry(() => client.listParts({ bucket, key, uploadId: id, maxParts: 1000, ...(marker ? { partNumberMarker: marker } : {}) }), options, stop.signal, onRetry('ListParts'));
      for (const p of page.data.Parts) {
        const crc = (p as { HashCrc64ecma?: string }).HashCrc64ecma || fromCheckpoint.get(p.PartNumber)?.crc64;
        found.set(p.PartNumber, { size: p.Size, etag: p.ETag, crc });
      }
      if (!page.data.IsTruncated) return found;
      marker = page.data.NextPartNumberMarker;
    }
  }

  function save(): Promise<void> {
    const path = options.checkpoint;
    if (!path || !uploadId) return saving;
    const id = uploadId;
    // Serialised: each write sees every part finished before it was queued.
    saving = saving.then(() =>
      writeCheckpoint(path, {
        version: 1,
        bucket,
        key,
        uploadId: id,
        partSize: plan.baseSize,
        fixedPartSize: plan.fixed,
        parts: [...done].sort((a, b) => a[0] - b[0]).map(([n, p]) => ({ partNumber: n, size: p.size, etag: p.etag, crc64: crc64ToString(p.crc) })),
      }),
    );
    return saving;
  }

  function startMultipart(): Promise<void> {
    // Checked synchronously: a write still running after fail() must not open a new upload.
    if (closed) return Promise.reject(new ArkBatchError('E_ABORTED', 'Upload was stopped'));
    starting ??= (async () => {
      if (uploadId) return;
      const res = await withRetry(() => client.createMultipartUpload({ bucket, key, headers: { 'content-type': contentType } } as Parameters<TosClient['createMultipartUpload']>[0]), options, stop.signal, onRetry('CreateMultipartUpload')).catch((err) => {
        throw tosError('E_TOS', 'CreateMultipartUpload', err);
      });
      uploadId = res.data.UploadId;
      await save();
    })();
    return starting;
  }

  async function uploadOne(n: number, data: Buffer): Promise<void> {
    const crc = crc64(data);
    const old = existing.get(n);
    if (old && old.size === data.length && old.crc !== undefined) {
      if (crc64FromString(old.crc) !== crc) {
        throw new ArkBatchError('E_INTEGRITY', 'The input differs from the part uploaded before the interruption; resume needs the same input (or remove the checkpoint)', { partNumber: n, file: options.checkpoint });
      }
      done.set(n, { size: data.length, crc, etag: old.etag });
      partsReused++;
      progress();
      return save();
    }
    const id = uploadId!;
    const res = await withRetry(() => client.uploadPart({ bucket, key, uploadId: id, partNumber: n, body: data }), options, stop.signal, onRetry('UploadPart', n)).catch((err) => {
      throw tosError('E_UPLOAD_PART', 'UploadPart', err, { partNumber: n });
    });
    const serverCrc = res.data.hashCrc64ecma;
    if (serverCrc && crc64FromString(serverCrc) !== crc) {
      throw new ArkBatchError('E_INTEGRITY', `Part CRC-64 mismatch: sent ${crc64ToString(crc)}, server has ${serverCrc}`, { partNumber: n, requestId: res.requestId });
    }
    done.set(n, { size: data.length, crc, etag: res.data.ETag });
    partsSent++;
    progress();
    return save();
  }

  async function dispatch(n: number, data: Buffer): Promise<void> {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure) throw failure;
    if (closed) throw new ArkBatchError('E_ABORTED', 'Upload was stopped');
    const task: Promise<void> = uploadOne(n, data).then(
      () => {
        inFlight.delete(task);
      },
      (err: unknown) => {
        inFlight.delete(task);
        if (failure) return;
        failure = err;
        // Reported at once: a slow or stalled producer would otherwise hide it until its next write.
        onFailure?.(err);
      },
    );
    inFlight.add(task);
  }

  async function settle(): Promise<void> {
    while (inFlight.size > 0) await Promise.race(inFlight);
  }

  return {
    async write(chunk) {
      if (failure) throw failure;
      await load();
      let offset = 0;
      while (offset < chunk.length) {
        if (heldFirst) {
          await startMultipart();
          const first = heldFirst;
          heldFirst = null;
          await dispatch(1, first);
        }
        if (!buf) {
          if (partNumber > maxParts) throw new ArkBatchError('E_FILE_TOO_LARGE', `Input is larger than ${plan.capacity} bytes, the most ${maxParts} parts of this part size hold; raise the part size`);
          buf = Buffer.allocUnsafe(plan.sizeOf(partNumber));
          filled = 0;
        }
        const n = Math.min(buf.length - filled, chunk.length - offset);
        buf.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        bytes += n;
        if (filled === buf.length) {
          const full = buf;
          buf = null;
          const number = partNumber++;
          if (number === 1 && !uploadId) heldFirst = full;
          else await dispatch(number, full);
        }
      }
      progress();
    },

    async finish() {
      if (failure) throw failure;
      await load();
      if (!uploadId) {
        const body = heldFirst ?? (buf ? buf.subarray(0, filled) : Buffer.alloc(0));
        heldFirst = buf = null;
        return putSingle(body);
      }
      if (heldFirst) {
        await dispatch(1, heldFirst);
        heldFirst = null;
      }
      if (buf && filled > 0) await dispatch(partNumber, buf.subarray(0, filled));
      buf = null;
      await settle();
      if (failure) throw failure;
      await saving;
      if (done.size === 0) {
        // A resumed upload whose input turned out empty: nothing to complete.
        await abortUpload();
        return putSingle(Buffer.alloc(0));
      }
      const numbers = [...done.keys()].sort((a, b) => a - b);
      let crc = CRC64_INITIAL;
      for (const n of numbers) crc = crc64Combine(crc, done.get(n)!.crc, done.get(n)!.size);
      const id = uploadId;
      let attempts = 0;
      const completed = await withRetry(
        () => {
          attempts++;
          return client.completeMultipartUpload({ bucket, key, uploadId: id, parts: numbers.map((n) => ({ partNumber: n, eTag: done.get(n)!.etag })) });
        },
        options,
        stop.signal,
        onRetry('CompleteMultipartUpload'),
      ).catch((err) => {
        // A retried complete that finds no upload: the first attempt most likely succeeded and
        // only its answer was lost. The CRC check below decides whether the object is ours.
        if (attempts > 1 && tosErrorInfo(err).status === 404) return null;
        throw tosError('E_TOS', 'CompleteMultipartUpload', err);
      });
      uploadId = undefined;
      const etag = await verifyObject(crc, completed?.data.HashCrc64ecma);
      if (options.checkpoint) await removeCheckpoint(options.checkpoint);
      return result(crc, completed?.data.ETag ?? etag ?? '', numbers.length);
    },

    async fail() {
      closed = true;
      stop.abort(new ArkBatchError('E_ABORTED', 'Upload was stopped'));
      await starting?.catch(() => undefined);
      await settle();
      await saving.catch(() => undefined);
      if (!options.checkpoint) await abortUpload();
    },
  };

  async function abortUpload(): Promise<void> {
    if (!uploadId) return;
    const id = uploadId;
    uploadId = undefined;
    // Its own retries: the transfer's signal is already aborted when this runs.
    await withRetry(() => client.abortMultipartUpload({ bucket, key, uploadId: id }), options).catch((err) => {
      if (tosErrorInfo(err).status === 404) return;
      throw tosError('E_TOS', `AbortMultipartUpload of upload ${id}`, err);
    });
    if (options.checkpoint) await removeCheckpoint(options.checkpoint);
  }

  async function putSingle(body: Buffer): Promise<TosUploadResult> {
    const crc = crc64(body);
    const res = await withRetry(() => client.putObject({ bucket, key, body, headers: { 'content-type': contentType } } as Parameters<TosClient['putObject']>[0]), options, stop.signal, onRetry('PutObject')).catch((err) => {
      throw tosError('E_TOS', 'PutObject', err);
    });
    const headers = res.headers as Record<string, string | undefined>;
    await verifyObject(crc, res.data['x-tos-hash-crc64ecma'] ?? headers['x-tos-hash-crc64ecma']);
    done.set(1, { size: body.length, crc, etag: headers.etag ?? '' });
    partsSent++;
    if (options.checkpoint) await removeCheckpoint(options.checkpoint);
    return result(crc, headers.etag ?? '', 0);
  }

  /**
   * Compares our CRC with the object's (asking HeadObject when the response had none); a bad
   * object is deleted so nobody takes it for good. Returns the ETag when it had to ask.
   */
  async function verifyObject(crc: bigint, reported: string | undefined): Promise<string | undefined> {
    let serverCrc = reported;
    let etag: string | undefined;
    if (!serverCrc) {
      const head = await withRetry(() => client.headObject({ bucket, key }), options, stop.signal).catch((err) => {
        throw tosError('E_TOS', 'HeadObject', err);
      });
      serverCrc = head.data['x-tos-hash-crc64ecma'] as string | undefined;
      etag = head.data.etag;
      // A service that keeps no CRC (not TOS) cannot be checked; TOS always sends one.
      if (!serverCrc) return etag;
    }
    if (crc64FromString(serverCrc) === crc) return etag;
    await withRetry(() => client.deleteObject({ bucket, key }), options).catch((err) => {
      throw tosError('E_TOS', 'DeleteObject of the corrupt object', err);
    });
    throw new ArkBatchError('E_INTEGRITY', `Object CRC-64 mismatch: sent ${crc64ToString(crc)}, server has ${serverCrc}; the object was deleted`);
  }

  function result(crc: bigint, etag: string, parts: number): TosUploadResult {
    return { bucket, key, bytes, parts, crc64: crc64ToString(crc), etag, seconds: (Date.now() - started) / 1000, partsSent, partsReused };
  }
}
