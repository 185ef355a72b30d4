import { describe, expect, it } from 'vitest';
import { MAX_TEXT_LENGTH, isMessage, mergeMessages, nextDelivery, textProblem } from '../src/messages';
import { addOutgoing, confirmSent, initialState, markFailed, markRetrying, withMessages } from '../src/state';
import type { Message } from '../src/types';

const msg = (id: string, time: number, text = id): Message => ({
  id,
  from: 'alice',
  role: 'customer',
  name: 'Alice',
  text,
  time,
});

describe('mergeMessages', () => {
  it('orders by time, oldest first', () => {
    const merged = mergeMessages([msg('b', 20)], [msg('c', 30), msg('a', 10)]);
    expect(merged.map((m) => m.id)).toEqual(['a', 'b', 'c']);
  });

  it('keeps one copy per id, the later one winning', () => {
    const merged = mergeMessages([msg('a', 10, 'old')], [msg('a', 10, 'new'), msg('b', 11)]);
    expect(merged.map((m) => [m.id, m.text])).toEqual([
      ['a', 'new'],
      ['b', 'b'],
    ]);
  });

  it('keeps arrival order for messages with the same time', () => {
    const merged = mergeMessages([msg('x', 5), msg('y', 5)], [msg('z', 5)]);
    expect(merged.map((m) => m.id)).toEqual(['x', 'y', 'z']);
  });

  it('treats a page re-fetched after a reconnect as nothing new', () => {
    const current = [msg('a', 1), msg('b', 2)];
    expect(mergeMessages(current, [msg('b', 2), msg('a', 1)])).toEqual(current);
  });
});

describe('nextDelivery', () => {
  it('moves sending to sent or failed, and failed back to sending on retry', () => {
    expect(nextDelivery('sending', 'ok')).toBe('sent');
    expect(nextDelivery('sending', 'fail')).toBe('failed');
    expect(nextDelivery('failed', 'retry')).toBe('sending');
  });

  it('ignores moves that make no sense', () => {
    expect(nextDelivery('sent', 'fail')).toBe('sent');
    expect(nextDelivery('sent', 'retry')).toBe('sent');
    expect(nextDelivery('sending', 'retry')).toBe('sending');
    expect(nextDelivery('failed', 'ok')).toBe('failed');
  });
});

describe('outgoing messages in the state', () => {
  it('goes sending → failed → sending → sent, with one idempotency key throughout', () => {
    let s = addOutgoing(initialState, 'key-1', 'hello');
    expect(s.outgoing).toEqual([{ key: 'key-1', text: 'hello', delivery: 'sending' }]);

    s = markFailed(s, 'key-1', 'error.unreachable');
    expect(s.outgoing).toEqual([{ key: 'key-1', text: 'hello', delivery: 'failed', error: 'error.unreachable' }]);

    s = markRetrying(s, 'key-1');
    expect(s.outgoing).toEqual([{ key: 'key-1', text: 'hello', delivery: 'sending' }]);

    const confirmed = { ...msg('m1', 100, 'hello'), role: 'agent' as const };
    s = confirmSent(s, 'key-1', confirmed);
    expect(s.outgoing).toEqual([]);
    expect(s.messages).toEqual([confirmed]);
    expect(s.sentIds.has('m1')).toBe(true);
  });

  it('shows a confirmed message once when the stream delivered it first', () => {
    const pushed = { ...msg('m1', 100, 'hello'), role: 'agent' as const };
    let s = addOutgoing(initialState, 'key-1', 'hello');
    s = withMessages(s, [pushed]);
    s = confirmSent(s, 'key-1', pushed);
    expect(s.messages.map((m) => m.id)).toEqual(['m1']);
  });

  it('does not fail a message that is no longer sending', () => {
    const s = markFailed(addOutgoing(initialState, 'k', 't'), 'k', 'error.rejected');
    expect(markFailed(s, 'k', 'error.unreachable').outgoing[0]?.error).toBe('error.rejected');
  });

  it('keeps the cursor when a page brings none', () => {
    const s = withMessages(initialState, [msg('a', 1)], 'c1');
    expect(withMessages(s, [], null).cursor).toBe('c1');
    expect(withMessages(s, [], 'c2').cursor).toBe('c2');
  });
});

describe('textProblem', () => {
  it('refuses empty and blank text', () => {
    expect(textProblem('')).toBe('composer.empty');
    expect(textProblem(' \n\t')).toBe('composer.empty');
  });

  it('refuses more than the bridge takes, counted in code points', () => {
    expect(textProblem('a'.repeat(MAX_TEXT_LENGTH))).toBeNull();
    expect(textProblem('a'.repeat(MAX_TEXT_LENGTH + 1))).toBe('composer.too_long');
    // 4000 emoji are 8000 UTF-16 units but 4000 characters.
    expect(textProblem('😀'.repeat(MAX_TEXT_LENGTH))).toBeNull();
  });
});

describe('isMessage', () => {
  it('accepts a message and rejects what is not one', () => {
    expect(isMessage(msg('a', 1))).toBe(true);
    expect(isMessage({ id: 1, text: 'x', time: 1 })).toBe(false);
    expect(isMessage(null)).toBe(false);
  });
});
