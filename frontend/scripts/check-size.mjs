// Prints the gzip size of the built JavaScript and fails the build when it is
// over the budget (90 KB gzip for all JS the page loads: issue 12 raised issue 4's 80 KB for the room features).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 90 * 1024;
const assets = new URL('../dist/assets/', import.meta.url).pathname;

const files = readdirSync(assets).filter((name) => name.endsWith('.js'));
if (files.length === 0) {
  console.error(`check-size: no .js files in ${assets}; did vite build run?`);
  process.exit(1);
}
let total = 0;
for (const name of files) {
  const raw = readFileSync(join(assets, name));
  const gzipped = gzipSync(raw, { level: 9 }).length;
  total += gzipped;
  console.log(`  ${name}: ${(raw.length / 1024).toFixed(1)} KB raw, ${(gzipped / 1024).toFixed(1)} KB gzip`);
}
const verdict = total <= BUDGET_BYTES ? 'within' : 'OVER';
console.log(
  `JS total: ${(total / 1024).toFixed(1)} KB gzip (${verdict} the ${BUDGET_BYTES / 1024} KB budget)`,
);
if (total > BUDGET_BYTES) process.exit(1);
