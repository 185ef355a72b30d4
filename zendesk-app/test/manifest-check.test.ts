import { describe, expect, it } from 'vitest';
import { checkPackage } from '../scripts/lib/manifest-check.mjs';
import { encodePng } from '../scripts/lib/png.mjs';

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const png = (size: number) => encodePng(size, size, new Uint8Array(size * size * 4));

/** Loose on purpose: the tests break it in every way. */
interface Manifest {
  [key: string]: unknown;
  author?: Record<string, unknown>;
  parameters: Array<Record<string, unknown>>;
}

const goodManifest = (): Manifest => ({
  name: 'ticket-bridge',
  author: { name: 'ticket-bridge', email: 'support@example.com', url: 'https://example.com' },
  defaultLocale: 'en',
  private: true,
  location: { support: { ticket_sidebar: { url: 'assets/iframe.html', flexible: true } } },
  version: '1.0.0',
  frameworkVersion: '2.0',
  parameters: [
    { name: 'bridge_url', type: 'url', required: true },
    { name: 'shared_secret', type: 'text', required: true, secure: true, scopes: ['jwt_secret_key'] },
  ],
  domainWhitelist: ['bridge.example.com'],
});

/** A package that passes, changed by `edit`. */
function appPackage(edit: (manifest: Manifest, files: Map<string, Uint8Array>) => void = () => {}) {
  const manifest = goodManifest();
  const files = new Map<string, Uint8Array>([
    ['assets/iframe.html', new TextEncoder().encode('<!doctype html>')],
    ['assets/logo.png', png(320)],
    ['assets/logo-small.png', png(128)],
    ['translations/en.json', json({ app: { name: 'Customer chat' } })],
  ]);
  edit(manifest, files);
  if (!files.has('manifest.json')) files.set('manifest.json', json(manifest));
  return files;
}

describe('manifest check', () => {
  it('accepts the good package', () => {
    expect(checkPackage(appPackage())).toEqual([]);
  });

  it('refuses a package without manifest.json', () => {
    const files = appPackage();
    files.delete('manifest.json');
    expect(checkPackage(files)).toEqual(['manifest.json is missing at the package root']);
  });

  const broken: Array<[string, (m: Manifest, f: Map<string, Uint8Array>) => void, RegExp]> = [
    ['manifest not JSON', (_m, f) => f.set('manifest.json', new TextEncoder().encode('{')), /not a JSON object/],
    ['no author', (m) => delete m.author, /`author` is required/],
    ['author without email', (m) => delete m.author?.email, /`author\.email` is required/],
    ['author without name', (m) => m.author && (m.author.name = ''), /`author\.name` is required/],
    ['bad author url', (m) => m.author && (m.author.url = 'not a url'), /`author\.url` must be/],
    ['no defaultLocale', (m) => delete m.defaultLocale, /`defaultLocale` is required/],
    ['malformed defaultLocale', (m) => (m.defaultLocale = 'english'), /not a locale/],
    ['no translation for defaultLocale', (m) => (m.defaultLocale = 'fr'), /translations\/fr\.json is missing/],
    ['translation without app.name', (_m, f) => f.set('translations/en.json', json({ app: {} })), /`app\.name` is required/],
    [
      'public app without marketplace texts',
      (m) => (m.private = false),
      /`app\.short_description` is required/,
    ],
    ['no location', (m) => delete m.location, /`location` is required/],
    ['location file missing', (_m, f) => f.delete('assets/iframe.html'), /must be a file under assets\//],
    ['location over http', (m) => (m.location = { support: { ticket_sidebar: { url: 'http://x.example' } } }), /must be https/],
    ['no frameworkVersion', (m) => delete m.frameworkVersion, /`frameworkVersion` is required/],
    ['parameters not an array', (m) => Object.assign(m, { parameters: {} }), /`parameters` must be an array/],
    ['bad parameter type', (m) => m.parameters.push({ name: 'x', type: 'password2' }), /type "password2" is not one of/],
    ['parameter called name', (m) => m.parameters.push({ name: 'name' }), /cannot be called "name"/],
    ['parameter without name', (m) => m.parameters.push({ type: 'text' }), /parameters\[2\] needs a `name`/],
    ['duplicate parameter', (m) => m.parameters.push({ name: 'bridge_url', type: 'url' }), /"bridge_url": declared twice/],
    ['scopes on an insecure parameter', (m) => m.parameters.push({ name: 'x', scopes: ['header'] }), /only allowed on a secure parameter/],
    ['unknown scope', (m) => m.parameters.push({ name: 'x', secure: true, scopes: ['everything'] }), /scope "everything" is not one of/],
    ['secure oauth parameter', (m) => m.parameters.push({ name: 'x', type: 'oauth', secure: true }), /oauth parameter cannot be secure/],
    ['required hidden parameter', (m) => m.parameters.push({ name: 'x', type: 'hidden', required: true }), /hidden parameter cannot be required/],
    ['domainWhitelist not an array', (m) => (m.domainWhitelist = 'bridge.example.com'), /`domainWhitelist` must be an array of strings/],
    ['domainWhitelist with a number', (m) => (m.domainWhitelist = [42]), /`domainWhitelist` must be an array of strings/],
    ['missing logo', (_m, f) => f.delete('assets/logo.png'), /assets\/logo\.png is missing/],
    ['logo not a PNG', (_m, f) => f.set('assets/logo.png', new Uint8Array(100)), /assets\/logo\.png is not a PNG/],
    ['logo of the wrong size', (_m, f) => f.set('assets/logo.png', png(300)), /logo\.png is 300×300; it must be 320×320/],
    ['small logo of the wrong size', (_m, f) => f.set('assets/logo-small.png', png(320)), /logo-small\.png is 320×320; it must be 128×128/],
    ['bad translation file name', (_m, f) => f.set('translations/chinese.json', json({})), /"chinese" is not a locale/],
  ];

  it.each(broken)('refuses a package with %s', (_name, edit, message) => {
    const errors = checkPackage(appPackage(edit));
    expect(errors.some((e) => message.test(e)), errors.join('\n') || '(no errors)').toBe(true);
  });

  it('reports every problem at once', () => {
    const errors = checkPackage(appPackage((m) => {
      delete m.author;
      delete m.frameworkVersion;
    }));
    expect(errors).toHaveLength(2);
  });
});
