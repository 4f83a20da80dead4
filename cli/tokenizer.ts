import type { Argv } from 'yargs';
import type { TokenCounter } from '../lib/requests/tokenizer.ts';

/** `--tokenizer FILE`, shared by the commands that count input tokens (validate, bench). */
export function tokenizerOptions<T>(y: Argv<T>) {
  return y.option('tokenizer', {
    type: 'string',
    describe: "Count input tokens exactly with the model's Hugging Face tokenizer.json (a file, or a folder holding one); default: a documented estimate",
  });
}

/** The exact counter for `--tokenizer`, or the estimate; the tokenizer library is loaded only when asked for. */
export async function tokenCounterFrom(argv: { readonly tokenizer?: string }): Promise<TokenCounter> {
  const { estimatedTokens, loadTokenizer } = await import('../lib/requests/tokenizer.ts');
  return argv.tokenizer === undefined ? estimatedTokens : loadTokenizer(argv.tokenizer);
}

/** `~12345 input tokens (estimate)` or `12345 input tokens (exact, tokenizer FILE)`. */
export function describeTokens(inputTokens: number, counter: { readonly tokens: 'estimated' | 'exact'; readonly tokenizer?: string }): string {
  return counter.tokens === 'exact' ? `${inputTokens} input tokens (exact, tokenizer ${counter.tokenizer})` : `~${inputTokens} input tokens (estimate)`;
}
