//! `POST /webhooks/zendesk`: Zendesk says a ticket changed (DESIGN §1.2).
//!
//! The signature is checked on the raw bytes before anything is parsed; a verified delivery is
//! recorded once (by invocation id) together with a request to sync the ticket, and answered at
//! once. The sync runs in the job queue.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::jobs::{mirror_comments_job, sync_ticket_job};
use crate::store::{now_ms, InboundEvent};
use crate::zendesk::webhook::{self, WebhookError, WebhookEvent};

pub async fn zendesk_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let secret = app.webhook_secret.as_ref().ok_or_else(|| {
        ApiError::Unauthorized(
            "webhooks are refused: ZENDESK_WEBHOOK_SECRET is not set (see `ticket-bridge setup-zendesk`)".into(),
        )
    })?;
    let body = body?;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    webhook::verify(
        secret,
        header(webhook::SIGNATURE_HEADER),
        header(webhook::TIMESTAMP_HEADER),
        &body,
        now_ms() / 1000,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "webhook refused");
        ApiError::Unauthorized(format!("webhook refused: {e}"))
    })?;
    let event = webhook::parse(&body).map_err(|e| match e {
        WebhookError::NotJson(_) => ApiError::InvalidJson(e.to_string()),
        _ => ApiError::InvalidField(e.to_string()),
    })?;
    let (event_type, ticket, event_id, job) = match event {
        WebhookEvent::Ignored { event_type } => {
            tracing::info!(event_type, "webhook event ignored");
            return Ok(Json(json!({ "status": "ignored" })));
        }
        WebhookEvent::TicketChanged {
            ticket,
            event_type,
            event_id,
            agent,
        } => (
            event_type,
            ticket,
            event_id,
            Some(sync_ticket_job(ticket, agent)),
        ),
        WebhookEvent::CommentAdded {
            ticket,
            event_id,
            comment,
        } => {
            // The bridge's own comments come back as events too: reading the ticket's
            // comments for them would only spend API budget.
            let own = match comment {
                Some(id) => app
                    .jobs
                    .store()
                    .is_bridge_comment(id)
                    .await
                    .map_err(|e| ApiError::from(crate::bridge::BridgeError::Store(e)))?,
                None => false,
            };
            (
                webhook::COMMENT_ADDED.to_owned(),
                ticket,
                event_id,
                (!own).then(|| mirror_comments_job(ticket)),
            )
        }
    };
    // Zendesk's retries of one invocation share its id; without one, the event id, or the
    // signed timestamp and body (a trigger firing A→B→A sends the same body twice).
    let id = header(webhook::INVOCATION_HEADER)
        .map(str::to_owned)
        .or(event_id)
        .unwrap_or_else(|| {
            let mut h = Sha256::new();
            h.update(header(webhook::TIMESTAMP_HEADER).unwrap_or_default());
            h.update(&body);
            format!("{:x}", h.finalize())
        });
    let recorded = InboundEvent {
        id,
        source: "zendesk".into(),
        event_type: event_type.clone(),
        ticket: Some(ticket),
        payload: String::from_utf8_lossy(&body).into_owned(),
    };
    let added = app
        .jobs
        .store()
        .record_inbound(&recorded, job.as_ref())
        .await
        .map_err(|e| ApiError::from(crate::bridge::BridgeError::Store(e)))?;
    if added {
        app.jobs.wake();
    }
    tracing::info!(
        event_type,
        ticket_id = ticket.0,
        duplicate = !added,
        "webhook accepted"
    );
    Ok(Json(json!({
        "status": if added { "accepted" } else { "duplicate" },
    })))
}
