/**
 * Seeded synthetic Ark job output for the rows of `lib/bench/synthetic.ts` (custom_id = the `id`
 * column): results.jsonl in shuffled completion order, errors.jsonl in both error shapes, some
 * requests missing, some duplicated and some orphans. The same seed gives the same bytes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { prng } from './synthetic.ts';

export interface GenerateResultsOptions {
  readonly rows: number;
  readonly resultsPath: string;
  readonly errorsPath: string;
  /** @default 2 */
  readonly seed?: number;
}

export interface GeneratedResults {
  readonly ok: number;
  readonly error: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly orphans: number;
  readonly resultsBytes: number;
  readonly errorsBytes: number;
}


const WORDS = ['the', 'review', 'is', 'positive', 'negative', 'mixed', 'about', 'price', 'quality', 'delivery', 'because', 'customer', 'says', 'label'];
const CJK = ['正面', '负面', '中性', '质量', '物流', '价格', '推荐'];

class Out {
  bytes = 0;
  #buf = '';
  constructor(readonly stream: Writable) {}
  async line(s: string): Promise<void> {
    this.#buf += s + '\n';
    if (this.#buf.length > 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    this.bytes += Buffer.byteLength(this.#buf);
    if (!this.stream.write(this.#buf)) await once(this.stream, 'drain');
    this.#buf = '';
  }
  async end(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

export async function generateResults(opts: GenerateResultsOptions): Promise<GeneratedResults> {
  const rand = prng(opts.seed ?? 2);
  const order = new Uint32Array(opts.rows);
  for (let i = 0; i < opts.rows; i++) order[i] = i + 1;
  for (let i = opts.rows - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const results = new Out(createWriteStream(opts.resultsPath));
  const errors = new Out(createWriteStream(opts.errorsPath));
  const counts = { ok: 0, error: 0, missing: 0, duplicates: 0, orphans: 0 };
  let seq = 0;
  const requestId = () => `0217${String(1741184547000 + ++seq).padStart(13, '0')}00000000000000000000ffffac1520039ca4e1`;
  const content = () => {
    const target = 10 + Math.floor(rand() * 70);
    let s = '';
    while (s.length < target) s += rand() < 0.1 ? CJK[Math.floor(rand() * CJK.length)] : WORDS[Math.floor(rand() * WORDS.length)] + (rand() < 0.1 ? ', ' : ' ');
    return s;
  };
  const okLine = (customId: string) => {
    const id = requestId();
    const completion = 20 + Math.floor(rand() * 200);
    return JSON.stringify({
      id,
      custom_id: customId,
      error: null,
      response: {
        request_id: id,
        status_code: 200,
        body: {
          id,
          object: 'chat.completion',
          created: 1741184547,
          model: 'doubao-seed-1-6',
          choices: [{ index: 0, message: { role: 'assistant', content: content() }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 40 + Math.floor(rand() * 100), completion_tokens: completion, total_tokens: completion + 100 },
        },
      },
    });
  };
  for (let k = 0; k < opts.rows; k++) {
    const n = order[k]!;
    const customId = `r${String(n).padStart(8, '0')}`;
    const r = rand();
    if (r < 0.03) {
      counts.missing++;
    } else if (r < 0.05) {
      counts.error++;
      const id = requestId();
      await errors.line(JSON.stringify({ id, custom_id: customId, response: null, error: { code: 'AccessDenied', type: 'Forbidden', message: 'The request failed because you do not have access to the requested resource.' } }));
    } else if (r < 0.07) {
      counts.error++;
      const id = requestId();
      await errors.line(JSON.stringify({ id, custom_id: customId, error: null, response: { request_id: id, status_code: 429, body: { error: { code: 'RateLimitExceeded', message: 'The request has exceeded a rate limit of your account.', type: 'TooManyRequests' } } } }));
    } else {
      counts.ok++;
      await results.line(okLine(customId));
      if (rand() < 0.005) {
        counts.duplicates++;
        await results.line(okLine(customId));
      }
    }
    if (rand() < 0.001) {
      counts.orphans++;
      await results.line(okLine(`orphan-${k}`));
    }
  }
  await results.end();
  await errors.end();
  return { ...counts, resultsBytes: results.bytes, errorsBytes: errors.bytes };
}
