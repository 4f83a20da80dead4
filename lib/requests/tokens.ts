/**
 * Input-token ESTIMATES for chat bodies, without a tokenizer. The numbers are close enough to
 * size batches, budget TPM/TPD quotas and fill `usage` in the local echo model; they are not
 * what Ark bills, which depends on the model's own tokenizer. For exact text counts, load that
 * tokenizer with `loadTokenizer` (tokenizer.ts); `countBodyTokens` walks a body with either.
 *
 * Rules for text (one pass over UTF-16 code units, no regex, no allocation):
 * - CJK ideographs, kana, hangul, bopomofo, CJK and fullwidth punctuation: 1 token per character.
 * - CJK in the supplementary planes (U+20000–U+3FFFF): 1 token per character.
 * - Other supplementary characters (emoji, rare scripts): 2 tokens each; an unpaired surrogate 1.
 * - Words (runs of letters, digits, marks): ⌈units / 5⌉ tokens, where an ASCII letter or digit is
 *   1 unit, a Latin-1/Latin-Extended letter 2 and a letter of any other script 3. So an English
 *   word of up to 5 letters is 1 token (≈ 4 characters per token with the spaces), and Cyrillic,
 *   Greek, Arabic, Thai… run at about 1.7 characters per token.
 * - ASCII punctuation and symbols (U+2010–U+2BFF: dashes, quotes, arrows, dingbats…): 1 token each.
 * - Whitespace: 0 (it ends a word). Zero-width joiners, variation selectors, BOM: 0 (they do not).
 *
 * Properties the tests pin: 0 for "", never decreases when text is appended (even inside a
 * surrogate pair), and `estimateTokens(a + b) <= estimateTokens(a) + estimateTokens(b)`.
 */

/** Role, separators and name framing of one message. */
export const TOKENS_PER_MESSAGE = 4;
/** The assistant reply priming added once per request that has messages. */
export const TOKENS_PER_REPLY = 3;
/** A fixed amount per image part (`detail` "auto" or "high"), whatever its size. */
export const TOKENS_PER_IMAGE = 1024;
/** An image part with `detail: "low"`. */
export const TOKENS_PER_IMAGE_LOW = 256;
/** A fixed amount per video part. */
export const TOKENS_PER_VIDEO = 4096;
/** Word units per token (an ASCII letter is 1 unit). */
const UNITS_PER_WORD_TOKEN = 5;

export function estimateTokens(text: string): number {
  let tokens = 0;
  let units = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
        units += 1;
        continue;
      }
      if (units) tokens += wordTokens(units);
      units = 0;
      // Space and controls end a word and cost nothing; the rest is punctuation.
      if (c > 0x20 && c !== 0x7f) tokens += 1;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      if (units) tokens += wordTokens(units);
      units = 0;
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = ((c - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
        tokens += cp >= 0x20000 && cp <= 0x3ffff ? 1 : 2;
        i++;
      } else {
        tokens += 1;
      }
      continue;
    }
    const kind = classify(c);
    if (kind === ZERO_WIDTH) continue;
    if (kind >= LETTER_LATIN) {
      units += kind === LETTER_LATIN ? 2 : 3;
      continue;
    }
    if (units) tokens += wordTokens(units);
    units = 0;
    if (kind === SYMBOL) tokens += 1;
  }
  if (units) tokens += wordTokens(units);
  return tokens;
}

/**
 * Estimated prompt tokens of a chat (or embeddings) body: every message's text, name and tool
 * calls plus `TOKENS_PER_MESSAGE`, image and video parts at their fixed amounts, the `tools`
 * declarations as JSON, and `TOKENS_PER_REPLY` once. Anything that is not of the documented
 * shape counts 0 rather than throwing: validation is a separate step.
 */
export function estimateBodyTokens(body: unknown): number {
  return countBodyTokens(body, estimateTokens);
}

/**
 * Prompt tokens of a body with `countText` for its text (a model's tokenizer, see
 * tokenizer.ts): the same walk as `estimateBodyTokens`, so the message framing, images and
 * videos still count their documented fixed amounts.
 */
export function countBodyTokens(body: unknown, countText: (text: string) => number): number {
  if (!isObject(body)) return 0;
  let tokens = 0;
  const messages = body.messages;
  if (Array.isArray(messages) && messages.length > 0) {
    tokens += TOKENS_PER_REPLY;
    for (const message of messages) {
      if (!isObject(message)) continue;
      tokens += TOKENS_PER_MESSAGE + contentTokens(message.content, countText);
      if (typeof message.name === 'string') tokens += countText(message.name);
      if (Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls) {
          if (!isObject(call) || !isObject(call.function)) continue;
          if (typeof call.function.name === 'string') tokens += countText(call.function.name);
          if (typeof call.function.arguments === 'string') tokens += countText(call.function.arguments);
        }
      }
    }
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) tokens += countText(JSON.stringify(body.tools));
  const input = body.input;
  if (typeof input === 'string') tokens += countText(input);
  else if (Array.isArray(input)) for (const item of input) tokens += contentTokens(typeof item === 'string' ? item : [item], countText);
  return tokens;
}

function contentTokens(content: unknown, countText: (text: string) => number): number {
  if (typeof content === 'string') return countText(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (!isObject(part)) continue;
    if (part.type === 'text' && typeof part.text === 'string') tokens += countText(part.text);
    else if (part.type === 'image_url') tokens += isObject(part.image_url) && part.image_url.detail === 'low' ? TOKENS_PER_IMAGE_LOW : TOKENS_PER_IMAGE;
    else if (part.type === 'video_url') tokens += TOKENS_PER_VIDEO;
  }
  return tokens;
}

function wordTokens(units: number): number {
  return Math.ceil(units / UNITS_PER_WORD_TOKEN);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Character classes of non-ASCII BMP code units, in increasing order so `>= LETTER_LATIN` means "in a word".
const SPACE = 0;
const ZERO_WIDTH = 1;
const SYMBOL = 2;
const LETTER_LATIN = 3;
const LETTER_OTHER = 4;

function classify(c: number): number {
  if (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f) return SPACE;
  if (c === 0x3000) return SPACE;
  if ((c >= 0x200b && c <= 0x200d) || c === 0x2060 || c === 0xfeff || (c >= 0xfe00 && c <= 0xfe0f)) return ZERO_WIDTH;
  if (c < 0xc0) return c >= 0x80 && c < 0xa0 ? SPACE : SYMBOL; // C1 controls; Latin-1 signs (¡ © « ° …)
  if (c < 0x250) return c === 0xd7 || c === 0xf7 ? SYMBOL : LETTER_LATIN;
  if (c >= 0x2010 && c <= 0x2bff) return SYMBOL;
  // CJK radicals to CJK Unified Ideographs (incl. kana, bopomofo, hangul compatibility, ext A).
  if (c >= 0x2e80 && c <= 0x9fff) return SYMBOL;
  if ((c >= 0x1100 && c <= 0x11ff) || (c >= 0xa960 && c <= 0xa97f) || (c >= 0xac00 && c <= 0xd7ff)) return SYMBOL; // hangul
  if ((c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xffef)) return SYMBOL;
  if (c >= 0xfff0) return SYMBOL;
  return LETTER_OTHER;
}
