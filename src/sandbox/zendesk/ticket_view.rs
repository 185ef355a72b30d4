//! The JSON views of tickets and audits (OAS `TicketObject`, `AuditObject`).

use serde_json::{json, Value};

use super::clock::iso8601;
use super::state::{CommentRecord, TicketRecord};

/// The `Comment` event of an audit.
pub(super) fn comment_event(c: &CommentRecord) -> Value {
    json!({
        "id": c.id, "type": "Comment", "author_id": c.author_id, "body": c.body,
        "html_body": c.html_body, "plain_body": c.body, "public": c.public,
        "attachments": [], "audit_id": c.audit_id
    })
}

/// The OAS `AuditObject` of one create/update.
pub(super) fn audit(
    id: u64,
    ticket_id: u64,
    author_id: u64,
    now: u64,
    events: Vec<Value>,
) -> Value {
    json!({
        "id": id,
        "ticket_id": ticket_id,
        "created_at": iso8601(now),
        "author_id": author_id,
        "metadata": {"system": {"client": "ticket-bridge zendesk emulator"}, "custom": {}},
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": null}},
        "events": events
    })
}

/// The OAS `TicketObject` view.
pub(super) fn render(base: &str, t: &TicketRecord) -> Value {
    json!({
        "url": format!("{base}/api/v2/tickets/{}.json", t.id),
        "id": t.id,
        "external_id": t.external_id,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": null}},
        "created_at": iso8601(t.created_ms),
        "updated_at": iso8601(t.updated_ms),
        "generated_timestamp": t.updated_ms / 1000,
        "type": t.kind,
        "subject": t.subject,
        "raw_subject": t.subject,
        "description": t.description,
        "priority": t.priority,
        "status": t.status.as_str(),
        "custom_status_id": null,
        "recipient": null,
        "requester_id": t.requester_id,
        "submitter_id": t.submitter_id,
        "assignee_id": t.assignee_id,
        "organization_id": null,
        "group_id": null,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": null,
        "problem_id": null,
        "has_incidents": false,
        "is_public": t.comments.iter().any(|c| c.public),
        "due_at": null,
        "tags": t.tags,
        "custom_fields": [],
        "satisfaction_rating": null,
        "sharing_agreement_ids": [],
        "fields": [],
        "followup_ids": [],
        "ticket_form_id": null,
        "brand_id": null,
        "allow_channelback": false,
        "allow_attachments": true,
        "from_messaging_channel": false
    })
}
