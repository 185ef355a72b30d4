// Keyboard handling of the composer.

export interface KeyLike {
  key: string;
  shiftKey: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** True while an input method (e.g. Chinese pinyin) is composing: Enter picks a candidate. */
  isComposing?: boolean;
  /** 229 is what some browsers report for keys eaten by an input method. */
  keyCode?: number;
}

/**
 * Enter sends, Shift+Enter inserts a new line (the textarea's own behaviour), anything else is
 * left to the textarea. Enter that confirms an input method's candidate must not send.
 */
export function composerKeyAction(e: KeyLike): 'send' | 'newline' | 'none' {
  if (e.key !== 'Enter' || e.isComposing === true || e.keyCode === 229) return 'none';
  if (e.shiftKey) return 'newline';
  if (e.altKey === true) return 'none';
  return 'send';
}
