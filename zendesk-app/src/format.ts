// Turning message text and times into what the agent reads.

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
/** Punctuation that usually closes the sentence around a URL rather than belonging to it. */
const TRAILING = /[.,;:!?)\]}'"。，；：！？）]+$/u;

/** Splits text into plain runs and http(s) links; newlines stay in the text runs. */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_PATTERN)) {
    const url = m[0].replace(TRAILING, '');
    const start = m.index;
    if (start > last) out.push({ kind: 'text', text: text.slice(last, start) });
    out.push({ kind: 'link', text: url, href: url });
    last = start + url.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}

/**
 * Time of a message in the agent's locale: hours and minutes for today, with the date for
 * older ones. `timeZone` is the agent's Zendesk time zone (IANA) when known.
 */
export function formatTime(ms: number, now: number, locale: string, timeZone?: string): string {
  const zone = timeZone && isValidTimeZone(timeZone) ? { timeZone } : {};
  const day = new Intl.DateTimeFormat('en-CA', { ...zone, dateStyle: 'short' });
  const sameDay = day.format(ms) === day.format(now);
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { ...zone, timeStyle: 'short' }
    : { ...zone, dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(locale, options).format(ms);
}

function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}
