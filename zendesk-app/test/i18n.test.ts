import { describe, expect, it } from 'vitest';
import { DICTIONARIES, pickLocale, translate, type Dictionary, type Locale } from '../src/i18n';

describe('pickLocale', () => {
  it('gives Simplified Chinese for Zendesk zh-cn and its variants', () => {
    for (const tag of ['zh-cn', 'zh-CN', 'zh_CN', 'zh', 'zh-Hans', 'zh-hans-cn', 'zh-sg']) {
      expect(pickLocale(tag), tag).toBe('zh-CN');
    }
  });

  it('falls back to English for everything else', () => {
    for (const tag of ['en-US', 'en', 'de', 'zh-tw', '', undefined, null]) {
      expect(pickLocale(tag), String(tag)).toBe('en');
    }
  });
});

describe('translate', () => {
  const dicts: Record<Locale, Dictionary> = {
    en: { hello: 'Hello {name}', only_en: 'English only' },
    'zh-CN': { hello: '你好 {name}' },
  };

  it('uses the chosen language and fills slots', () => {
    expect(translate(dicts, 'zh-CN', 'hello', { name: 'Sam' })).toBe('你好 Sam');
  });

  it('falls back to English, then to the key itself', () => {
    expect(translate(dicts, 'zh-CN', 'only_en')).toBe('English only');
    expect(translate(dicts, 'zh-CN', 'missing.key')).toBe('missing.key');
  });

  it('leaves a slot without a value as it is', () => {
    expect(translate(dicts, 'en', 'hello')).toBe('Hello {name}');
  });

  it('has every English UI string in Chinese too, with the same slots', () => {
    const slots = (s: string) => [...s.matchAll(/\{\w+\}/g)].map((m) => m[0]).sort();
    for (const [key, english] of Object.entries(DICTIONARIES.en)) {
      const chinese = DICTIONARIES['zh-CN'][key];
      expect(chinese, key).toBeTypeOf('string');
      expect(slots(chinese ?? ''), key).toEqual(slots(english));
    }
  });
});
