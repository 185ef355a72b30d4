// @ts-check
// `npm run check`: checks the built package folder (default dist/) as Zendesk's upload would.
import { existsSync } from 'node:fs';
import { readTree } from './lib/files.mjs';
import { checkPackage } from './lib/manifest-check.mjs';

const dir = process.argv[2] ?? 'dist';
if (!existsSync(dir)) {
  console.error(`manifest check: ${dir}/ does not exist; run \`npm run build\` first`);
  process.exit(1);
}
const errors = checkPackage(readTree(dir));
if (errors.length > 0) {
  console.error(`manifest check: ${dir}/ would be refused by Zendesk:`);
  for (const e of errors) console.error(`  - ${e}`);
  process.exit(1);
}
console.log(`manifest check: ${dir}/ OK`);
