// The bridge's agent API. The session is opened through Zendesk's proxy, which signs a JWT with
// the secure `shared_secret` setting (so the secret never reaches the browser); every other call
// goes straight to the bridge with the session token.
import type { ZafClient } from 'zendesk_app_framework_sdk';
import { afterUnauthorized, ApiError, classifyStatus, errorCode } from './errors';
import type { Message, MessagePage, Session, TakeResult, Ticket } from './types';

/** What the session's JWT says about who is asking. */
export interface SessionClaims {
  ticket_id: number;
  agent_id: number;
  agent_name: string;
  agent_email: string;
}

/** Lifetime asked of the proxy-signed JWT; the bridge accepts at most one hour. */
const JWT_EXPIRY_SECONDS = 3600;

export class BridgeApi {
  private session: Session | null = null;
  private renewal: Promise<Session> | null = null;

  constructor(
    private readonly zaf: ZafClient,
    private readonly baseUrl: string,
    private readonly claims: SessionClaims,
  ) {}

  /** The agent as the bridge knows them; set once a session is open. */
  get agent(): Session['agent'] | null {
    return this.session?.agent ?? null;
  }

  /** Opens a session (or a new one). Concurrent callers share one request. */
  openSession(): Promise<Session> {
    this.renewal ??= this.requestSession().finally(() => {
      this.renewal = null;
    });
    return this.renewal;
  }

  ticket(): Promise<Ticket> {
    return this.call<Ticket>('GET', this.ticketPath());
  }

  messages(after: string | null, limit: number): Promise<MessagePage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (after !== null) query.set('after', after);
    return this.call<MessagePage>('GET', `${this.ticketPath()}/messages?${query}`);
  }

  /** Posts a message; the same `idempotencyKey` on a retry never posts it twice. */
  send(text: string, idempotencyKey: string): Promise<Message> {
    return this.call<Message>('POST', `${this.ticketPath()}/messages`, {
      body: JSON.stringify({ text }),
      headers: { 'Idempotency-Key': idempotencyKey },
    });
  }

  take(): Promise<TakeResult> {
    return this.call<TakeResult>('POST', `${this.ticketPath()}/take`, { body: '{}' });
  }

  /** Opens the event stream; resolves once the bridge answered 2xx with a body to read. */
  async openEvents(lastEventId: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== '') headers['Last-Event-ID'] = lastEventId;
    const response = await this.authorized('GET', `${this.ticketPath()}/events`, { headers, signal });
    if (!response.body) throw new ApiError('unreachable', response.status);
    return response.body;
  }

  private ticketPath(): string {
    return `/agent/tickets/${this.claims.ticket_id}`;
  }

  private async call<T>(
    method: string,
    path: string,
    init: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const response = await this.authorized(method, path, init);
    return (await response.json()) as T;
  }

  /** A fetch with the session token; a 401 renews the session once and tries again. */
  private async authorized(
    method: string,
    path: string,
    init: { body?: string; headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<Response> {
    let renewed = false;
    for (;;) {
      const session = this.session ?? (await this.openSession());
      const response = await this.fetch(method, path, session.token, init);
      if (response.ok) return response;
      const kind = classifyStatus(response.status);
      if (kind === 'unauthorized' && afterUnauthorized(renewed) === 'renew') {
        renewed = true;
        // Only drop the token that failed: another call may already have renewed it.
        if (this.session === session) this.session = null;
        continue;
      }
      throw new ApiError(kind, response.status, errorCode(await readJson(response)));
    }
  }

  private async fetch(
    method: string,
    path: string,
    token: string,
    init: { body?: string; headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...init.headers };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(this.baseUrl + path, {
        method,
        headers,
        mode: 'cors',
        credentials: 'omit',
        ...(init.body !== undefined && { body: init.body }),
        ...(init.signal && { signal: init.signal }),
      });
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw new ApiError('unreachable', 0);
    }
  }

  private async requestSession(): Promise<Session> {
    let answer: unknown;
    try {
      answer = await this.zaf.request({
        url: `${this.baseUrl}/agent/session`,
        type: 'POST',
        contentType: 'application/json',
        data: '{}',
        secure: true,
        cors: false,
        jwt: {
          algorithm: 'HS256',
          secret_key: '{{setting.shared_secret}}',
          expiry: JWT_EXPIRY_SECONDS,
          claims: this.claims,
        },
        headers: { Authorization: 'Bearer {{jwt.token}}' },
        httpCompleteResponse: true,
      });
    } catch (failed) {
      // With httpCompleteResponse the proxy rejects with the response ({status, responseText}).
      const { status, body } = proxyResponse(failed);
      throw new ApiError(classifyStatus(status), status, errorCode(body));
    }
    const { status, body } = proxyResponse(answer);
    if (status < 200 || status >= 300 || !isSession(body)) {
      throw new ApiError(status >= 200 && status < 300 ? 'unreachable' : classifyStatus(status), status, errorCode(body));
    }
    this.session = body;
    return body;
  }
}

/** Status and parsed body of a ZAF proxy answer (`httpCompleteResponse: true`). */
export function proxyResponse(answer: unknown): { status: number; body: unknown } {
  if (typeof answer !== 'object' || answer === null) return { status: 0, body: null };
  const r = answer as { status?: unknown; responseJSON?: unknown; responseText?: unknown };
  const status = typeof r.status === 'number' ? r.status : 0;
  if (r.responseJSON !== undefined) return { status, body: r.responseJSON };
  if (typeof r.responseText === 'string') {
    try {
      return { status, body: JSON.parse(r.responseText) as unknown };
    } catch {
      return { status, body: null };
    }
  }
  return { status, body: null };
}

function isSession(body: unknown): body is Session {
  return typeof body === 'object' && body !== null && typeof (body as Session).token === 'string';
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return null;
  }
}
