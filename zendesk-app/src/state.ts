// The app's state and the pure steps that change it; `Store` only holds it and tells the view.
import { withAssignee } from './access';
import type { Panel } from './errors';
import { mergeMessages, nextDelivery, type Outgoing } from './messages';
import type { AgentRef, Message, Session, Ticket } from './types';

export interface State {
  /** A full-panel state replacing the chat, or null when the chat shows. */
  panel: Panel | null;
  ticket: Ticket | null;
  me: Session['agent'] | null;
  /** The transcript, oldest first. */
  messages: Message[];
  /** Ids of messages this agent sent from here and the bridge confirmed: shown as "Sent". */
  sentIds: ReadonlySet<string>;
  /** What the agent wrote that is not confirmed yet, in the order written. */
  outgoing: Outgoing[];
  /** After `messages?after=`: where to ask next for what is newer. */
  cursor: string | null;
  streamDown: boolean;
  taking: boolean;
  /** Translation key of a short notice under the read-only bar (e.g. take failed). */
  notice: string | null;
}

export const initialState: State = {
  panel: 'loading',
  ticket: null,
  me: null,
  messages: [],
  sentIds: new Set(),
  outgoing: [],
  cursor: null,
  streamDown: false,
  taking: false,
  notice: null,
};

export function withMessages(state: State, messages: readonly Message[], cursor?: string | null): State {
  return {
    ...state,
    messages: mergeMessages(state.messages, messages),
    // A page without messages may carry no cursor: keep the one we had.
    cursor: cursor ?? state.cursor,
  };
}

export function addOutgoing(state: State, key: string, text: string): State {
  return { ...state, outgoing: [...state.outgoing, { key, text, delivery: 'sending' }] };
}

/** The bridge confirmed `key` as `message`: it leaves the outgoing list and joins the transcript. */
export function confirmSent(state: State, key: string, message: Message): State {
  const item = state.outgoing.find((o) => o.key === key);
  if (!item || nextDelivery(item.delivery, 'ok') !== 'sent') return state;
  return {
    ...state,
    outgoing: state.outgoing.filter((o) => o.key !== key),
    messages: mergeMessages(state.messages, [message]),
    sentIds: new Set(state.sentIds).add(message.id),
  };
}

export function markFailed(state: State, key: string, error: string): State {
  return mapOutgoing(state, key, (o) => {
    if (nextDelivery(o.delivery, 'fail') === o.delivery) return o; // not a move from here
    return { ...o, delivery: 'failed', error };
  });
}

export function markRetrying(state: State, key: string): State {
  return mapOutgoing(state, key, (o) => {
    if (nextDelivery(o.delivery, 'retry') === o.delivery) return o;
    return { key: o.key, text: o.text, delivery: 'sending' };
  });
}

/** A `member` event: the ticket's assignee changed. */
export function withMember(state: State, agent: AgentRef | null): State {
  if (!state.ticket || !state.me) return state;
  return { ...state, ticket: withAssignee(state.ticket, agent, state.me.id) };
}

export function withStatus(state: State, status: string): State {
  return state.ticket ? { ...state, ticket: { ...state.ticket, status } } : state;
}

function mapOutgoing(state: State, key: string, f: (o: Outgoing) => Outgoing): State {
  return { ...state, outgoing: state.outgoing.map((o) => (o.key === key ? f(o) : o)) };
}

export class Store {
  private listeners: Array<(state: State) => void> = [];
  constructor(public state: State) {}

  update(step: (state: State) => State): void {
    const next = step(this.state);
    if (next === this.state) return;
    this.state = next;
    for (const listener of this.listeners) listener(next);
  }

  subscribe(listener: (state: State) => void): void {
    this.listeners.push(listener);
  }
}
