//! The JSON views of tickets, audits and their parts (OAS `TicketObject`, `AuditObject`,
//! `TicketAuditViaObject`, `AttachmentObject`).

use serde_json::{json, Map, Value};

use super::clock::iso8601;
use super::state::{AttachmentRecord, CommentRecord, TicketRecord, Via};

/// The `Comment` event of an audit; the comment list adds `via`, `metadata` and `created_at`.
pub(super) fn comment_event(base: &str, c: &CommentRecord) -> Value {
    let attachments: Vec<Value> = c.attachments.iter().map(|a| attachment(base, a)).collect();
    json!({
        "id": c.id, "type": "Comment", "author_id": c.author_id, "body": c.body,
        "html_body": c.html_body, "plain_body": c.body, "public": c.public,
        "attachments": attachments, "audit_id": c.audit_id
    })
}

/// The OAS `AttachmentObject`. The emulator keeps no files: `content_url` is what the comment
/// was given, and nothing is served at `url`.
fn attachment(base: &str, a: &AttachmentRecord) -> Value {
    json!({
        "id": a.id,
        "url": format!("{base}/api/v2/attachments/{}.json", a.id),
        "file_name": a.file_name,
        "content_url": a.content_url,
        "mapped_content_url": a.content_url,
        "content_type": a.content_type,
        "size": a.size,
        "width": null,
        "height": null,
        "inline": false,
        "deleted": false,
        "malware_access_override": false,
        "malware_scan_result": "malware_not_found",
        "thumbnails": []
    })
}

/// An audit's or a comment's `via`. UNCONFIRMED: the `source` of each channel beyond the OAS
/// shape (`from`, `to`, `rel`); an email's `to` (the support address) is left empty, as the
/// emulated account has none.
pub(super) fn via(v: &Via) -> Value {
    let from = match v {
        Via::Api | Via::Web => json!({}),
        Via::Email { name, address } => json!({"address": address, "name": name}),
    };
    json!({"channel": v.channel(), "source": {"from": from, "to": {}, "rel": null}})
}

/// An audit's or a comment's `metadata`: "custom and system data" (OAS `TicketAuditObject`).
pub(super) fn metadata(custom: &Map<String, Value>) -> Value {
    json!({"system": {"client": "ticket-bridge zendesk emulator"}, "custom": custom})
}

/// What one create/update records besides its events.
pub(super) struct AuditHead<'a> {
    pub id: u64,
    pub ticket_id: u64,
    /// The user who made the update.
    pub author_id: u64,
    pub now: u64,
    pub via: &'a Via,
    pub custom: &'a Map<String, Value>,
}

/// The OAS `AuditObject` of one create/update.
pub(super) fn audit(head: &AuditHead<'_>, events: Vec<Value>) -> Value {
    json!({
        "id": head.id,
        "ticket_id": head.ticket_id,
        "created_at": iso8601(head.now),
        "author_id": head.author_id,
        "metadata": metadata(head.custom),
        "via": via(head.via),
        "events": events
    })
}

/// The OAS `TicketObject` view.
pub(super) fn render(base: &str, t: &TicketRecord) -> Value {
    json!({
        "url": format!("{base}/api/v2/tickets/{}.json", t.id),
        "id": t.id,
        "external_id": t.external_id,
        // Tickets are only created through the API.
        "via": via(&Via::Api),
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
