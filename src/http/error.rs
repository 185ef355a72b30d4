//! Every error the HTTP API answers with, mapped to a status code and a JSON body in one place.
//!
//! Body (compatible with the reference backend's envelope, plus a machine-readable `error`):
//! `{"ActionStatus":"FAIL","ErrorCode":40001,"ErrorInfo":"...","error":{"code":"invalid_json","message":"..."}}`.
//! Internal causes are logged, never sent to the caller.

use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::MAX_BODY_BYTES;
use crate::bridge::intake::IntakeError;
use crate::bridge::BridgeError;
use crate::ids::{GroupId, TicketId};
use crate::limits::{Limit, Refusal};
use crate::zendesk::ZendeskError;

/// How long a client should wait before retrying when an upstream is down and says nothing.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidContentType(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidIdempotencyKey(String),
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new case")]
    IdempotencyConflict,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("ticket {0} is not a chat ticket: the bridge did not open it")]
    UnknownTicket(TicketId),
    #[error("only the ticket's assignee can write in the chat; take the ticket first")]
    NotAssignee,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("Zendesk is unavailable: {message}")]
    ZendeskUnavailable {
        message: String,
        retry_after: Duration,
    },
    #[error("Zendesk rejected the ticket: {0}")]
    ZendeskRejected(String),
    #[error("Zendesk failed: {0}")]
    ZendeskFailed(String),
    /// The ticket was created; its IM group or greeting was not.
    #[error("Tencent IM failed for ticket {ticket}: {message}")]
    Im {
        ticket: TicketId,
        message: String,
        retryable: bool,
    },
    /// A limit refused the request (see `crate::limits`).
    #[error("{}", refusal_message(.0))]
    Limited(Refusal),
    #[error("internal error")]
    Internal,
}

fn refusal_message(r: &Refusal) -> String {
    let secs = retry_secs(r.retry_after);
    match r.limit {
        Limit::RequestsPerIp => {
            format!("too many requests from this address; retry in {secs} s")
        }
        Limit::CasesPerUser => {
            format!("this user opened too many cases in the last hour; retry in {secs} s")
        }
        Limit::OpenTickets => "this user has too many open tickets: continue in one of them \
             (send `\"reuse\": true`) or wait until one is solved"
            .into(),
        Limit::StreamsPerAgent => {
            "this agent has too many event streams open; close one (or wait for it to end)".into()
        }
        Limit::Connections => {
            format!("the server is at its connection limit; retry in {secs} s")
        }
        Limit::HeaderTimeout | Limit::BodyTimeout => {
            "the request was not received in time; send it again".into()
        }
    }
}

/// Whole seconds, at least one, as `Retry-After` says them.
fn retry_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl From<BytesRejection> for ApiError {
    /// A body that could not be read: too large, too slow, or broken off.
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            };
        }
        let mut cause: Option<&dyn std::error::Error> = Some(&r);
        while let Some(e) = cause {
            if e.is::<super::guard::BodyTimedOut>() {
                // Recorded where the deadline passed (`guard`), not again here.
                return ApiError::Limited(Refusal {
                    limit: Limit::BodyTimeout,
                    retry_after: Duration::ZERO,
                });
            }
            cause = e.source();
        }
        ApiError::InvalidJson(format!("could not read the body: {r}"))
    }
}

