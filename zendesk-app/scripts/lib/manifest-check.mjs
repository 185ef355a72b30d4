// @ts-check
// What Zendesk's upload validation (zendesk_apps_support) refuses, checked locally on the built
// package, so a broken manifest fails here and not in the Admin Center upload. Each message
// names the file and the field.
import { readPngHeader } from './png.mjs';

export const PARAMETER_TYPES = ['text', 'checkbox', 'url', 'number', 'multiline', 'hidden', 'oauth', 'mtls'];
export const PARAMETER_SCOPES = [
  'header',
  'body',
  'url',
  'jwt_secret_key',
  'jwt_claim',
  'basic_auth_username',
  'basic_auth_password',
];
const VALID_LOCALE = /^[a-z]{2}(-\w{2,3})?$/;
const LOGOS = [
  { path: 'assets/logo.png', size: 320, alpha: false },
  { path: 'assets/logo-small.png', size: 128, alpha: true },
];
/** Marketplace apps need these in the default translation; private apps only `name`. */
const PUBLIC_APP_KEYS = ['name', 'short_description', 'long_description', 'installation_instructions'];

/**
 * Checks an app package given as its files (path relative to the package root → bytes).
 * @param {ReadonlyMap<string, Uint8Array>} files
 * @returns {string[]} what is wrong; empty when the package would be accepted
 */
export function checkPackage(files) {
  const raw = files.get('manifest.json');
  if (!raw) return ['manifest.json is missing at the package root'];
  const manifest = parseJson(raw);
  if (!isObject(manifest)) return ['manifest.json is not a JSON object'];

  return [
    ...checkAuthor(manifest),
    ...checkLocale(manifest, files),
    ...checkLocation(manifest, files),
    ...checkParameters(manifest),
    ...checkDomainWhitelist(manifest),
    ...checkTranslationFiles(files),
    ...checkLogos(files),
  ];
}

/** @param {Record<string, unknown>} m */
function checkAuthor(m) {
  if (m.author === undefined) return ['manifest.json: `author` is required (with `name` and `email`)'];
  if (!isObject(m.author)) return ['manifest.json: `author` must be an object with `name` and `email`'];
  const errors = [];
  for (const field of ['name', 'email']) {
    if (!nonEmptyString(m.author[field])) errors.push(`manifest.json: \`author.${field}\` is required`);
  }
  const url = m.author.url;
  if (url !== undefined && !(typeof url === 'string' && isHttpUrl(url))) {
    errors.push('manifest.json: `author.url` must be an http(s) URL');
  }
  return errors;
}

/**
 * @param {Record<string, unknown>} m
 * @param {ReadonlyMap<string, Uint8Array>} files
 */
function checkLocale(m, files) {
  const locale = m.defaultLocale;
  if (locale === undefined) return ['manifest.json: `defaultLocale` is required'];
  if (typeof locale !== 'string' || !VALID_LOCALE.test(locale)) {
    return [`manifest.json: \`defaultLocale\` ${JSON.stringify(locale)} is not a locale like "en" or "zh-CN"`];
  }
  const path = `translations/${locale}.json`;
  const raw = files.get(path);
  if (!raw) return [`${path} is missing (required for defaultLocale "${locale}")`];
  const translations = parseJson(raw);
  const app = isObject(translations) ? translations.app : undefined;
  const required = m.private === false ? PUBLIC_APP_KEYS : ['name'];
  const missing = required.filter((key) => !(isObject(app) && nonEmptyString(app[key])));
  return missing.map((key) => `${path}: \`app.${key}\` is required`);
}

/**
 * @param {Record<string, unknown>} m
 * @param {ReadonlyMap<string, Uint8Array>} files
 */
function checkLocation(m, files) {
  /** @type {string[]} */
  const errors = [];
  if (m.frameworkVersion === undefined) errors.push('manifest.json: `frameworkVersion` is required');
  else if (m.frameworkVersion !== '2.0') errors.push('manifest.json: `frameworkVersion` must be "2.0"');

  const products = isObject(m.location) ? Object.values(m.location) : [];
  const locations = products.flatMap((p) => (isObject(p) ? Object.entries(p) : []));
  if (locations.length === 0) {
    errors.push('manifest.json: `location` is required (e.g. support.ticket_sidebar)');
    return errors;
  }
  for (const [name, options] of locations) {
    const url = typeof options === 'string' ? options : isObject(options) ? options.url : undefined;
    if (typeof url !== 'string' || url === '') {
      errors.push(`manifest.json: location \`${name}\` needs a \`url\``);
    } else if (/^[a-z]+:/i.test(url)) {
      if (!url.startsWith('https://')) errors.push(`manifest.json: location \`${name}\` URL must be https`);
    } else if (!url.startsWith('assets/') || !files.has(url)) {
      errors.push(`manifest.json: location \`${name}\` URL "${url}" must be a file under assets/ in the package`);
    }
    if (isObject(options) && options.flexible !== undefined && typeof options.flexible !== 'boolean') {
      errors.push(`manifest.json: location \`${name}\`.flexible must be true or false`);
    }
  }
  return errors;
}

