import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * JSON Schema of an Ark chat body as it may appear in a batch line (ark.md §5.1). Unknown
 * parameters pass (Ark adds them over time); known ones are range-checked; `stream` must not be
 * true because batch endpoints reject streaming.
 */
const textPart = {
  type: 'object',
  required: ['type', 'text'],
  properties: { type: { const: 'text' }, text: { type: 'string' } },
};
const imagePart = {
  type: 'object',
  required: ['type', 'image_url'],
  properties: {
    type: { const: 'image_url' },
    image_url: {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', minLength: 1 }, detail: { enum: ['auto', 'low', 'high'] } },
    },
  },
};
const videoPart = {
  type: 'object',
  required: ['type', 'video_url'],
  properties: {
    type: { const: 'video_url' },
    video_url: { type: 'object', required: ['url'], properties: { url: { type: 'string', minLength: 1 }, fps: { type: 'number', exclusiveMinimum: 0 } } },
  },
};
const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['text', 'image_url', 'video_url'] } },
  oneOf: [textPart, imagePart, videoPart],
};

const message = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { enum: ['system', 'user', 'assistant', 'tool'] },
    content: { anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: contentPart }, { type: 'null' }] },
    name: { type: 'string' },
    tool_call_id: { type: 'string' },
    tool_calls: { type: 'array' },
  },
  allOf: [
    // Only an assistant message that calls tools may go without content.
    { if: { properties: { role: { const: 'assistant' }, tool_calls: { type: 'array' } }, required: ['tool_calls'] }, else: { required: ['content'] } },
    { if: { properties: { role: { const: 'tool' } }, required: ['role'] }, then: { required: ['tool_call_id'] } },
  ],
};

export const chatBodySchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: { type: 'array', minItems: 1, items: message },
    model: { type: 'string', minLength: 1 },
    max_tokens: { type: 'integer', minimum: 1 },
    max_completion_tokens: { type: 'integer', minimum: 1 },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    stop: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: 4, items: { type: 'string' } }, { type: 'null' }] },
    stream: { not: { const: true } },
    frequency_penalty: { type: 'number', minimum: -2, maximum: 2 },
    presence_penalty: { type: 'number', minimum: -2, maximum: 2 },
    logprobs: { type: 'boolean' },
    top_logprobs: { type: 'integer', minimum: 0, maximum: 20 },
    n: { type: 'integer', minimum: 1 },
    tools: { type: 'array', items: { type: 'object', required: ['type'] } },
    response_format: { type: 'object', required: ['type'], properties: { type: { enum: ['text', 'json_object', 'json_schema'] } } },
    thinking: { type: 'object', required: ['type'], properties: { type: { enum: ['enabled', 'disabled', 'auto'] } } },
    service_tier: { enum: ['auto', 'default'] },
  },
} as const;

let compiled: ValidateFunction | undefined;

/** The chat body validator, compiled once per process on first use. */
export function chatBodyValidator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true }).compile(chatBodySchema);
  return compiled;
}

/** `body.messages[0].role must be one of system, user, assistant, tool` */
export function describeSchemaError(errors: readonly ErrorObject[] | null | undefined, root = 'body'): string {
  const e = pickError(errors ?? []);
  if (!e) return `${root} is invalid`;
  const path = root + e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
  switch (e.keyword) {
    case 'enum':
      return `${path} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'required':
      return `${path}.${(e.params as { missingProperty: string }).missingProperty} is required`;
    case 'not':
      return `${path} must not be ${path.endsWith('.stream') ? 'true (batch requests cannot stream)' : 'this value'}`;
    case 'const':
      return `${path} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${path} ${e.message ?? 'is invalid'}`;
  }
}

// anyOf/oneOf report every branch; the deepest error usually names the real problem.
function pickError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  let best: ErrorObject | undefined;
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue;
    if (!best || e.instancePath.length > best.instancePath.length) best = e;
  }
  return best ?? errors[0];
}
