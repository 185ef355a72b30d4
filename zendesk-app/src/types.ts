// The bridge's agent API, as agreed in the contract (DESIGN.md §3 and the sidebar brief).

export type Role = 'customer' | 'agent' | 'bridge';

/** One line of the ticket's chat transcript. */
export interface Message {
  id: string;
  from: string;
  role: Role;
  name: string;
  /** Text as the bridge renders it; IM elements (images, files…) already appear here as lines. */
  text: string;
  elements?: unknown[];
  /** Milliseconds since the epoch. */
  time: number;
}

export interface AgentRef {
  id: number;
  name: string;
}

/** `POST /agent/session` answer. */
export interface Session {
  token: string;
  expires_in: number;
  ticket_id: number;
  agent: AgentRef & { im_user_id: string };
}

/** `GET /agent/tickets/{id}` answer. */
export interface Ticket {
  id: number;
  subject: string;
  status: string;
  customer: { name: string };
  assignee: AgentRef | null;
  is_assignee: boolean;
}

/** `GET /agent/tickets/{id}/messages` answer. */
export interface MessagePage {
  messages: Message[];
  /** Non-null while more pages follow; pass it as `after` for the next page. */
  next: string | null;
  /** Cursor of the last message returned: `after` for asking later what is newer. */
  cursor?: string | null;
}

/** `POST /agent/tickets/{id}/take` answer. */
export interface TakeResult {
  assignee: AgentRef;
  is_assignee: boolean;
}
