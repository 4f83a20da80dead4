// The one public barrel: everything the CLI does is reachable from here, as composable
// streams and as one call per command. One line per module; explicit names where two
// modules would clash.

export * from './errors.ts';

// Sources: any tabular or record source as a stream of Rows.
export * from './sources/row.ts';
export * from './sources/format.ts';
export { openSource, openInput, rowsOfInput, countBytes, type OpenSourceOptions, type OpenedSource } from './sources/open.ts';
export { createCsvParser, CSV_PARSE_REFERENCE_OPTIONS, DEFAULT_MAX_RECORD_BYTES, type CsvParser, type CsvParserOptions, type OnCsvRecord } from './sources/csv-parser.ts';
export { createCsvRowBuilder, type CsvRowBuilder, type CsvRowBuilderOptions } from './sources/csv-rows.ts';
export { rowsFromParquet, spoolToTempFile, toJsonValue, DEFAULT_MAX_ROW_GROUP_BYTES, type RowsFromParquetOptions, type SpooledFile } from './sources/parquet.ts';
export { rowsFromCsv, type RowsFromCsvOptions } from '../transforms/rows-from-csv.ts';
export { rowsFromJsonl, type RowsFromJsonlOptions } from '../transforms/rows-from-jsonl.ts';
export { rowsFromJson, type RowsFromJsonOptions } from '../transforms/rows-from-json.ts';
export { linesFromBytes } from '../transforms/lines-from-bytes.ts';
export type { Line, LineOptions } from './jsonl/lines.ts';

// Requests: templates, custom_id rules, line shapes, the chat body schema, token estimates.
export * from './requests/template.ts';
export * from './requests/custom-id.ts';
export * from './requests/targets.ts';
export * from './requests/build.ts';
export * from './requests/prepare.ts';
export * from './requests/shard.ts';
export { chatBodySchema, chatBodyValidator, describeSchemaError } from './requests/schema.ts';
export { estimateTokens, estimateBodyTokens, countBodyTokens } from './requests/tokens.ts';
export { loadTokenizer, estimatedTokens, describeTokenCounter, type TokenCounter, type LoadTokenizerOptions } from './requests/tokenizer.ts';
export { buildRequests } from '../transforms/build-requests.ts';
export { validateRequests } from '../transforms/validate-requests.ts';
export { prepareRequests } from '../transforms/prepare-requests.ts';
export { encodeJsonl, type EncodeJsonlOptions } from '../transforms/encode-jsonl.ts';

// Validation: per-line rules, uniqueness with bounded memory, rejects, whole files.
export * from './validate/check-line.ts';
export * from './validate/checker.ts';
export * from './validate/rejects.ts';
export * from './validate/items.ts';
export * from './validate/id-tracker.ts';
export * from './validate/validate-lines.ts';
export * from './validate/validate-file.ts';

// Output: atomic files, split parts with a manifest.
export { createPartsWriter, partPath, manifestPath, type PartsManifest, type PartInfo, type PartLimits } from './jsonl/parts.ts';
export type { LinesWritable } from './jsonl/parts-stream.ts';
export { linesToFile, type LinesToFileOptions } from '../transforms/lines-to-file.ts';
export { linesToParts, type LinesToPartsOptions } from '../transforms/lines-to-parts.ts';

// The fused CSV fast path of prep: bytes in, batches of checked lines out.
export { createCsvLines, type CsvLinesOptions, type CsvLinesCore } from './requests/csv-lines.ts';
export { createLineBatcher, isLineBatch, type LineBatch, type LineBatcher, type LineBatcherOptions } from './jsonl/line-batch.ts';
export { batchLinesFromCsv, type BatchLinesFromCsvOptions } from '../transforms/batch-lines-from-csv.ts';

// One call per command.
export { prep, DEFAULT_ID_MEMORY_BYTES, type PrepOptions, type PrepSummary } from './prep.ts';
export { runPipeline, type RunStages, type RunOptions } from './run/run.ts';
export { runKey, statePath, loadRunState, saveRunState, RUN_STAGES, type RunState, type RunStage, type UploadedInput } from './run/state.ts';
export { benchPrep, project as projectFiles, stats as benchStats, type PrepBenchResult, type PrepBenchOptions, type BenchRun, type BenchUploadTarget, type Projection } from './bench/prep-bench.ts';
export { markdownReport, throughputSvg } from './bench/report.ts';
export { generateRows, generateCsv, generateJsonl, generateParquet, DATASET_COLUMNS, type DatasetRow } from './bench/synthetic.ts';

// TOS: streaming multipart upload (resumable, verified), download with Range resume, listing.
export { createTosClient, parseTosUri, formatTosUri, isRetryableTosError, type TosClientConfig, type TosClientOptions, type TosLocation } from './tos/client.ts';
export { planParts, MIN_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, DEFAULT_PART_SIZE, type PartPlan, type PartPlanOptions } from './tos/part-size.ts';
export { createUploader, type TosUploadOptions, type TosUploadResult, type Uploader } from './tos/upload.ts';
export { tosUploadStream, type TosUploadWritable } from '../transforms/tos-upload-stream.ts';
export { tosObjectStream, downloadToFile, type TosObjectStreamOptions, type TosObjectInfo, type DownloadResult } from './tos/download.ts';
export { listObjects, type ListObjectsOptions, type ListedEntry } from './tos/list.ts';
export { removePrefix, type RemovePrefixOptions, type RemovePrefixResult } from './tos/remove-prefix.ts';

