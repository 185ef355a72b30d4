//! `POST /createticket`: a customer opens a case (DESIGN §1.1).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::{case_request, AppState, MAX_BODY_BYTES};

pub async fn create_ticket(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let presented = app.auth.presented(&headers)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
        } else {
            ApiError::InvalidJson(format!("could not read the body: {r}"))
        }
    })?;
    require_json(&headers)?;
    let case = case_request::parse(&body)?;
    app.auth.verify(presented, &case.user)?;
    let outcome = app.bridge.open_case(&case).await?;
    Ok(Json(json!({
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "GroupId": outcome.group_id.as_str(),
        "TicketId": outcome.ticket_id.0,
        "Reused": outcome.reused,
    })))
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
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
