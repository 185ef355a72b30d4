// @ts-check
// Reading a built package folder into memory (it is a few small files).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Every file under `dir`, keyed by its path relative to `dir` with forward slashes.
 * @param {string} dir
 * @returns {Map<string, Uint8Array>}
 */
export function readTree(dir) {
  /** @type {Map<string, Uint8Array>} */
  const files = new Map();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(relative(dir, full).split(sep).join('/'), readFileSync(full));
  }
  return files;
}
