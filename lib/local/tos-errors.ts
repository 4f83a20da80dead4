import { ArkBatchError } from '../errors.ts';

/**
 * TOS server error codes the local service answers with, and how each goes on the wire.
 * `ec` values other than NoSuchBucket's (which the SDK's doesBucketExist checks) are local
 * stand-ins with the real format.
 */
export const TOS_ERRORS = {
  AccessDenied: { status: 403, ec: '0003-00000001', message: 'Access Denied.' },
  SignatureDoesNotMatch: { status: 403, ec: '0002-00000001', message: 'The request signature we calculated does not match the signature you provided.' },
  InvalidAccessKeyId: { status: 403, ec: '0002-00000002', message: 'The access key Id you provided does not exist in our records.' },
  RequestTimeTooSkewed: { status: 403, ec: '0002-00000003', message: 'The difference between the request time and the server time is too large.' },
  AuthorizationHeaderMalformed: { status: 400, ec: '0002-00000004', message: 'The authorization header is malformed.' },
  InvalidSecurityToken: { status: 403, ec: '0002-00000005', message: 'The security token included in the request is invalid.' },
  NoSuchBucket: { status: 404, ec: '0006-00000001', message: 'The specified bucket does not exist.' },
  BucketAlreadyOwnedByYou: { status: 409, ec: '0006-00000002', message: 'Your previous request to create the named bucket succeeded and you already own it.' },
  InvalidBucketName: { status: 400, ec: '0006-00000003', message: 'The specified bucket is not valid.' },
  BucketNotEmpty: { status: 409, ec: '0006-00000004', message: 'The bucket you tried to delete is not empty.' },
  NoSuchKey: { status: 404, ec: '0017-00000003', message: 'The specified key does not exist.' },
  InvalidObjectName: { status: 400, ec: '0017-00000001', message: 'The specified object name is not valid.' },
  KeyTooLong: { status: 400, ec: '0017-00000002', message: 'Your key is too long.' },
  InvalidRange: { status: 416, ec: '0017-00000004', message: 'The requested range cannot be satisfied.' },
  EntityTooLarge: { status: 400, ec: '0017-00000005', message: 'Your proposed upload exceeds the maximum allowed object size.' },
  IncompleteBody: { status: 400, ec: '0017-00000006', message: 'You did not provide the number of bytes specified by the Content-Length HTTP header.' },
  InvalidDigest: { status: 400, ec: '0017-00000007', message: 'The Content-MD5 you specified is not valid.' },
  BadDigest: { status: 400, ec: '0017-00000008', message: 'The Content-MD5 you specified did not match what we received.' },
  PreconditionFailed: { status: 412, ec: '0017-00000009', message: 'At least one of the preconditions you specified did not hold.' },
  NoSuchUpload: { status: 404, ec: '0016-00000001', message: 'The specified multipart upload does not exist.' },
  InvalidPart: { status: 400, ec: '0016-00000002', message: 'One or more of the specified parts could not be found or the ETag did not match.' },
  InvalidPartOrder: { status: 400, ec: '0016-00000003', message: 'The list of parts was not valid: a part number appears more than once.' },
  EntityTooSmall: { status: 400, ec: '0016-00000004', message: 'Your proposed upload is smaller than the minimum allowed object size.' },
  InvalidArgument: { status: 400, ec: '0001-00000001', message: 'Invalid argument.' },
  MalformedBody: { status: 400, ec: '0001-00000002', message: 'The request body is not valid JSON of the expected shape.' },
  MethodNotAllowed: { status: 405, ec: '0001-00000003', message: 'The specified method is not allowed against this resource.' },
  NotImplemented: { status: 501, ec: '0001-00000004', message: 'This operation is not implemented by the local service.' },
  InternalError: { status: 500, ec: '0005-00000001', message: 'We encountered an internal error. Please try again.' },
  ServiceUnavailable: { status: 503, ec: '0005-00000002', message: 'Please reduce your request rate.' },
  TooManyRequests: { status: 429, ec: '0005-00000003', message: 'Too many requests.' },
} as const satisfies Record<string, { status: number; ec: string; message: string }>;

export type TosErrorCode = keyof typeof TOS_ERRORS;

/** An error the TOS protocol layer turns into a JSON error response (code → status, `x-tos-ec`). */
export function tosError(code: TosErrorCode, detail?: string, cause?: unknown): ArkBatchError {
  const spec = TOS_ERRORS[code];
  return new ArkBatchError('E_TOS', `${code}: ${detail ?? spec.message}`, { status: spec.status, remoteCode: code, cause });
}

/** The wire form of an ArkBatchError raised by the store or the handler; anything else is a 500. */
export function tosErrorWire(err: unknown): { status: number; code: string; message: string; ec: string } {
  if (err instanceof ArkBatchError && err.remoteCode && err.remoteCode in TOS_ERRORS) {
    const spec = TOS_ERRORS[err.remoteCode as TosErrorCode];
    const message = err.detail.startsWith(`${err.remoteCode}: `) ? err.detail.slice(err.remoteCode.length + 2) : err.detail;
    return { status: spec.status, code: err.remoteCode, message, ec: spec.ec };
  }
  const spec = TOS_ERRORS.InternalError;
  return { status: spec.status, code: 'InternalError', message: spec.message, ec: spec.ec };
}

const CODE_FOR_STATUS: Readonly<Record<number, string>> = {
  400: 'InvalidArgument',
  403: 'AccessDenied',
  404: 'NoSuchKey',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** A status-only fault maps to the TOS code a real server would send with it. */
export function tosCodeForStatus(status: number): string {
  return CODE_FOR_STATUS[status] ?? (status >= 500 ? 'InternalError' : 'InvalidArgument');
}