// Ark batch jobs: the signed OpenAPI client, job calls, waiting, result files.
export { createArkOpenApiClient, ArkApiError, isArkApiError, ARK_OPENAPI_VERSION, type ArkOpenApiClient, type ArkOpenApiClientOptions, type ArkResponse, type RetryInfo } from './ark/openapi-client.ts';
export { createJob, createJobBody, getJob, listJobs, iterateJobs, stopJob, resumeJob, deleteJob, updateJob, waitForJob, JobEndedError, validateJobName, normalizeCompletionWindow, activeJobIdFromMessage, JOB_PHASES, FINAL_PHASES, ACTIVE_PHASES, type ArkJob, type JobPhase, type KnownJobPhase, type CreateJobRequest, type CreateJobResult, type ModelRef, type ListJobsOptions, type WaitForJobOptions, type JobCallOptions, type RequestCounts, type WireTosLocation, type TosLocation as ArkTosLocation } from './ark/jobs.ts';
export { locateResults, jobOutputPrefix, kindOfKey, type ListObjects, type ListedObject, type ResultFile, type ResultKind } from './ark/results-location.ts';
export { downloadJobResults, tosLister, type DownloadJobResultsOptions, type DownloadedFile } from './ark/results.ts';

// Batch Chat: the executor behind `exec` and serve --upstream.
export { execBatch, type ExecOptions, type ExecStats, type ExecSummary } from './chat/exec.ts';
export { createChatSender, DEFAULT_MAX_RESPONSE_BYTES, type ChatSender, type ChatSenderOptions, type ChatAttempt } from './chat/sender.ts';
export { sendWithRetry, createRetryAfterBreaker, isRetryableStatus, DEFAULT_REQUEST_TIMEOUT_MS, type RetryPolicy, type RetryAfterBreaker, type ChatOutcome } from './chat/retry.ts';
export { outcomeLine, clientRequestId, type OutcomeLine } from './chat/output.ts';
export { repairTornTail, collectDoneIds, loadFinished } from './chat/resume.ts';
export { createRateLimiter, type RateLimiter, type RateLimitOptions } from './chat/rate-limit.ts';
export { createUpstreamResponder, type UpstreamResponderOptions } from './local/upstream.ts';

// Storage and Ark protocol pieces.
export { crc64, crc64Update, crc64Combine, crc64ToString, crc64FromString, CRC64_INITIAL } from './tos/crc64.ts';
export { signRequest, verifyRequest, canonicalQuery, type SigningCredentials, type SignRequestInput } from './ark/signer.ts';

// The local Ark + TOS service (`serve`, `--local`, integration tests).
export { startLocalServer, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LOCAL_API_KEY, LOCAL_REGION, type LocalServer, type LocalServerOptions } from './local/server.ts';
export { createFaults, parseFaultSpec, type Faults, type FaultDecision, type FaultRule } from './local/faults.ts';
export { createEchoResponder } from './local/echo-model.ts';
export type { ChatReply, ChatResponder } from './local/responder-types.ts';

export { parseSize, formatBytes } from './util/size.ts';
export { parseDuration } from './util/duration.ts';
export { retryAfterMs } from './util/retry-after.ts';

// Join results back onto source rows; retry what failed.
export { joinResults, joinResultsToCsv, type JoinOptions, type JoinSummary, type JoinedRows } from './join/join.ts';
export { joinToOutput, outputFormatFor, type JoinToOutputOptions, type JoinOutputSummary, type JoinOutputFormat } from './join/output.ts';
export { buildRetry, type RetryOptions, type RetrySummary } from './join/retry.ts';
export { parseResultLine, replacesKept, type ResultRecord, type ParseResultOptions } from './join/result-line.ts';
export { createResultIndex, type ResultIndex, type ResultIndexOptions, type ResultIndexStats } from './join/result-index.ts';
export { bindJoinedRow, RESULT_COLUMNS, RAW_COLUMN, type JoinStatus, type JoinedRowOptions } from './join/joined-row.ts';
export { createParquetEncoder, type ParquetEncoder, type ParquetEncoderOptions } from './join/parquet-out.ts';
export { joinedToCsv, type JoinedToCsvOptions } from '../transforms/joined-to-csv.ts';
export { joinedToJsonl, type JoinedToJsonlOptions } from '../transforms/joined-to-jsonl.ts';
export { joinedToParquet, type JoinedToParquetOptions } from '../transforms/joined-to-parquet.ts';
export { bytesToFile, type BytesToFileOptions } from '../transforms/bytes-to-file.ts';
