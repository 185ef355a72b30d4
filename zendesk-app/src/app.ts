// The app's behaviour: opening the session, loading and following the chat, sending, taking the
// ticket. Everything that changes what shows goes through the store.
import type { BridgeApi } from './api';
import { ApiError, panelFor } from './errors';
import { isMessage, newIdempotencyKey, textProblem } from './messages';
import {
  addOutgoing,
  confirmSent,
  markFailed,
  markRetrying,
  withMember,
  withMessages,
  withStatus,
  type Store,
} from './state';
import { EventStream, type SseEvent } from './stream';
import type { AgentRef } from './types';

/** Messages asked per page. */
const PAGE_LIMIT = 100;

export class ChatApp {
  private stream: EventStream | null = null;

  constructor(
    private readonly api: BridgeApi,
    private readonly store: Store,
  ) {}

  /** Opens a session and loads the chat; also what the panels' Retry buttons do. */
  async start(): Promise<void> {
    this.stream?.stop();
    this.stream = null;
    this.store.update((s) => ({ ...s, panel: 'loading' }));
    try {
      await this.api.openSession();
    } catch (error) {
      this.store.update((s) => ({ ...s, panel: panelFor(error, true) }));
      return;
    }
    try {
      const ticket = await this.api.ticket();
      this.store.update((s) => ({ ...s, ticket, me: this.api.agent }));
      await this.fetchNewer(null);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.store.update((s) => ({ ...s, panel: null }));
    this.follow();
  }

  /** Queues `text` for sending; returns why it cannot be sent (a translation key), or null. */
  send(text: string): string | null {
    const problem = textProblem(text);
    if (problem) return problem;
    const key = newIdempotencyKey();
    this.store.update((s) => addOutgoing(s, key, text));
    void this.deliver(key, text);
    return null;
  }

  retry(key: string): void {
    const item = this.store.state.outgoing.find((o) => o.key === key);
    if (!item) return;
    this.store.update((s) => markRetrying(s, key));
    void this.deliver(key, item.text);
  }

  async take(): Promise<void> {
    this.store.update((s) => ({ ...s, taking: true, notice: null }));
    try {
      const taken = await this.api.take();
      this.store.update((s) => withMember(s, taken.assignee));
      await this.refreshTicket();
    } catch (error) {
      if (isFatal(error)) this.fail(error);
      else this.store.update((s) => ({ ...s, notice: 'readonly.take_failed' }));
    } finally {
      this.store.update((s) => ({ ...s, taking: false }));
    }
  }

  /** Re-reads the ticket (assignee, status); on a failure the shown ticket stays as it was. */
  async refreshTicket(): Promise<void> {
    if (this.store.state.panel !== null) return;
    try {
      const ticket = await this.api.ticket();
      this.store.update((s) => ({ ...s, ticket }));
    } catch (error) {
      if (isFatal(error)) this.fail(error);
    }
  }

  private async deliver(key: string, text: string): Promise<void> {
    try {
      const message = await this.api.send(text, key);
      this.store.update((s) => confirmSent(s, key, message));
    } catch (error) {
      this.store.update((s) => markFailed(s, key, failureText(error)));
      if (error instanceof ApiError && error.kind === 'forbidden') void this.refreshTicket();
      else if (isFatal(error)) this.fail(error);
    }
  }

  /** Fetches every page after `after` into the transcript. */
  private async fetchNewer(after: string | null): Promise<void> {
    for (let cursor = after; ; ) {
      const page = await this.api.messages(cursor, PAGE_LIMIT);
      this.store.update((s) => withMessages(s, page.messages, page.cursor));
      // `next === cursor` would loop forever on a misbehaving server.
      if (page.next === null || page.next === cursor) return;
      cursor = page.next;
    }
  }

  private follow(): void {
    this.stream = new EventStream((lastId, signal) => this.api.openEvents(lastId, signal), {
      onOpen: () => {
        this.store.update((s) => ({ ...s, streamDown: false }));
        // Whatever happened while the stream was down (or before it first opened).
        this.fetchNewer(this.store.state.cursor).catch((error: unknown) => {
          if (isFatal(error)) this.fail(error);
        });
      },
      onEvent: (event) => this.apply(event),
      onDown: () => this.store.update((s) => ({ ...s, streamDown: true })),
      onFatal: (error) => this.fail(error),
    });
    this.stream.start();
  }

  private apply(event: SseEvent): void {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to understand; the next catch-up fetch covers messages anyway
    }
    switch (event.event) {
      case 'message':
        if (isMessage(data)) this.store.update((s) => withMessages(s, [data]));
        break;
      case 'member':
        this.store.update((s) => withMember(s, (data as { agent: AgentRef | null }).agent));
        break;
      case 'status':
        this.store.update((s) => withStatus(s, (data as { status: string }).status));
        break;
    }
  }

  private fail(error: unknown): void {
    this.stream?.stop();
    this.stream = null;
    this.store.update((s) => ({ ...s, panel: panelFor(error, false), streamDown: false }));
  }
}

/** Failures after which the chat cannot go on: the session is lost or the ticket is unknown. */
function isFatal(error: unknown): boolean {
  return error instanceof ApiError && (error.kind === 'unauthorized' || error.kind === 'not_found');
}

function failureText(error: unknown): string {
  if (!(error instanceof ApiError)) return 'error.unreachable';
  if (error.kind === 'forbidden') return 'error.not_assignee';
  if (error.kind === 'rejected') return 'error.rejected';
  return 'error.unreachable';
}
