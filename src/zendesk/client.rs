//! The Zendesk Support API client.
//!
//! Retry policy, all inside one deadline per call (`ZENDESK_TIMEOUT_SECS`):
//! - 429: wait what `Retry-After` says (Zendesk did not process the request), then retry;
//! - 5xx, timeouts and transport errors: retry with jittered exponential backoff — but a
//!   `POST` is only retried when it carries an `Idempotency-Key` or never reached Zendesk
//!   (no connection was made), because otherwise a lost response could create it twice;
//! - every other error is permanent and returned at once, classified ([`ZendeskError`]).

use std::time::Duration;

use crate::ratelimit::jittered_backoff;
use base64::Engine as _;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use super::types::*;
use crate::metrics::{Metrics, Service};
use crate::ratelimit::Pacer;
use crate::secret::Secret;
use crate::upstream::{observed, query_value, retry_after, HttpClient, HttpError};

/// How the bridge authenticates to Zendesk.
#[derive(Debug, Clone)]
pub enum ZendeskAuth {
    /// `{email}/token:{token}` as HTTP Basic.
    ApiToken { email: String, token: Secret },
    /// `Authorization: Bearer {token}`.
    OAuth { token: Secret },
}

/// A Zendesk call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ZendeskError {
    #[error("Zendesk rejected the bridge's credentials (401)")]
    Unauthorized,
    #[error("Zendesk refused the request (403): {0}")]
    Forbidden(String),
    #[error("Zendesk has no such record (404)")]
    NotFound,
    #[error("Zendesk rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Zendesk says the idempotency key was used for a different request")]
    IdempotencyConflict,
    #[error("Zendesk rate limit reached; retry after {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("Zendesk is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("Zendesk did not answer in time")]
    Timeout,
    /// No connection could be made: Zendesk never saw the request.
    #[error("could not connect to Zendesk: {0}")]
    Unreachable(String),
    #[error("the connection to Zendesk failed: {0}")]
    Transport(String),
    #[error("unexpected answer from Zendesk: {0}")]
    Decode(String),
}

impl ZendeskError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ZendeskError::RateLimited { .. }
                | ZendeskError::Unavailable { .. }
                | ZendeskError::Timeout
                | ZendeskError::Unreachable(_)
                | ZendeskError::Transport(_)
        )
    }

    /// The error's class, as the `outcome` of the call in the metrics.
    pub fn class(&self) -> &'static str {
        match self {
            ZendeskError::Unauthorized => "unauthorized",
            ZendeskError::Forbidden(_) => "forbidden",
            ZendeskError::NotFound => "not_found",
            ZendeskError::Rejected { .. } => "rejected",
            ZendeskError::IdempotencyConflict => "idempotency_conflict",
            ZendeskError::RateLimited { .. } => "rate_limited",
            ZendeskError::Unavailable { .. } => "unavailable",
            ZendeskError::Timeout => "timeout",
            ZendeskError::Unreachable(_) => "unreachable",
            ZendeskError::Transport(_) => "transport",
            ZendeskError::Decode(_) => "decode",
        }
    }

    /// Retrying is safe even when the request is not idempotent: Zendesk never processed it.
    fn was_not_processed(&self) -> bool {
        matches!(
            self,
            ZendeskError::RateLimited { .. } | ZendeskError::Unreachable(_)
        )
    }
}

pub type Result<T, E = ZendeskError> = std::result::Result<T, E>;

/// Without a `Retry-After` header, a 429 waits this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Calls one Zendesk account's Support API.
#[derive(Debug, Clone)]
pub struct ZendeskClient {
    http: HttpClient,
    base_url: String,
    /// The `Authorization` header, written once; `None` when the credentials cannot be one.
    authorization: Option<HeaderValue>,
    timeout: Duration,
    pacer: Option<std::sync::Arc<Pacer>>,
    metrics: Option<Metrics>,
}

