import { describe, expect, it } from 'vitest';
import { composerKeyAction } from '../src/composer';

describe('composerKeyAction', () => {
  it('sends on Enter', () => {
    expect(composerKeyAction({ key: 'Enter', shiftKey: false })).toBe('send');
    expect(composerKeyAction({ key: 'Enter', shiftKey: false, ctrlKey: true })).toBe('send');
  });

  it('inserts a new line on Shift+Enter', () => {
    expect(composerKeyAction({ key: 'Enter', shiftKey: true })).toBe('newline');
  });

  it('does not send while an input method is composing', () => {
    expect(composerKeyAction({ key: 'Enter', shiftKey: false, isComposing: true })).toBe('none');
    expect(composerKeyAction({ key: 'Enter', shiftKey: false, keyCode: 229 })).toBe('none');
  });

  it('leaves other keys to the textarea', () => {
    expect(composerKeyAction({ key: 'a', shiftKey: false })).toBe('none');
    expect(composerKeyAction({ key: 'Enter', shiftKey: false, altKey: true })).toBe('none');
  });
});
