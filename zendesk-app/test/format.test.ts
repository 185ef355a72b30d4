import { describe, expect, it } from 'vitest';
import { formatTime, linkify } from '../src/format';
import { backoffDelay } from '../src/stream';

describe('linkify', () => {
  it('turns http(s) URLs into links and keeps the rest, newlines included', () => {
    expect(linkify('see https://x.example/a?b=1\nthanks')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://x.example/a?b=1', href: 'https://x.example/a?b=1' },
      { kind: 'text', text: '\nthanks' },
    ]);
  });

  it('leaves sentence punctuation out of the link', () => {
    expect(linkify('Go to http://a.example/x.')).toEqual([
      { kind: 'text', text: 'Go to ' },
      { kind: 'link', text: 'http://a.example/x', href: 'http://a.example/x' },
      { kind: 'text', text: '.' },
    ]);
    expect(linkify('（见 https://a.example/图）')[1]).toEqual({
      kind: 'link',
      text: 'https://a.example/图',
      href: 'https://a.example/图',
    });
  });

  it('does not link other schemes', () => {
    expect(linkify('javascript:alert(1)')).toEqual([{ kind: 'text', text: 'javascript:alert(1)' }]);
  });
});

describe('formatTime', () => {
  const now = Date.UTC(2024, 4, 10, 12, 0);

  it('shows only the time for today', () => {
    expect(formatTime(Date.UTC(2024, 4, 10, 9, 5), now, 'en-US', 'UTC')).toBe('9:05 AM');
    expect(formatTime(Date.UTC(2024, 4, 10, 9, 5), now, 'zh-CN', 'UTC')).toBe('09:05');
  });

  it('adds the date for older messages', () => {
    expect(formatTime(Date.UTC(2024, 4, 9, 9, 5), now, 'en-US', 'UTC')).toMatch(/^May 9, 2024.*9:05\sAM$/);
  });

  it('ignores an unknown time zone', () => {
    expect(() => formatTime(now, now, 'en-US', 'Not/AZone')).not.toThrow();
  });
});

describe('backoffDelay', () => {
  it('doubles from 1 s up to 30 s, with jitter between half and all of it', () => {
    expect(backoffDelay(0, 1)).toBe(1000);
    expect(backoffDelay(0, 0)).toBe(500);
    expect(backoffDelay(3, 1)).toBe(8000);
    expect(backoffDelay(20, 1)).toBe(30_000);
  });
});
