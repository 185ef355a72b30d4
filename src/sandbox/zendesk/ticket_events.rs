//! Event-subscribed ticket events (spec §5.3, WHTIX): which events an update of a ticket
//! causes, their JSON, and one invocation per event and active webhook subscribed to it.
//!
//! Emulated types: `ticket.comment_added`, `ticket.agent_assignment_changed`,
//! `ticket.status_changed`, on updates (`PUT /tickets/{id}` and the emulator's helpers).
//! Not emulated: the other ticket event types, and events on ticket creation.
//!
//! The envelope follows WHEVT; the ticket `detail` and the `event` objects follow real payloads
//! seen in public fixtures (SECONDARY): ids as strings, `status`/`priority`/`type` upper case,
//! `time` with nine fractional digits.

use serde_json::{json, Value};

use super::clock::{iso8601, iso8601_nanos};
use super::ids;
use super::state::{CommentRecord, Status, Store, TicketRecord};
use super::Invocation;

pub(super) const COMMENT_ADDED: &str = "zen:event-type:ticket.comment_added";
pub(super) const ASSIGNMENT_CHANGED: &str = "zen:event-type:ticket.agent_assignment_changed";
pub(super) const STATUS_CHANGED: &str = "zen:event-type:ticket.status_changed";
/// SECONDARY (spec §5.3): ticket events carry this version, user events "2022-06-20".
const EVENT_VERSION: &str = "2022-11-06";
/// SECONDARY: the `via.channel` real payloads show for tickets created through the API.
const API_CHANNEL: &str = "web_service";

/// What one update did to a ticket (the ticket itself is the updated record).
pub(super) struct Changes<'a> {
    pub actor: u64,
    pub previous_assignee: Option<u64>,
    pub previous_status: Status,
    /// The comment the update added.
    pub comment: Option<&'a CommentRecord>,
}

/// The invocations an update causes: for each event, one per active webhook subscribed to its
/// type. Events of one update share a `meta.sequence.id` and are numbered from 1 in the order
/// comment, assignment, status (Zendesk doesn't guarantee any order).
pub(super) fn invocations(
    store: &Store,
    account_id: u64,
    ticket: &TicketRecord,
    changes: &Changes<'_>,
    now_ms: u64,
) -> Vec<Invocation> {
    if store.webhooks.is_empty() {
        return Vec::new();
    }
    let mut events: Vec<(&'static str, Value)> = Vec::new();
    if let Some(c) = changes.comment {
        events.push((COMMENT_ADDED, json!({"comment": comment(store, c)})));
    }
    if ticket.assignee_id != changes.previous_assignee {
        events.push((
            ASSIGNMENT_CHANGED,
            json!({
                "current": ticket.assignee_id.map(|id| id.to_string()),
                "previous": changes.previous_assignee.map(|id| id.to_string())
            }),
        ));
    }
    if ticket.status != changes.previous_status {
        events.push((
            STATUS_CHANGED,
            json!({
                "current": upper(ticket.status.as_str()),
                "previous": upper(changes.previous_status.as_str())
            }),
        ));
    }
    let sequence = ids::hex_id();
    let detail = detail(ticket, changes.actor);
    let time = iso8601_nanos(now_ms);
    let mut out = Vec::new();
    for (position, (event_type, mut event)) in (1u32..).zip(events) {
        let webhooks: Vec<&str> = store
            .webhooks
            .iter()
            .filter(|w| w.spec.delivers(event_type))
            .map(|w| w.id.as_str())
            .collect();
        if webhooks.is_empty() {
            continue;
        }
        if let Value::Object(m) = &mut event {
            m.insert(
                "meta".into(),
                json!({"sequence": {"id": sequence, "position": position}}),
            );
        }
        let body = json!({
            "type": event_type,
            "account_id": account_id,
            "id": ids::uuid_v4(),
            "time": time,
            "zendesk_event_version": EVENT_VERSION,
            "subject": format!("zen:ticket:{}", ticket.id),
            "detail": detail,
            "event": event
        })
        .to_string();
        for webhook_id in webhooks {
            out.push(Invocation {
                id: ids::ulid(now_ms),
                webhook_id: webhook_id.to_owned(),
                event_type: event_type.to_owned(),
                ticket_id: ticket.id,
                body: body.clone(),
                attempts: Vec::new(),
            });
        }
    }
    out
}

fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// The ticket `detail` (WHTIX property list). The emulator has no brands, custom statuses,
/// forms, groups or organizations: those are null.
fn detail(t: &TicketRecord, actor: u64) -> Value {
    json!({
        "actor_id": actor.to_string(),
        "assignee_id": t.assignee_id.map(|id| id.to_string()),
        "brand_id": null,
        "created_at": iso8601(t.created_ms),
        "custom_status": null,
        "description": t.description,
        "external_id": t.external_id,
        "form_id": null,
        "group_id": null,
        "id": t.id.to_string(),
        "is_public": t.comments.iter().any(|c| c.public),
        "organization_id": null,
        "priority": t.priority.as_deref().map(upper),
        "requester_id": t.requester_id.to_string(),
        "status": upper(t.status.as_str()),
        "subject": t.subject,
        "submitter_id": t.submitter_id.to_string(),
        // SECONDARY: a fixture shows `null` for a ticket without tags.
        "tags": if t.tags.is_empty() { Value::Null } else { json!(t.tags) },
        "type": t.kind.as_deref().map(upper),
        "updated_at": iso8601(t.updated_ms),
        "via": {"channel": API_CHANNEL}
    })
}

/// `event.comment` of `ticket.comment_added` (SECONDARY, fixtures).
fn comment(store: &Store, c: &CommentRecord) -> Value {
    let author = store.users.get(&c.author_id);
    json!({
        "id": c.id.to_string(),
        "body": c.body,
        "html_body": c.html_body,
        "is_public": c.public,
        "author": {
            "id": c.author_id.to_string(),
            "name": author.map(|u| u.name.as_str()).unwrap_or(""),
            "is_staff": author.is_some_and(|u| u.role.is_staff())
        }
    })
}
