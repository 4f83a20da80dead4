// The chat.completion response and the data-plane error body of ark.md §5.1, as JSON Schemas,
// so tests check what an OpenAI-compatible client would parse rather than our own types.
import assert from 'node:assert/strict';
import { Ajv, type ErrorObject } from 'ajv';
import { isArkRequestId } from '../../lib/local/ids.ts';

const int = { type: 'integer', minimum: 0 };

const chatCompletion = {
  type: 'object',
  required: ['id', 'object', 'created', 'model', 'choices', 'usage'],
  properties: {
    id: { type: 'string' },
    object: { const: 'chat.completion' },
    created: int,
    model: { type: 'string' },
    service_tier: { enum: ['auto', 'default'] },
    choices: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['index', 'finish_reason', 'message'],
        properties: {
          index: int,
          finish_reason: { enum: ['stop', 'length', 'tool_calls', 'content_filter', 'function_call'] },
          message: {
            type: 'object',
            required: ['role'],
            properties: { role: { const: 'assistant' }, content: { type: ['string', 'null'] }, reasoning_content: { type: 'string' } },
          },
          logprobs: { type: ['object', 'null'] },
        },
      },
    },
    usage: {
      type: 'object',
      required: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
      properties: {
        prompt_tokens: int,
        completion_tokens: int,
        total_tokens: int,
        prompt_tokens_details: { type: 'object', properties: { cached_tokens: int } },
        completion_tokens_details: { type: 'object', properties: { reasoning_tokens: int } },
      },
    },
  },
};

const errorBody = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'param', 'type'],
      additionalProperties: false,
      properties: { code: { type: 'string' }, message: { type: 'string' }, param: { type: 'string' }, type: { type: 'string' } },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: true });
const validCompletion: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null } = ajv.compile(chatCompletion);
const validError: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null } = ajv.compile(errorBody);

export interface ChatCompletion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; finish_reason: string; message: { role: string; content: string; reasoning_content?: string } }[];
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details: { cached_tokens: number };
    completion_tokens_details: { reasoning_tokens: number };
  };
}

export interface ArkErrorBody {
  error: { code: string; message: string; param: string; type: string };
}

export function assertChatCompletion(body: unknown): asserts body is ChatCompletion {
  assert.ok(validCompletion(body), ajv.errorsText(validCompletion.errors));
  const b = body as ChatCompletion;
  assert.ok(isArkRequestId(b.id), `id ${b.id} is an Ark request id`);
  assert.equal(b.usage.total_tokens, b.usage.prompt_tokens + b.usage.completion_tokens);
}

/** An Ark error body with `code`, whose message ends with `Request ID: <requestId>`. */
export function assertArkError(body: unknown, code: string, requestId: string, arkId = true): asserts body is ArkErrorBody {
  assert.ok(validError(body), ajv.errorsText(validError.errors));
  const b = body as ArkErrorBody;
  assert.equal(b.error.code, code);
  assert.ok(b.error.message.endsWith(`Request ID: ${requestId}`), b.error.message);
  if (arkId) assert.ok(isArkRequestId(requestId), `request id ${requestId}`);
}
