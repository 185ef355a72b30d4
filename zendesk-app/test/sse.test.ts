import { describe, expect, it } from 'vitest';
import { SseParser, type SseFrame } from '../src/sse';

const feedAll = (parser: SseParser, chunks: string[]): SseFrame[] => chunks.flatMap((c) => parser.feed(c));

describe('SseParser', () => {
  it('parses event, id and data lines into one event per blank line', () => {
    const frames = new SseParser().feed('event: message\nid: 7\ndata: {"id":"m1"}\n\n');
    expect(frames).toEqual([{ kind: 'event', event: 'message', data: '{"id":"m1"}', id: '7' }]);
  });

  it('defaults the event type to "message" and joins data lines with newlines', () => {
    const frames = new SseParser().feed('data: one\ndata: two\n\n');
    expect(frames).toEqual([{ kind: 'event', event: 'message', data: 'one\ntwo', id: '' }]);
  });

  it('reports comment lines (heartbeats) as comments', () => {
    expect(new SseParser().feed(': ping\n')).toEqual([{ kind: 'comment', text: 'ping' }]);
  });

  it('assembles frames split anywhere across chunks', () => {
    const text = 'event: status\nid: 42\ndata: {"status":"solved"}\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      const frames = feedAll(new SseParser(), [text.slice(0, cut), text.slice(cut)]);
      expect(frames, `cut at ${cut}`).toEqual([
        { kind: 'event', event: 'status', data: '{"status":"solved"}', id: '42' },
      ]);
    }
  });

  it('accepts CRLF and CR line ends, including a CRLF split between chunks', () => {
    const frames = feedAll(new SseParser(), ['id: 1\r\ndata: a\r', '\n\r', '\nid: 2\rdata: b\r\r']);
    expect(frames).toEqual([
      { kind: 'event', event: 'message', data: 'a', id: '1' },
      { kind: 'event', event: 'message', data: 'b', id: '2' },
    ]);
  });

  it('keeps the last id for Last-Event-ID, also from a block without data', () => {
    const parser = new SseParser('5');
    expect(parser.lastEventId).toBe('5');
    expect(parser.feed('id: 9\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('9');
  });

  it('strips only one leading space from a value and ignores unknown fields and retry', () => {
    const frames = new SseParser().feed('retry: 10\nfoo: bar\ndata:  two spaces\ndata\n\n');
    expect(frames).toEqual([{ kind: 'event', event: 'message', data: ' two spaces\n', id: '' }]);
  });

  it('does not dispatch an unfinished block', () => {
    const parser = new SseParser();
    expect(parser.feed('event: message\ndata: x\n')).toEqual([]);
    expect(parser.feed('\n')).toHaveLength(1);
  });
});
