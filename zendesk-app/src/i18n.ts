// UI strings in English and Simplified Chinese. These are bundled into the app; the files under
// public/translations/ are Zendesk's (app name, setting labels) and are read by Zendesk itself.
import en from './i18n/en.json';
import zhCN from './i18n/zh-CN.json';

export type Locale = 'en' | 'zh-CN';
export type Dictionary = Readonly<Record<string, string>>;
export type Translate = (key: string, params?: Readonly<Record<string, string | number>>) => string;

export const DICTIONARIES: Readonly<Record<Locale, Dictionary>> = { en, 'zh-CN': zhCN };

/**
 * The UI language for a Zendesk user locale (`currentUser.locale`, e.g. "zh-cn", "en-US").
 * Only Simplified Chinese gets Chinese; Traditional Chinese locales read English rather than a
 * script they may not use.
 */
export function pickLocale(userLocale: string | null | undefined): Locale {
  const tag = (userLocale ?? '').toLowerCase().replace('_', '-');
  if (tag === 'zh' || tag === 'zh-cn' || tag === 'zh-sg' || tag.startsWith('zh-hans')) return 'zh-CN';
  return 'en';
}

/** Looks `key` up in `locale`, then in English, then gives the key itself; fills `{name}` slots. */
export function translate(
  dictionaries: Readonly<Record<Locale, Dictionary>>,
  locale: Locale,
  key: string,
  params: Readonly<Record<string, string | number>> = {},
): string {
  const template = dictionaries[locale][key] ?? dictionaries.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (slot, name: string) =>
    name in params ? String(params[name]) : slot,
  );
}

export function translator(locale: Locale): Translate {
  return (key, params) => translate(DICTIONARIES, locale, key, params);
}