/** @param {Record<string, unknown>} m */
function checkParameters(m) {
  if (m.parameters === undefined) return [];
  if (!Array.isArray(m.parameters)) return ['manifest.json: `parameters` must be an array'];
  /** @type {string[]} */
  const errors = [];
  const seen = new Set();
  m.parameters.forEach((p, i) => {
    if (!isObject(p) || !nonEmptyString(p.name)) {
      errors.push(`manifest.json: parameters[${i}] needs a \`name\``);
      return;
    }
    const where = `manifest.json: parameter "${p.name}"`;
    if (p.name === 'name') errors.push(`${where}: a parameter cannot be called "name"`);
    if (seen.has(p.name)) errors.push(`${where}: declared twice`);
    seen.add(p.name);
    const type = p.type ?? 'text';
    if (typeof type !== 'string' || !PARAMETER_TYPES.includes(type)) {
      errors.push(`${where}: type ${JSON.stringify(type)} is not one of ${PARAMETER_TYPES.join(', ')}`);
    }
    for (const flag of ['required', 'secure']) {
      if (p[flag] !== undefined && typeof p[flag] !== 'boolean') errors.push(`${where}: \`${flag}\` must be true or false`);
    }
    if (type === 'hidden' && p.required === true) errors.push(`${where}: a hidden parameter cannot be required`);
    if (type === 'oauth' && p.secure === true) errors.push(`${where}: an oauth parameter cannot be secure`);
    if (p.scopes !== undefined) {
      if (p.secure !== true) errors.push(`${where}: \`scopes\` is only allowed on a secure parameter`);
      if (!Array.isArray(p.scopes)) {
        errors.push(`${where}: \`scopes\` must be an array`);
      } else {
        const bad = p.scopes.filter((s) => typeof s !== 'string' || !PARAMETER_SCOPES.includes(s));
        if (bad.length > 0) {
          errors.push(`${where}: scope ${bad.map((s) => JSON.stringify(s)).join(', ')} is not one of ${PARAMETER_SCOPES.join(', ')}`);
        }
      }
    }
  });
  return errors;
}

/** @param {Record<string, unknown>} m */
function checkDomainWhitelist(m) {
  const list = m.domainWhitelist;
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((d) => typeof d === 'string')) {
    return ['manifest.json: `domainWhitelist` must be an array of strings'];
  }
  return [];
}

/** @param {ReadonlyMap<string, Uint8Array>} files */
function checkTranslationFiles(files) {
  /** @type {string[]} */
  const errors = [];
  for (const [path, bytes] of files) {
    const match = /^translations\/(.*)\.json$/.exec(path);
    if (!match) continue;
    if (!VALID_LOCALE.test(match[1] ?? '')) errors.push(`${path}: "${match[1]}" is not a locale like "en" or "zh-CN"`);
    if (!isObject(parseJson(bytes))) errors.push(`${path} is not a JSON object`);
  }
  return errors;
}

/** @param {ReadonlyMap<string, Uint8Array>} files */
function checkLogos(files) {
  /** @type {string[]} */
  const errors = [];
  for (const logo of LOGOS) {
    const bytes = files.get(logo.path);
    if (!bytes) {
      errors.push(`${logo.path} is missing`);
      continue;
    }
    const png = readPngHeader(bytes);
    if (!png) {
      errors.push(`${logo.path} is not a PNG`);
    } else if (png.width !== logo.size || png.height !== logo.size) {
      errors.push(`${logo.path} is ${png.width}×${png.height}; it must be ${logo.size}×${logo.size}`);
    } else if (logo.alpha && !png.hasAlpha) {
      errors.push(`${logo.path} must have transparency (an alpha channel)`);
    }
  }
  return errors;
}

/** @param {Uint8Array} bytes @returns {unknown} */
function parseJson(bytes) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** @param {unknown} v @returns {v is Record<string, unknown>} */
function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @param {unknown} v @returns {v is string} */
function nonEmptyString(v) {
  return typeof v === 'string' && v.trim() !== '';
}

/** @param {string} s */
function isHttpUrl(s) {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}
