import { describe, expect, it } from 'vitest';
import { proxyResponse } from '../src/api';
import { afterUnauthorized, ApiError, classifyStatus, errorCode, panelFor } from '../src/errors';

describe('session expired → renew decision', () => {
  it('renews silently on the first 401 and gives up on the second', () => {
    expect(afterUnauthorized(false)).toBe('renew');
    expect(afterUnauthorized(true)).toBe('expired');
  });

  it('shows "Session expired" only when the renewal itself is refused', () => {
    expect(panelFor(new ApiError('unauthorized', 401), false)).toBe('expired');
  });

  it('shows "Not authorized" when the first session JWT is refused', () => {
    expect(panelFor(new ApiError('unauthorized', 401), true)).toBe('auth');
  });
});

describe('failure panels', () => {
  it('maps 404 to "Not a chat ticket" and network errors or 5xx to "Bridge unreachable"', () => {
    expect(panelFor(new ApiError('not_found', 404), true)).toBe('not_chat');
    expect(panelFor(new ApiError('unreachable', 0), true)).toBe('unreachable');
    expect(panelFor(new ApiError('unreachable', 503), false)).toBe('unreachable');
    expect(panelFor(new TypeError('Failed to fetch'), false)).toBe('unreachable');
  });
});

describe('classifyStatus', () => {
  it('classifies statuses', () => {
    expect(classifyStatus(401)).toBe('unauthorized');
    expect(classifyStatus(403)).toBe('forbidden');
    expect(classifyStatus(404)).toBe('not_found');
    expect(classifyStatus(400)).toBe('rejected');
    expect(classifyStatus(429)).toBe('unreachable');
    expect(classifyStatus(502)).toBe('unreachable');
    expect(classifyStatus(0)).toBe('unreachable');
  });
});

describe('reading error bodies', () => {
  it('reads the bridge error code', () => {
    const body = { ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: 'x', error: { code: 'not_assignee', message: 'x' } };
    expect(errorCode(body)).toBe('not_assignee');
    expect(errorCode({ error: 'nope' })).toBeNull();
    expect(errorCode(null)).toBeNull();
  });

  it('reads status and body of a ZAF proxy answer, JSON or text', () => {
    expect(proxyResponse({ status: 200, responseJSON: { token: 't' } })).toEqual({ status: 200, body: { token: 't' } });
    expect(proxyResponse({ status: 404, responseText: '{"error":{"code":"unknown_ticket"}}' })).toEqual({
      status: 404,
      body: { error: { code: 'unknown_ticket' } },
    });
    expect(proxyResponse({ status: 502, responseText: '<html>' })).toEqual({ status: 502, body: null });
    expect(proxyResponse(undefined)).toEqual({ status: 0, body: null });
  });
});