impl ZendeskClient {
    /// `base_url` is `https://{subdomain}.zendesk.com` (or an emulator); `timeout` is the
    /// deadline of one call, retries included.
    pub fn new(
        http: HttpClient,
        base_url: impl Into<String>,
        auth: ZendeskAuth,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into(),
            authorization: authorization(&auth),
            timeout,
            pacer: None,
            metrics: None,
        }
    }

    /// Reports every request sent to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Paces calls to the plan's `per_minute` budget, so bursts wait here instead of being
    /// refused by Zendesk; a 429's `Retry-After` pauses every caller.
    pub fn with_rate_limit(mut self, per_minute: u32) -> Self {
        self.pacer = Some(std::sync::Arc::new(Pacer::per_minute(per_minute)));
        self
    }

    /// The deadline of one call: after it, a request whose answer was lost has either been
    /// processed or never will be.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Creates a ticket. With an `idempotency_key`, a repeated call (same key, same ticket)
    /// returns the first ticket instead of opening another, for Zendesk's two-hour key window.
    pub async fn create_ticket(
        &self,
        ticket: &NewTicket,
        idempotency_key: Option<&str>,
    ) -> Result<Ticket> {
        let body = TicketEnvelope { ticket };
        self.send::<TicketResponse>(
            Method::POST,
            "/api/v2/tickets",
            &[],
            Some(&body),
            idempotency_key,
        )
        .await
        .map(|r| r.ticket)
    }

    pub async fn get_ticket(&self, id: u64) -> Result<Ticket> {
        self.send::<TicketResponse>(
            Method::GET,
            &format!("/api/v2/tickets/{id}"),
            &[],
            None::<&()>,
            None,
        )
        .await
        .map(|r| r.ticket)
    }

    /// Changes a ticket. Setting fields is safe to repeat; an update that adds a comment is
    /// not (a retry after a lost answer would add it twice), so it is sent once, like
    /// [`ZendeskClient::add_comment`].
    pub async fn update_ticket(&self, id: u64, update: &TicketUpdate) -> Result<Ticket> {
        let body = TicketEnvelope { ticket: update };
        let path = format!("/api/v2/tickets/{id}");
        let answer = if update.comment.is_some() {
            self.send_once::<TicketResponse>(Method::PUT, &path, Some(&body))
                .await
        } else {
            self.send::<TicketResponse>(Method::PUT, &path, &[], Some(&body), None)
                .await
        };
        answer.map(|r| r.ticket)
    }

    /// Adds a comment (and maybe a status) to a ticket; returns the new comment's id when the
    /// answer names it. Never repeated by the client: a ticket update has no idempotency key,
    /// so a lost answer is the caller's to resolve (find the comment by its metadata).
    pub async fn add_comment(&self, id: u64, update: &CommentUpdate) -> Result<Option<u64>> {
        let body = TicketEnvelope { ticket: update };
        self.send_once::<TicketUpdateResponse>(
            Method::PUT,
            &format!("/api/v2/tickets/{id}"),
            Some(&body),
        )
        .await
        .map(|r| r.audit.and_then(|a| a.comment_id()))
    }

    /// The ticket's comments, newest first, until `stop` says enough (it sees each page) or
    /// there are no more: cursor pagination, 100 a page.
    pub async fn comments_newest_first(
        &self,
        id: u64,
        mut stop: impl FnMut(&[Comment]) -> bool,
    ) -> Result<Vec<Comment>> {
        let path = format!("/api/v2/tickets/{id}/comments");
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("page[size]", "100"), ("sort", "-created_at")];
            if let Some(cursor) = after.as_deref() {
                query.push(("page[after]", cursor));
            }
            let page: CommentsResponse = self
                .send(Method::GET, &path, &query, None::<&()>, None)
                .await?;
            let done = stop(&page.comments);
            out.extend(page.comments);
            match page.meta {
                Some(CursorMeta {
                    has_more: true,
                    after_cursor: Some(next),
                }) if !done => after = Some(next),
                _ => return Ok(out),
            }
        }
    }

    pub async fn get_user(&self, id: u64) -> Result<User> {
        self.send::<UserResponse>(
            Method::GET,
            &format!("/api/v2/users/{id}"),
            &[],
            None::<&()>,
            None,
        )
        .await
        .map(|r| r.user)
    }

    /// Tickets whose `external_id` is `external_id` (not unique in Zendesk: may be several).
    pub async fn find_tickets_by_external_id(&self, external_id: &str) -> Result<Vec<Ticket>> {
        self.send::<TicketsResponse>(
            Method::GET,
            "/api/v2/tickets",
            &[("external_id", external_id)],
            None::<&()>,
            None,
        )
        .await
        .map(|r| r.tickets)
    }

    /// Users whose `external_id` is `external_id` (Zendesk compares case-insensitively).
    pub async fn find_users_by_external_id(&self, external_id: &str) -> Result<Vec<User>> {
        self.send::<UsersResponse>(
            Method::GET,
            "/api/v2/users/search",
            &[("external_id", external_id)],
            None::<&()>,
            None,
        )
        .await
        .map(|r| r.users)
    }

    pub async fn create_user(&self, user: &NewUser) -> Result<User> {
        self.send::<UserResponse>(
            Method::POST,
            "/api/v2/users",
            &[],
            Some(&UserEnvelope { user }),
            None,
        )
        .await
        .map(|r| r.user)
    }

    /// Webhooks whose name contains `name` (first page of up to 100).
    pub async fn find_webhooks(&self, name: &str) -> Result<Vec<Webhook>> {
        self.send::<WebhookList>(
            Method::GET,
            "/api/v2/webhooks",
            &[("filter[name_contains]", name), ("page[size]", "100")],
            None::<&()>,
            None,
        )
        .await
        .map(|r| r.webhooks)
    }

    pub async fn create_webhook(&self, webhook: &Webhook) -> Result<Webhook> {
        self.send::<WebhookEnvelope<Webhook>>(
            Method::POST,
            "/api/v2/webhooks",
            &[],
            Some(&WebhookEnvelope { webhook }),
            None,
        )
        .await
        .map(|r| r.webhook)
    }

    pub async fn update_webhook(&self, id: &str, webhook: &Webhook) -> Result<()> {
        // Answered 204 No Content.
        self.send::<()>(
            Method::PUT,
            &format!("/api/v2/webhooks/{id}"),
            &[],
            Some(&WebhookEnvelope { webhook }),
            None,
        )
        .await
    }

    /// The secret Zendesk signs the webhook's requests with.
    pub async fn webhook_signing_secret(&self, id: &str) -> Result<Secret> {
        self.send::<SigningSecretResponse>(
            Method::GET,
            &format!("/api/v2/webhooks/{id}/signing_secret"),
            &[],
            None::<&()>,
            None,
        )
        .await
        .map(|r| Secret::new(r.signing_secret.secret))
    }

    /// A request that must not be repeated once it may have reached Zendesk.
    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        self.send_with(method, path, &[], body, None, false).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        // PUT replaces fields and GET reads, so repeating them is harmless (a PUT that adds a
        // comment goes through `send_once`); POST is only safe to repeat under an idempotency key.
        let repeatable = method != Method::POST || idempotency_key.is_some();
        self.send_with(method, path, query, body, idempotency_key, repeatable)
            .await
    }

    #[tracing::instrument(
        level = "debug",
        skip(self, body, idempotency_key, repeatable),
        err(level = "debug")
    )]
    async fn send_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
        repeatable: bool,
    ) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let endpoint = format!("{method} {}", path_template(path));
        let mut attempt: u32 = 0;
        loop {
            if let Some(pacer) = &self.pacer {
                pacer
                    .acquire(deadline)
                    .await
                    .map_err(|wait| ZendeskError::RateLimited { retry_after: wait })?;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let authorization = self.authorization.clone().ok_or_else(|| {
                ZendeskError::Transport("the Zendesk credentials are not a header value".into())
            })?;
            headers.insert(AUTHORIZATION, authorization);
            if let Some(key) = idempotency_key {
                let key = HeaderValue::try_from(key).map_err(|_| {
                    ZendeskError::Transport("the Idempotency-Key is not a header value".into())
                })?;
                headers.insert("Idempotency-Key", key);
            }
            let json = body
                .map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ZendeskError::Decode(e.to_string()))?;
            let req = self.http.send(
                method.clone(),
                self.url(path, query),
                headers,
                json,
                remaining,
            );
            let sent = observed(
                self.metrics.as_ref(),
                Service::Zendesk,
                &endpoint,
                ZendeskError::class,
                self.attempt(req),
            );
            let err = match sent.await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() || !(repeatable || err.was_not_processed()) {
                return Err(err);
            }
            let wait = match &err {
                ZendeskError::RateLimited { retry_after } => {
                    if let Some(pacer) = &self.pacer {
                        pacer.pause(*retry_after);
                    }
                    *retry_after
                }
                _ => backoff(attempt),
            };
            if Instant::now() + wait >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, wait_ms = wait.as_millis() as u64, "retrying Zendesk call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        req: impl std::future::Future<Output = Result<crate::upstream::Response, HttpError>>,
    ) -> Result<T> {
        let resp = req.await.map_err(transport_error)?;
        let status = resp.status;
        let retry_after = retry_after(&resp.headers);
        if let Some(pacer) = &self.pacer {
            adapt(pacer, &resp.headers);
        }
        let bytes = resp.body;
        if status.is_success() {
            // 204 No Content (webhook updates) reads as JSON null.
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|e| ZendeskError::Decode(e.to_string()));
        }
        // Zendesk sends some errors as text/plain (429 among them): a body that is not JSON
        // still yields a classified error.
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(match status {
            StatusCode::UNAUTHORIZED => ZendeskError::Unauthorized,
            StatusCode::FORBIDDEN => ZendeskError::Forbidden(body.summary()),
            StatusCode::NOT_FOUND => ZendeskError::NotFound,
            StatusCode::TOO_MANY_REQUESTS => ZendeskError::RateLimited {
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            },
            StatusCode::BAD_REQUEST if body.error == "IdempotentRequestError" => {
                ZendeskError::IdempotencyConflict
            }
            // What Zendesk answers while a request with the same Idempotency-Key is still in
            // flight is not documented; 409 is what such APIs send: wait and try again.
            StatusCode::CONFLICT => ZendeskError::Unavailable { status: 409 },
            s if s.is_server_error() => ZendeskError::Unavailable { status: s.as_u16() },
            s => ZendeskError::Rejected {
                status: s.as_u16(),
                message: body.summary(),
            },
        })
    }

    /// `{base}{path}?{query}`, the query's values percent-encoded.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.base_url);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&query_value(name));
            url.push('=');
            url.push_str(&query_value(value));
        }
        url
    }
}

