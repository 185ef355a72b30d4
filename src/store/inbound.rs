//! `inbound_events`: every verified webhook delivery, recorded once.

use super::jobs::{request_run, NewJob};
use super::{now_ms, query, Result, Store};
use crate::ids::TicketId;

/// A verified delivery to record.
#[derive(Debug, Clone)]
pub struct InboundEvent {
    /// Zendesk's invocation id (or the event's own id): the same delivery twice is one event.
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub ticket: Option<TicketId>,
    /// The raw body, kept for the conversation work and for debugging.
    pub payload: String,
}

impl Store {
    /// Records the event and, in the same transaction, asks for `job` to run if the event's
    /// ticket is one of the bridge's (others' tickets cost no Zendesk call; a ticket recorded
    /// later looks for its events itself: [`Store::mark_group_created`]). Returns false (and
    /// changes nothing) when the event was recorded before.
    pub async fn record_inbound(&self, event: &InboundEvent, job: Option<&NewJob>) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let added = query(
            "INSERT INTO inbound_events (id, source, event_type, ticket_id, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id.clone())
        .bind(event.source.clone())
        .bind(event.event_type.clone())
        .bind(event.ticket.map(|t| t.0 as i64))
        .bind(event.payload.clone())
        .bind(now_ms())
        .execute(&mut tx)
        .await?
            > 0;
        if let (true, Some(job), Some(ticket)) = (added, job, event.ticket) {
            let ours: Option<i64> = query("SELECT ticket_id FROM tickets WHERE ticket_id = $1")
                .bind(ticket.0 as i64)
                .optional_scalar(&mut tx)
                .await?;
            if ours.is_some() {
                request_run(&mut tx, job).await?;
            }
        }
        tx.commit().await?;
        Ok(added)
    }
}