impl ApiError {
    /// HTTP status, stable numeric `ErrorCode` and snake_case `error.code`.
    pub fn parts(&self) -> (StatusCode, i64, &'static str) {
        use ApiError::*;
        match self {
            InvalidJson(_) => (StatusCode::BAD_REQUEST, 40001, "invalid_json"),
            InvalidContentType(_) => (StatusCode::BAD_REQUEST, 40002, "invalid_content_type"),
            InvalidField(_) => (StatusCode::BAD_REQUEST, 40003, "invalid_field"),
            InvalidIdempotencyKey(_) => (StatusCode::BAD_REQUEST, 40004, "invalid_idempotency_key"),
            IdempotencyConflict => (StatusCode::CONFLICT, 40901, "idempotency_conflict"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, 40101, "unauthorized"),
            NotFound(_) => (StatusCode::NOT_FOUND, 40401, "not_found"),
            UnknownTicket(_) => (StatusCode::NOT_FOUND, 40402, "unknown_ticket"),
            NotAssignee => (StatusCode::FORBIDDEN, 40301, "not_assignee"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 40501, "method_not_allowed"),
            PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 41301, "payload_too_large"),
            ZendeskRejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201, "zendesk_rejected"),
            Limited(r) => match r.limit {
                Limit::RequestsPerIp => (StatusCode::TOO_MANY_REQUESTS, 42901, "too_many_requests"),
                Limit::CasesPerUser => (StatusCode::TOO_MANY_REQUESTS, 42902, "too_many_cases"),
                Limit::OpenTickets => (
                    StatusCode::TOO_MANY_REQUESTS,
                    42903,
                    "too_many_open_tickets",
                ),
                Limit::StreamsPerAgent => {
                    (StatusCode::TOO_MANY_REQUESTS, 42904, "too_many_streams")
                }
                Limit::Connections => (StatusCode::SERVICE_UNAVAILABLE, 50303, "overloaded"),
                Limit::HeaderTimeout | Limit::BodyTimeout => {
                    (StatusCode::REQUEST_TIMEOUT, 40801, "request_timeout")
                }
            },
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, 50001, "internal_error"),
            ZendeskFailed(_) => (StatusCode::BAD_GATEWAY, 50201, "zendesk_error"),
            Im {
                retryable: false, ..
            } => (StatusCode::BAD_GATEWAY, 50202, "im_error"),
            ZendeskUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                50301,
                "zendesk_unavailable",
            ),
            Im {
                retryable: true, ..
            } => (StatusCode::SERVICE_UNAVAILABLE, 50302, "im_unavailable"),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let (_, code, name) = self.parts();
        let message = self.to_string();
        let mut body = json!({
            "ActionStatus": "FAIL",
            "ErrorCode": code,
            "ErrorInfo": message,
            "error": { "code": name, "message": message },
        });
        if let ApiError::Im { ticket, .. } = &self {
            // The ticket exists: tell the client where its case lives.
            body["TicketId"] = json!(ticket.0);
            body["GroupId"] = json!(GroupId::for_ticket(*ticket).as_str());
        }
        body
    }

    /// Whole seconds for `Retry-After`, when the caller should retry later.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::ZendeskUnavailable { retry_after, .. } => Some(*retry_after),
            ApiError::Im {
                retryable: true, ..
            } => Some(DEFAULT_RETRY_AFTER),
            ApiError::Limited(r) if !r.retry_after.is_zero() => Some(r.retry_after),
            _ => None,
        }
        .map(retry_secs)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::Limited(r) = &self {
            // Counted in the metrics by the request-counting layer, which has them.
            resp.extensions_mut().insert(r.limit);
        }
        if let Some(secs) = self.retry_after_secs() {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if matches!(self, ApiError::Limited(r) if r.limit == Limit::BodyTimeout) {
            // The rest of the body may still be on its way: do not read it, close.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::KeyConflict => ApiError::IdempotencyConflict,
            IntakeError::Limited(r) => ApiError::Limited(r),
            IntakeError::Store(s) => BridgeError::Store(s).into(),
        }
    }
}

impl From<BridgeError> for ApiError {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Zendesk(z) => {
                tracing::warn!(error = %z, "Zendesk call failed");
                match z {
                    ZendeskError::RateLimited { retry_after } => ApiError::ZendeskUnavailable {
                        message: z.to_string(),
                        retry_after,
                    },
                    ZendeskError::Rejected { status: 422, .. } => {
                        ApiError::ZendeskRejected(z.to_string())
                    }
                    z if z.is_retryable() => ApiError::ZendeskUnavailable {
                        message: z.to_string(),
                        retry_after: DEFAULT_RETRY_AFTER,
                    },
                    z => ApiError::ZendeskFailed(z.to_string()),
                }
            }
            BridgeError::Im { ticket, source } => {
                tracing::warn!(error = %source, ticket_id = ticket.0, "IM call failed");
                ApiError::Im {
                    ticket,
                    message: source.to_string(),
                    retryable: source.is_retryable(),
                }
            }
            BridgeError::Store(s) => {
                tracing::error!(error = %s, "store failed");
                ApiError::Internal
            }
            // Only background jobs wait for something; a request never sees this.
            BridgeError::NotReady(why) => {
                tracing::error!(why, "unexpected: a request hit a not-ready step");
                ApiError::Internal
            }
        }
    }
}
