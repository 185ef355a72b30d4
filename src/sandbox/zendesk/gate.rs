//! What every request goes through before its handler: counting, the account rate limit
//! (spec §3.1/3.3) and authentication (spec §1), in that order.

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{authenticate, Caller};
use super::errors::ApiError;
use super::ZendeskEmulator;

/// Counts every request, including those a fault or the gate rejects (outermost layer).
pub(super) async fn count(
    State(emu): State<ZendeskEmulator>,
    req: Request,
    next: Next,
) -> Response {
    emu.inner.requests.fetch_add(1, Ordering::Relaxed);
    next.run(req).await
}

/// Rate limit, then authentication; the caller goes into the request's extensions. Every
/// response carries the account's `X-Rate-Limit` / `X-Rate-Limit-Remaining`.
pub(super) async fn gate(
    State(emu): State<ZendeskEmulator>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = emu.now_ms();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let admitted = {
        let mut store = emu.lock();
        match store.limits.account_request(now) {
            Err((limited, quota)) => Err((limited, Some(quota))),
            Ok(quota) => match authenticate(req.headers(), &emu.inner.creds, &store) {
                Ok(Some(user_id)) => Ok((Caller::User(user_id), quota)),
                Ok(None) if anonymous_allowed(&method, &path) => Ok((Caller::Anonymous, quota)),
                Ok(None) => Err((ApiError::Unauthenticated, quota)),
                Err(e) => Err((e, quota)),
            },
        }
    };
    let (mut resp, quota) = match admitted {
        Ok((caller, quota)) => {
            req.extensions_mut().insert(caller);
            (next.run(req).await, quota)
        }
        Err((e, quota)) => (e.into_response(), quota),
    };
    if let Some(q) = quota {
        let h = resp.headers_mut();
        h.insert("x-rate-limit", HeaderValue::from(q.limit));
        h.insert("x-rate-limit-remaining", HeaderValue::from(q.remaining));
    }
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "zendesk emulator");
    resp
}

/// `GET /api/v2/users/me` is "Allowed For: Anonymous users" (OAS): without an `Authorization`
/// header it answers with the anonymous user instead of 401.
fn anonymous_allowed(method: &Method, path: &str) -> bool {
    method == Method::GET && matches!(path, "/api/v2/users/me" | "/api/v2/users/me.json")
}
