// @ts-check
// `npm run package -- --bridge-url https://bridge.example.com`: builds, puts the bridge's domain
// in the manifest's domainWhitelist (Zendesk's proxy only fills secure settings such as the JWT
// secret for listed domains), checks the result, and zips it for upload.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseBridgeUrl } from './lib/bridge-url.mjs';
import { readTree } from './lib/files.mjs';
import { checkPackage } from './lib/manifest-check.mjs';
import { zip } from './lib/zip.mjs';

const DIST = 'dist';
const ZIP_NAME = 'ticket-bridge-app.zip';

const { values } = parseArgs({ options: { 'bridge-url': { type: 'string' } } });
const bridge = parseBridgeUrl(values['bridge-url']);
if (!bridge.ok) fail(bridge.error);

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

const manifestPath = `${DIST}/manifest.json`;
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
manifest.domainWhitelist = [bridge.host];
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

const files = readTree(DIST);
files.delete(ZIP_NAME);
const errors = checkPackage(files);
if (errors.length > 0) fail(`the package would be refused by Zendesk:\n  - ${errors.join('\n  - ')}`);

const entries = [...files.entries()].sort(([a], [b]) => a.localeCompare(b));
writeFileSync(`${DIST}/${ZIP_NAME}`, zip(entries));
console.log(`wrote ${DIST}/${ZIP_NAME} (${entries.length} files; domainWhitelist: ${bridge.host})`);
console.log(`after installing, set the app's "Bridge URL" to ${bridge.origin}`);

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}
