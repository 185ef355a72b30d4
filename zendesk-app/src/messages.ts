// The transcript held by the app: merging what the page fetches and the stream pushes, and the
// life of a message the agent sends.
import type { Message } from './types';

/** Largest text the bridge accepts (it answers 400 above). */
export const MAX_TEXT_LENGTH = 4000;

/**
 * Adds `incoming` to `current`, keyed by id (a later copy of an id replaces the earlier one),
 * ordered oldest first by time. Messages with the same time keep their arrival order, which is
 * the bridge's order. Returns a new array.
 */
export function mergeMessages(current: readonly Message[], incoming: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const m of current) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  // Array.prototype.sort is stable, so insertion order breaks ties.
  return [...byId.values()].sort((a, b) => a.time - b.time);
}

export type Delivery = 'sending' | 'sent' | 'failed';
export type DeliveryEvent = 'ok' | 'fail' | 'retry';

/**
 * The state machine of a message the agent sends: sending → sent | failed, failed → (retry)
 * sending. Anything else is not a move and leaves the state as it is (e.g. a late answer for a
 * message already sent).
 */
export function nextDelivery(state: Delivery, event: DeliveryEvent): Delivery {
  if (state === 'sending' && event === 'ok') return 'sent';
  if (state === 'sending' && event === 'fail') return 'failed';
  if (state === 'failed' && event === 'retry') return 'sending';
  return state;
}

/** A message the agent wrote that the bridge has not confirmed yet. */
export interface Outgoing {
  /** Sent as `Idempotency-Key`; kept across retries so a retry can never post twice. */
  key: string;
  text: string;
  delivery: Exclude<Delivery, 'sent'>;
  /** Translation key of why it failed, if it did. */
  error?: string;
}

/** Why a text cannot be sent, as a translation key, or null when it can. */
export function textProblem(text: string): string | null {
  if (text.trim() === '') return 'composer.empty';
  // Counted in Unicode code points, as the bridge (Rust `chars()`) counts them.
  if ([...text].length > MAX_TEXT_LENGTH) return 'composer.too_long';
  return null;
}

/** A fresh idempotency key (random, 128 bits). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** A loose check of a message pushed by the stream before it joins the transcript. */
export function isMessage(value: unknown): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<Message>;
  return typeof m.id === 'string' && typeof m.text === 'string' && typeof m.time === 'number';
}
