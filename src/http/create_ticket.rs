//! `POST /createticket`: a customer opens a case (DESIGN §1.1).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::{case_request, AppState};
use crate::bridge::intake::{self, Answer};
use crate::ids::{GroupId, TicketId};

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub async fn create_ticket(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let presented = app.auth.presented(&headers)?;
    let body = body?;
    require_json(&headers)?;
    let key = idempotency_key(&headers)?;
    let case = case_request::parse(&body)?;
    app.auth.verify(presented, &case.user)?;
    let answer = intake::submit(
        &app.jobs,
        &case,
        key.as_deref(),
        app.deadline,
        &app.case_limits,
    )
    .await?;
    match answer {
        Answer::Done { ticket, reused } => Ok(accepted(StatusCode::OK, ticket, reused, None)),
        Answer::Pending { ticket, reused } => Ok(accepted(
            StatusCode::ACCEPTED,
            ticket,
            reused,
            Some("pending"),
        )),
        Answer::Unavailable { retry_after, cause } => Err(ApiError::ZendeskUnavailable {
            message: cause,
            retry_after,
        }),
        Answer::Failed(e) => Err(e.into()),
    }
}

/// The reference backend's success body, plus `TicketId`, `Reused` and, while the group or
/// greeting is still being made, `"Status": "pending"`.
fn accepted(status: StatusCode, ticket: TicketId, reused: bool, state: Option<&str>) -> Response {
    let mut body = json!({
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "GroupId": GroupId::for_ticket(ticket).as_str(),
        "TicketId": ticket.0,
        "Reused": reused,
    });
    if let Some(s) = state {
        body["Status"] = json!(s);
    }
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::ACCEPTED {
        // When a retry (same key) is likely to find the case finished.
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
    }
    resp
}

/// The optional `Idempotency-Key`: 1–255 printable ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .filter(|k| k.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .ok_or_else(|| {
            ApiError::InvalidIdempotencyKey(format!(
                "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else if ct.is_empty() {
        Err(ApiError::InvalidContentType(
            "missing Content-Type: send `Content-Type: application/json`".into(),
        ))
    } else {
        Err(ApiError::InvalidContentType(format!(
            "Content-Type must be application/json, got `{ct}`"
        )))
    }
}
