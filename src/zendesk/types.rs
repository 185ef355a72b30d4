//! Zendesk Support API bodies (field names per the OpenAPI document, `TicketCreateInput`,
//! `TicketUpdateInput`, `TicketObject`, `UserObject`).

use serde::{Deserialize, Serialize};

/// A ticket to create through the Tickets API.
#[derive(Debug, Clone, Serialize)]
pub struct NewTicket {
    pub subject: String,
    pub comment: NewComment,
    /// Who asks: an existing user, or a name and email (Zendesk creates the user if new).
    #[serde(flatten)]
    pub requester: TicketRequester,
    /// The submitter authors the first comment (OAS `TicketCreateInput.submitter_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitter_id: Option<u64>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum TicketRequester {
    #[serde(rename = "requester")]
    New { name: String, email: String },
    #[serde(rename = "requester_id")]
    Existing(u64),
}

/// An end user to create (for customers without an email, identified by `external_id`).
#[derive(Debug, Clone, Serialize)]
pub struct NewUser {
    pub name: String,
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: String,
    /// No verification mail: the customer talks to support through the chat app.
    pub skip_verify_email: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct UserEnvelope<T> {
    pub user: T,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewComment {
    pub body: String,
    pub public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
}

/// Changes to a ticket; `None` fields are left alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TicketUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<NewComment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TicketEnvelope<T> {
    pub ticket: T,
}

/// A comment to add, with audit metadata, and optionally a new status in the same update.
///
/// `ticket.metadata` is write-only: Zendesk keeps the whole object as the `custom` part of the
/// update's audit metadata, and the Comments API shows it as `metadata.custom` on the comment
/// (OAS `TicketUpdateInput.metadata`, `AuditObject.metadata`).
#[derive(Debug, Clone, Serialize)]
pub struct CommentUpdate {
    pub comment: NewComment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub metadata: serde_json::Value,
}

/// An update's answer: the audit of the change (the ticket is not needed).
#[derive(Debug, Deserialize)]
pub(crate) struct TicketUpdateResponse {
    #[serde(default)]
    pub audit: Option<Audit>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Audit {
    #[serde(default)]
    pub events: Vec<serde_json::Value>,
}

impl Audit {
    /// The id of the comment the update added.
    pub fn comment_id(&self) -> Option<u64> {
        self.events
            .iter()
            .find(|e| e.get("type").and_then(serde_json::Value::as_str) == Some("Comment"))
            .and_then(|e| e.get("id"))
            .and_then(serde_json::Value::as_u64)
    }
}

/// A comment as the Ticket Comments API shows it (OAS `TicketCommentObject`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author_id: u64,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub plain_body: Option<String>,
    pub public: bool,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Comment {
    /// The channel it was written through (`web`, `email`, `api`, …).
    pub fn channel(&self) -> &str {
        self.via.as_ref().map_or("", |v| v.channel.as_str())
    }

    /// A value of the audit's custom metadata.
    pub fn custom(&self, key: &str) -> Option<&serde_json::Value> {
        self.metadata.as_ref()?.get("custom")?.get(key)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Via {
    #[serde(default)]
    pub channel: String,
}

/// A file on a comment (OAS `AttachmentObject`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Attachment {
    #[serde(default)]
    pub file_name: String,
    #[serde(default)]
    pub content_url: String,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CommentsResponse {
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub meta: Option<CursorMeta>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CursorMeta {
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub after_cursor: Option<String>,
}

/// The fields of a Zendesk ticket the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ticket {
    pub id: u64,
    #[serde(default)]
    pub subject: Option<String>,
    pub status: String,
    #[serde(default)]
    pub requester_id: Option<u64>,
    #[serde(default)]
    pub assignee_id: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

impl Ticket {
    /// Solved and closed tickets are finished: a customer's new case does not reuse them.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "solved" | "closed")
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TicketsResponse {
    #[serde(default)]
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TicketResponse {
    pub ticket: Ticket,
}

/// The fields of a Zendesk user the bridge reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UsersResponse {
    #[serde(default)]
    pub users: Vec<User>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserResponse {
    pub user: User,
}

/// Zendesk's JSON error body (`{"error": "...", "description": "...", "details": {...}}`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: serde_json::Value,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ErrorBody {
    /// `"RecordInvalid: Record validation errors (requester: Email is invalid)"`.
    pub fn summary(&self) -> String {
        let mut out = match &self.error {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::from("error"),
            other => other.to_string(),
        };
        if let Some(d) = &self.description {
            out.push_str(": ");
            out.push_str(d);
        }
        let details: Vec<String> = self
            .details
            .iter()
            .flatten()
            .flat_map(|(field, errs)| {
                errs.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("description").and_then(|d| d.as_str()))
                    .map(move |d| format!("{field}: {d}"))
            })
            .collect();
        if !details.is_empty() {
            out.push_str(&format!(" ({})", details.join("; ")));
        }
        out
    }
}

/// A webhook as the bridge configures it (Webhooks API, `Webhook` schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    #[serde(default, skip_serializing)]
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub http_method: String,
    pub request_format: String,
    pub status: String,
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WebhookEnvelope<T> {
    pub webhook: T,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WebhookList {
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SigningSecretResponse {
    pub signing_secret: SigningSecret,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SigningSecret {
    pub secret: String,
}
