// Classifying what went wrong on a call to the bridge, so callers branch on kinds instead of
// reading status codes; and the decisions that follow from a kind.

export type FailureKind =
  /** 401: the session token (or, on `/agent/session`, the JWT) was refused. */
  | 'unauthorized'
  /** 404: the bridge does not know this ticket (not a chat it opened). */
  | 'not_found'
  /** 403: e.g. `not_assignee` on posting. */
  | 'forbidden'
  /** Other 4xx: the request itself is wrong (e.g. empty or too long text). */
  | 'rejected'
  /** Network error, timeout, 429 or 5xx: worth retrying later. */
  | 'unreachable';

export class ApiError extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly status: number,
    /** The bridge's `error.code` (snake_case), when the body had one. */
    readonly code: string | null = null,
  ) {
    super(`bridge call failed: ${kind} (HTTP ${status}${code ? `, ${code}` : ''})`);
    this.name = 'ApiError';
  }
}

/** Maps an HTTP status (0 = no answer) to a failure kind. */
export function classifyStatus(status: number): FailureKind {
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 403) return 'forbidden';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'rejected';
  return 'unreachable';
}

/** Reads the bridge's `{"error": {"code": ...}}` from an error body, if there is one. */
export function errorCode(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

/**
 * What to do when an API call answers 401: the first time, get a new session silently and
 * retry; if the call already ran on a renewed session, the session is lost for good.
 */
export function afterUnauthorized(alreadyRenewed: boolean): 'renew' | 'expired' {
  return alreadyRenewed ? 'expired' : 'renew';
}

/** A full-panel state that replaces the chat. */
export type Panel = 'loading' | 'not_chat' | 'unreachable' | 'expired' | 'auth';

/**
 * The panel to show for a failure that stops the app. `opening` is true for the first session
 * request, where a 401 means the JWT was refused (the shared secret does not match), not that a
 * session ran out.
 */
export function panelFor(error: unknown, opening: boolean): Panel {
  if (!(error instanceof ApiError)) return 'unreachable';
  switch (error.kind) {
    case 'not_found':
      return 'not_chat';
    case 'unauthorized':
      return opening ? 'auth' : 'expired';
    default:
      return 'unreachable';
  }
}
