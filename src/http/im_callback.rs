//! `POST /callbacks/im`: Tencent IM reports what happened in the app (DESIGN §1.3).
//!
//! The query's `SdkAppid`, `Sign` and `RequestTime` are checked before the body is read; a
//! refused callback is answered 401 in IM's envelope and nothing is recorded; a body that is
//! not what its command's body is answered 400 (whatever the command). A message in one
//! of the bridge's `ZENDESK#<id>` groups is recorded once (by `MsgSeq`) with a request to
//! mirror it, and answered at once: IM waits at most two seconds, and every upstream call
//! happens in the job queue. Other commands and other groups are acknowledged and ignored.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::ids::GroupId;
use crate::im::callback::{self, CallbackBody, CallbackQuery, AFTER_SEND_MSG};
use crate::metrics::Inbound;
use crate::store::now_ms;

pub async fn im_callback(
    State(app): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (counted, answer) = handle(&app, query, body).await;
    app.metrics.inbound("im_callback", counted);
    answer
}

async fn handle(
    app: &AppState,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> (Inbound, Response) {
    // A query that does not parse is one without the parameters: refused below.
    let query = query.map(|q| q.0).unwrap_or_default();
    let Some(token) = app.im_callback.token.as_ref() else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "callbacks are refused: IM_CALLBACK_TOKEN is not set",
        );
    };
    if let Err(e) = callback::verify(token, app.im_callback.sdkappid, &query, now_ms() / 1000) {
        tracing::warn!(error = %e, "IM callback refused");
        return refused(StatusCode::UNAUTHORIZED, &format!("callback refused: {e}"));
    }
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            let e = ApiError::from(r);
            return refused(e.status(), &e.to_string());
        }
    };
    let msg = match callback::parse_body(&body) {
        Ok(CallbackBody::Sent(msg)) if query.command.as_deref() == Some(AFTER_SEND_MSG) => msg,
        Ok(_) => {
            tracing::debug!(command = query.command.as_deref(), "IM callback ignored");
            return (Inbound::Ignored, ok());
        }
        Err(e) => {
            tracing::warn!(error = %e, "IM callback body refused");
            return refused(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let Some(ticket) = GroupId::ticket_of(&msg.group_id) else {
        return (Inbound::Ignored, ok());
    };
    let store = app.jobs.store();
    let rec = match store.ticket(ticket).await {
        Ok(Some(rec)) => rec,
        Ok(None) => return (Inbound::Ignored, ok()),
        Err(e) => return (Inbound::Error, internal(e)),
    };
    let seq = msg.seq;
    match app
        .jobs
        .bridge()
        .chat_message_arrived(&rec, msg.into())
        .await
    {
        Ok(added) => {
            if added {
                app.jobs.wake();
            }
            tracing::info!(
                ticket_id = ticket.0,
                seq,
                duplicate = !added,
                "chat message recorded"
            );
            let counted = if added {
                Inbound::Accepted
            } else {
                Inbound::Duplicate
            };
            (counted, ok())
        }
        Err(e) => (Inbound::Error, internal(e)),
    }
}

/// A refused callback, counted as such.
fn refused(status: StatusCode, info: &str) -> (Inbound, Response) {
    (Inbound::Refused, refuse(status, info))
}

fn ok() -> Response {
    Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})).into_response()
}

/// IM's envelope with a nonzero code. IM does not retry after-callbacks, so a database failure
/// answered 500 is caught up later from the group's history.
fn refuse(status: StatusCode, info: &str) -> Response {
    let code = if status == StatusCode::UNAUTHORIZED {
        1
    } else {
        2
    };
    (
        status,
        Json(json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})),
    )
        .into_response()
}

fn internal(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "store failed while recording an IM callback");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// What the handler needs to verify callbacks.
#[derive(Clone)]
pub struct ImCallbackAuth {
    pub sdkappid: u64,
    /// `None` = every callback is refused.
    pub token: Option<crate::secret::Secret>,
}