/// The `Authorization` header of `auth`, marked sensitive (its `Debug` shows no credentials).
fn authorization(auth: &ZendeskAuth) -> Option<HeaderValue> {
    let text = match auth {
        ZendeskAuth::ApiToken { email, token } => {
            let pair = format!("{email}/token:{}", token.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        ZendeskAuth::OAuth { token } => format!("Bearer {}", token.expose()),
    };
    let mut value = HeaderValue::try_from(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A request path as a metrics label: ids (segments with a digit, but the API version) become
/// `{id}`, so `/api/v2/tickets/42/comments` is `/api/v2/tickets/{id}/comments`.
fn path_template(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg != "v2" && seg.bytes().any(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Follows what Zendesk says of its limits: `X-Rate-Limit` (the plan's requests per minute)
/// lowers the budget if it was set too high; `ratelimit-remaining: 0` with `ratelimit-reset`
/// pauses until the window resets.
fn adapt(pacer: &Pacer, headers: &HeaderMap) {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(limit) = number("x-rate-limit").and_then(|l| u32::try_from(l).ok()) {
        pacer.lower_to_per_minute(limit);
    }
    if number("ratelimit-remaining") == Some(0) {
        if let Some(reset) = number("ratelimit-reset") {
            pacer.pause(Duration::from_secs(
                reset.min(crate::upstream::MAX_RETRY_AFTER.as_secs()),
            ));
        }
    }
}

fn transport_error(e: HttpError) -> ZendeskError {
    match e {
        HttpError::Timeout => ZendeskError::Timeout,
        HttpError::Connect(detail) => ZendeskError::Unreachable(detail),
        e => ZendeskError::Transport(e.to_string()),
    }
}

/// Uniform in [10 ms, min(max, base·2^attempt)].
fn backoff(attempt: u32) -> Duration {
    jittered_backoff(
        BACKOFF_BASE,
        BACKOFF_MAX,
        attempt,
        Duration::from_millis(10),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_become_placeholders_for_the_metrics() {
        for (path, want) in [
            ("/api/v2/tickets", "/api/v2/tickets"),
            ("/api/v2/tickets/42", "/api/v2/tickets/{id}"),
            (
                "/api/v2/tickets/42/comments",
                "/api/v2/tickets/{id}/comments",
            ),
            ("/api/v2/users/search", "/api/v2/users/search"),
            (
                "/api/v2/webhooks/01GZ8X/signing_secret",
                "/api/v2/webhooks/{id}/signing_secret",
            ),
        ] {
            assert_eq!(path_template(path), want, "{path}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..40 {
            let cap = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(backoff(attempt) <= cap.max(Duration::from_millis(10)));
        }
    }

    #[test]
    fn debug_output_hides_credentials() {
        for auth in [
            ZendeskAuth::ApiToken {
                email: "bot@acme.test".into(),
                token: Secret::new("api-token-123"),
            },
            ZendeskAuth::OAuth {
                token: Secret::new("api-token-123"),
            },
        ] {
            let c = ZendeskClient::new(
                HttpClient::new().unwrap(),
                "https://x",
                auth,
                Duration::from_secs(1),
            );
            assert!(!format!("{c:?}").contains("api-token-123"));
        }
    }
}
