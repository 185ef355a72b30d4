// Who may write in the chat.
import type { AgentRef, Ticket } from './types';

/** The chat is read-only for anyone but the ticket's assignee (the bridge answers 403 too). */
export function isReadOnly(ticket: Ticket): boolean {
  return !ticket.is_assignee;
}

/** The ticket after a `member` event: `agent` is the new assignee, or null when unassigned. */
export function withAssignee(ticket: Ticket, agent: AgentRef | null, myAgentId: number): Ticket {
  return { ...ticket, assignee: agent, is_assignee: agent !== null && agent.id === myAgentId };
}
