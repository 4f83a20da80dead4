import { readFileSync } from 'node:fs';
import { createCsvParser } from '../lib/sources/csv-parser.ts';
import { createPreparer } from '../lib/requests/prepare.ts';
import { createIdTracker } from '../lib/validate/id-tracker.ts';
const buf = readFileSync(process.argv[2]!);
const mb = buf.length / 1e6;
function time(label: string, f: () => void) { const t = process.cpuUsage(); const w = performance.now(); f(); const c = process.cpuUsage(t); console.log(label.padEnd(20), ((performance.now() - w) / 1000).toFixed(2), 's wall', (mb / ((c.user + c.system) / 1e6)).toFixed(0), 'MB/cpu-s'); }
for (const latin1 of [false, true]) {
  const rows: string[][] = [];
  time('parse ' + latin1, () => { const p = createCsvParser({ latin1 }); p.push(buf, (cells) => { rows.push(cells); }); p.end((cells) => rows.push(cells)); });
  const columns = rows.shift()!;
  time('prep(no ids)', () => { const p = createPreparer({ user: 'Summarise: {{text}} ({{category}})', params: { max_tokens: 64 }, id: { column: 'id' }, ids: null }); for (let i = 0; i < rows.length; i++) p.prepare({ index: i + 1, columns, cells: rows[i], binary: latin1 }); });
  time('prep(ids)', () => { const p = createPreparer({ user: 'Summarise: {{text}} ({{category}})', params: { max_tokens: 64 }, id: { column: 'id' }, ids: createIdTracker() }); for (let i = 0; i < rows.length; i++) p.prepare({ index: i + 1, columns, cells: rows[i], binary: latin1 }); });
  time('stringify only', () => { for (let i = 0; i < rows.length; i++) JSON.stringify({ custom_id: rows[i][0], body: { messages: [{ role: 'user', content: 'Summarise: ' + rows[i][4] + ' (' + rows[i][3] + ')' }], max_tokens: 64 } }); });
}
