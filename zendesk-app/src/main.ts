// Entry point: reads the Zendesk context through the ZAF SDK and wires the app together.
import ZAFClient, { type ZafClient } from 'zendesk_app_framework_sdk';
import { BridgeApi } from './api';
import { ChatApp } from './app';
import { pickLocale, translator } from './i18n';
import { initialState, Store } from './state';
import { createView } from './view';
import './style.css';

/** Heights asked of Zendesk: the chat needs room; a full-panel state does not. */
const CHAT_HEIGHT = '560px';
const PANEL_HEIGHT = '200px';

interface CurrentUser {
  id: number;
  name: string;
  email: string;
  locale?: string;
  timeZone?: { ianaName?: string };
}

const root = document.getElementById('app');
const client = ZAFClient.init();
if (root && client) {
  void boot(client, root);
} else if (root) {
  root.textContent = 'This page is a Zendesk app; it runs inside the Zendesk agent workspace.';
}

async function boot(client: ZafClient, root: HTMLElement): Promise<void> {
  const [metadata, context] = await Promise.all([
    client.metadata(),
    client.get(['ticket.id', 'currentUser']),
  ]);
  const user = context['currentUser'] as CurrentUser;
  const ticketId = context['ticket.id'];
  const locale = pickLocale(user.locale);
  document.documentElement.lang = locale;

  const store = new Store(initialState);
  const api = new BridgeApi(client, baseUrl(metadata.settings['bridge_url']), {
    ticket_id: Number(ticketId),
    agent_id: user.id,
    agent_name: user.name,
    agent_email: user.email,
  });
  const app = new ChatApp(api, store);
  const view = createView(
    root,
    {
      t: translator(locale),
      timeLocale: timeLocale(user.locale, locale),
      ...(user.timeZone?.ianaName && { timeZone: user.timeZone.ianaName }),
    },
    {
      send: (text) => app.send(text),
      retry: (key) => app.retry(key),
      take: () => void app.take(),
      restart: () => void app.start(),
    },
  );

  let height = '';
  const show = (): void => {
    view.render(store.state);
    const wanted = store.state.panel === null ? CHAT_HEIGHT : PANEL_HEIGHT;
    if (wanted !== height) {
      height = wanted;
      void client.invoke('resize', { width: '100%', height });
    }
  };
  store.subscribe(show);
  show();

  // A new ticket (no id yet) cannot have been opened by the bridge.
  if (typeof ticketId !== 'number') {
    store.update((s) => ({ ...s, panel: 'not_chat' }));
    return;
  }
  // Assigning in Zendesk's own ticket form also changes who may write here.
  client.on('ticket.assignee.user.id.changed', () => void app.refreshTicket());
  await app.start();
}

/** The `bridge_url` setting without a trailing slash, so paths can be appended. */
function baseUrl(setting: unknown): string {
  return String(setting ?? '').trim().replace(/\/+$/, '');
}

/** The agent's own locale for dates when the browser knows it, else the UI language. */
function timeLocale(userLocale: string | undefined, fallback: string): string {
  try {
    return (userLocale && Intl.DateTimeFormat.supportedLocalesOf([userLocale])[0]) || fallback;
  } catch {
    return fallback; // not a well-formed language tag
  }
}
