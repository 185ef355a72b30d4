// Plain DOM rendering of the state. The skeleton is built once (so the composer keeps its text
// and focus); each render fills it from the state.
import { isReadOnly } from './access';
import { composerKeyAction } from './composer';
import type { Panel } from './errors';
import { formatTime, linkify } from './format';
import type { Translate } from './i18n';
import { MAX_TEXT_LENGTH, type Outgoing } from './messages';
import type { State } from './state';
import type { Message } from './types';

export interface ViewActions {
  /** Returns why the text cannot be sent (translation key), or null once queued. */
  send(text: string): string | null;
  retry(key: string): void;
  take(): void;
  restart(): void;
}

export interface ViewOptions {
  t: Translate;
  /** Locale for dates and times (the agent's own, e.g. "en-GB"). */
  timeLocale: string;
  timeZone?: string;
}

/** Within this many pixels of the end, the list counts as "at the bottom" and follows new lines. */
const STICKY_PX = 32;

export function createView(root: HTMLElement, options: ViewOptions, actions: ViewActions) {
  const { t } = options;

  const panel = el('section', 'panel');
  const header = el('header', 'header');
  const banner = el('div', 'banner');
  banner.setAttribute('role', 'status');
  banner.textContent = t('banner.reconnecting');
  const list = el('ol', 'chat');
  list.setAttribute('aria-label', t('chat.label'));
  list.setAttribute('aria-live', 'polite');
  const footer = el('footer', 'footer');

  const readOnly = el('div', 'readonly');
  const readOnlyText = el('p', 'readonly__text');
  const takeButton = button(t('readonly.take'), 'button button--primary', () => actions.take());
  const notice = el('p', 'notice');
  readOnly.append(readOnlyText, takeButton, notice);

  const composer = el('form', 'composer');
  const textarea = document.createElement('textarea');
  textarea.className = 'composer__input';
  textarea.rows = 3;
  textarea.placeholder = t('composer.placeholder');
  textarea.setAttribute('aria-label', t('composer.label'));
  const composerError = el('p', 'composer__error');
  composerError.setAttribute('role', 'alert');
  const sendButton = el('button', 'button button--primary composer__send');
  sendButton.type = 'submit';
  sendButton.textContent = t('composer.send');
  composer.append(textarea, composerError, sendButton);

  const chat = el('div', 'chat-layout');
  chat.append(header, banner, list, footer);
  root.replaceChildren(panel, chat);

  const submit = (): void => {
    const problem = actions.send(textarea.value);
    composerError.textContent = problem ? t(problem, { max: MAX_TEXT_LENGTH }) : '';
    if (!problem) {
      textarea.value = '';
      list.scrollTop = list.scrollHeight;
    }
  };
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  textarea.addEventListener('keydown', (e) => {
    if (composerKeyAction(e) === 'send') {
      e.preventDefault();
      submit();
    }
  });
  textarea.addEventListener('input', () => {
    composerError.textContent = '';
  });

  function render(state: State): void {
    chat.hidden = state.panel !== null;
    panel.hidden = state.panel === null;
    if (state.panel !== null) {
      renderPanel(state.panel);
      return;
    }
    renderHeader(state);
    banner.hidden = !state.streamDown;
    renderList(state);
    renderFooter(state);
  }

  function renderPanel(kind: Panel): void {
    if (kind === 'loading') {
      panel.replaceChildren(el('p', 'panel__body', t('state.loading')));
      return;
    }
    const children: HTMLElement[] = [
      el('h2', 'panel__title', t(`state.${kind}.title`)),
      el('p', 'panel__body', t(`state.${kind}.body`)),
    ];
    // A ticket the bridge does not know will not become one by retrying.
    if (kind !== 'not_chat') children.push(button(t('state.retry'), 'button', () => actions.restart()));
    panel.replaceChildren(...children);
  }

  function renderHeader(state: State): void {
    const ticket = state.ticket;
    if (!ticket) return;
    const statusKey = `status.${ticket.status}`;
    const statusLabel = t(statusKey) === statusKey ? ticket.status : t(statusKey);
    const status = el('span', `status status--${ticket.status}`, statusLabel);
    const assignee = ticket.assignee
      ? t('header.assignee', { name: ticket.assignee.name })
      : t('header.unassigned');
    const meta = el('div', 'header__meta');
    meta.append(status, el('span', '', assignee));
    header.replaceChildren(el('h2', 'header__title', t('header.chat_with', { name: ticket.customer.name })), meta);
  }

  function renderList(state: State): void {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_PX;
    const now = Date.now();
    const items = state.messages.map((m) => messageItem(m, state.sentIds.has(m.id), now));
    for (const o of state.outgoing) items.push(outgoingItem(o, state.me?.name ?? ''));
    if (items.length === 0) items.push(el('li', 'chat__empty', t('chat.empty')));
    list.replaceChildren(...items);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderFooter(state: State): void {
    if (state.ticket && isReadOnly(state.ticket)) {
      readOnlyText.textContent = state.ticket.assignee
        ? t('readonly.assigned_to', { name: state.ticket.assignee.name })
        : t('readonly.unassigned');
      takeButton.disabled = state.taking;
      takeButton.textContent = t(state.taking ? 'readonly.taking' : 'readonly.take');
      notice.textContent = state.notice ? t(state.notice) : '';
      footer.replaceChildren(readOnly);
    } else if (footer.firstChild !== composer) {
      footer.replaceChildren(composer);
    }
  }

  function messageItem(m: Message, sentHere: boolean, now: number): HTMLElement {
    const time = document.createElement('time');
    time.dateTime = new Date(m.time).toISOString();
    time.textContent = formatTime(m.time, now, options.timeLocale, options.timeZone);
    if (m.role === 'bridge') {
      const li = el('li', 'msg msg--bridge');
      li.append(textBlock(m.text, 'msg__notice'), time);
      return li;
    }
    const li = el('li', `msg msg--${m.role === 'agent' ? 'agent' : 'customer'}`);
    const meta = el('div', 'msg__meta');
    meta.append(el('span', 'msg__name', m.name || m.from), time);
    li.append(meta, textBlock(m.text, 'msg__bubble'));
    if (sentHere) li.append(el('div', 'msg__state', t('delivery.sent')));
    return li;
  }

  function outgoingItem(o: Outgoing, myName: string): HTMLElement {
    const li = el('li', `msg msg--agent msg--${o.delivery}`);
    const meta = el('div', 'msg__meta');
    meta.append(el('span', 'msg__name', myName));
    const state = el('div', 'msg__state');
    if (o.delivery === 'sending') {
      state.textContent = t('delivery.sending');
    } else {
      state.append(
        el('span', 'msg__error', `${t('delivery.failed')}${o.error ? ` · ${t(o.error)}` : ''}`),
        button(t('delivery.retry'), 'button button--link', () => actions.retry(o.key)),
      );
    }
    li.append(meta, textBlock(o.text, 'msg__bubble'), state);
    return li;
  }

  return { render };
}

/** Text with its newlines kept (CSS `white-space: pre-wrap`) and URLs as links. */
function textBlock(text: string, className: string): HTMLElement {
  const block = el('div', className);
  for (const segment of linkify(text)) {
    if (segment.kind === 'text') {
      block.append(segment.text);
    } else {
      const a = document.createElement('a');
      a.href = segment.href;
      a.textContent = segment.text;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      block.append(a);
    }
  }
  return block;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', className, label);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}
