// Throughput of the token estimator on chat bodies, against a naive regex tokenizer as baseline,
// and of exact counting with a Hugging Face tokenizer.json when one is given.
// Run: node --import tsx bench/tokens.bench.ts [lines] [tokenizer.json]
import { loadTokenizer } from '../lib/requests/tokenizer.ts';
import { estimateBodyTokens } from '../lib/requests/tokens.ts';

const lines = Number(process.argv[2] ?? 200_000);
const samples = [
  'Summarise the following review in one sentence: the battery lasts two days and the screen is bright.',
  '请用一句话总结下面的评论：电池能用两天，屏幕很亮，但是相机一般。',
  'レビューを一文で要約してください：バッテリーは二日持ちます。',
  'Classify the sentiment 😀👍 of: "Great value, would buy again!!!"',
];
const bodies = Array.from({ length: lines }, (_, i) => ({
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: `${samples[i % samples.length]} #${i}` },
  ],
  max_tokens: 256,
}));
const bytes = bodies.reduce((n, b) => n + Buffer.byteLength(JSON.stringify(b)), 0);

function naive(body: (typeof bodies)[number]): number {
  let n = 3;
  for (const m of body.messages) n += 4 + (m.content.match(/[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]/gu)?.length ?? 0);
  return n;
}

function run(name: string, fn: (b: (typeof bodies)[number]) => number): void {
  const start = process.hrtime.bigint();
  let total = 0;
  for (const b of bodies) total += fn(b);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const rss = process.memoryUsage().rss / 2 ** 20;
  process.stdout.write(`${name.padEnd(18)} ${(lines / s).toFixed(0).padStart(10)} lines/s ${(bytes / 2 ** 20 / s).toFixed(1).padStart(7)} MB/s  tokens=${total}  rss=${rss.toFixed(0)} MiB\n`);
}

process.stdout.write(`node ${process.version}, ${lines} bodies, ${(bytes / 2 ** 20).toFixed(1)} MiB of JSON\n`);
run('regex baseline', naive);
run('estimateBodyTokens', estimateBodyTokens);
if (process.argv[3]) {
  const exact = await loadTokenizer(process.argv[3]);
  run('tokenizer (exact)', exact.countBody);
}
