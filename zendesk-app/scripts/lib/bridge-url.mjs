// @ts-check
// The bridge URL given to `npm run package`, and what goes into the manifest's domainWhitelist.

/**
 * Validates the bridge's base URL: https, or http only on this machine (development).
 * @param {string | undefined} input
 * @returns {{ ok: true, origin: string, host: string } | { ok: false, error: string }}
 */
export function parseBridgeUrl(input) {
  if (!input) return { ok: false, error: 'give the bridge URL: npm run package -- --bridge-url https://bridge.example.com' };
  let url;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, error: `"${input}" is not a URL` };
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    return { ok: false, error: `"${input}" must use https (http is allowed only for localhost and 127.0.0.1)` };
  }
  if (url.username || url.password || url.search || url.hash) {
    return { ok: false, error: `"${input}" must be a plain base URL (no credentials, query or fragment)` };
  }
  // Zendesk's domainWhitelist holds host names (with port when not the default).
  return { ok: true, origin: url.origin, host: url.host };
}
