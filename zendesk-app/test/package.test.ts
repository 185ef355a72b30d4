import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseBridgeUrl } from '../scripts/lib/bridge-url.mjs';
import { readPngHeader } from '../scripts/lib/png.mjs';
import { encodePng } from '../scripts/lib/png.mjs';
import { zip } from '../scripts/lib/zip.mjs';

describe('parseBridgeUrl', () => {
  it('takes https URLs and gives the host for domainWhitelist', () => {
    expect(parseBridgeUrl('https://bridge.example.com/')).toEqual({
      ok: true,
      origin: 'https://bridge.example.com',
      host: 'bridge.example.com',
    });
    expect(parseBridgeUrl('https://bridge.example.com:8443')).toMatchObject({ ok: true, host: 'bridge.example.com:8443' });
  });

  it('takes http only for localhost and 127.0.0.1', () => {
    expect(parseBridgeUrl('http://localhost:15000')).toMatchObject({ ok: true, host: 'localhost:15000' });
    expect(parseBridgeUrl('http://127.0.0.1:15000')).toMatchObject({ ok: true });
    expect(parseBridgeUrl('http://bridge.example.com')).toMatchObject({ ok: false, error: expect.stringMatching(/https/) });
  });

  it('refuses a missing or malformed URL, and one with a query or credentials', () => {
    expect(parseBridgeUrl(undefined)).toMatchObject({ ok: false, error: expect.stringMatching(/--bridge-url/) });
    expect(parseBridgeUrl('bridge.example.com')).toMatchObject({ ok: false });
    expect(parseBridgeUrl('ftp://bridge.example.com')).toMatchObject({ ok: false });
    expect(parseBridgeUrl('https://u:p@bridge.example.com')).toMatchObject({ ok: false });
    expect(parseBridgeUrl('https://bridge.example.com/?x=1')).toMatchObject({ ok: false });
  });
});

/** Reads a zip back through its central directory. */
function unzip(archive: Buffer): Map<string, Buffer> {
  const end = archive.length - 22;
  expect(archive.readUInt32LE(end)).toBe(0x06054b50);
  const count = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(archive.readUInt32LE(at)).toBe(0x02014b50);
    const method = archive.readUInt16LE(at + 10);
    const size = archive.readUInt32LE(at + 20);
    const nameLength = archive.readUInt16LE(at + 28);
    const local = archive.readUInt32LE(at + 42);
    const name = archive.toString('utf8', at + 46, at + 46 + nameLength);
    const dataAt = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    const data = archive.subarray(dataAt, dataAt + size);
    out.set(name, method === 8 ? inflateRawSync(data) : Buffer.from(data));
    at += 46 + nameLength;
  }
  return out;
}

describe('zip', () => {
  it('writes entries that read back unchanged, compressed or stored', () => {
    const text = Buffer.from('{"name":"ticket-bridge"}'.repeat(20));
    const tiny = Buffer.from('x');
    const archive = zip([
      ['manifest.json', text],
      ['translations/zh-CN.json', tiny],
    ]);
    const entries = unzip(archive);
    expect([...entries.keys()]).toEqual(['manifest.json', 'translations/zh-CN.json']);
    expect(entries.get('manifest.json')).toEqual(text);
    expect(entries.get('translations/zh-CN.json')).toEqual(tiny);
  });
});

describe('png', () => {
  it('writes a PNG whose header reads back with size and alpha', () => {
    expect(readPngHeader(encodePng(3, 2, new Uint8Array(24)))).toEqual({ width: 3, height: 2, hasAlpha: true });
    expect(readPngHeader(new Uint8Array(40))).toBeNull();
  });
});
