//! The emulated account's data: users, tickets and their comments, webhooks, id sequences.
//! Lives behind the emulator's one mutex; nothing here awaits.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::idempotency::IdempotencyKeys;
use super::limits::Limits;
use super::webhook_input::WebhookSpec;
use super::{Comment, Ticket, User, Webhook};
use crate::secret::Secret;

/// Ticket ids start here (spec: "ids start at 1").
const FIRST_TICKET_ID: u64 = 1;
/// User ids live in their own range so a user id is never mistaken for a ticket id.
const FIRST_USER_ID: u64 = 10_000;
/// Comment, audit and audit-event ids share one sequence, far from both of the above.
const FIRST_EVENT_ID: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    EndUser,
    Agent,
    Admin,
}

impl Role {
    /// The role of a `user.role` value (OAS `UserForAdmin.role`).
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "end-user" => Self::EndUser,
            "agent" => Self::Agent,
            "admin" => Self::Admin,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::EndUser => "end-user",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    /// Agents and admins may use the Tickets API and be assigned tickets.
    pub(super) fn is_staff(self) -> bool {
        matches!(self, Self::Agent | Self::Admin)
    }
}

#[derive(Debug, Clone)]
pub(super) struct UserRecord {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    /// Unique, compared case-insensitively ("ian1" and "IAN1" are the same value, OAS
    /// `UserForAdmin.external_id`).
    pub external_id: Option<String>,
    pub role: Role,
    pub verified: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Legacy ticket status values (OAS `TicketObject.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
}

impl Status {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Self::New,
            "open" => Self::Open,
            "pending" => Self::Pending,
            "hold" => Self::Hold,
            "solved" => Self::Solved,
            "closed" => Self::Closed,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Hold => "hold",
            Self::Solved => "solved",
            Self::Closed => "closed",
        }
    }
}

/// How an update or a comment reached the ticket (OAS `TicketAuditViaObject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Via {
    /// The REST API (`POST`/`PUT /api/v2/tickets`).
    Api,
    /// An agent in the Zendesk agent UI.
    Web,
    /// An email to the support address; the sender is the source's `from`.
    Email {
        name: String,
        address: Option<String>,
    },
}

impl Via {
    /// The `via.channel` value.
    pub(super) fn channel(&self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Web => "web",
            Self::Email { .. } => "email",
        }
    }
}

/// A file attached to a comment (OAS `AttachmentObject`).
#[derive(Debug, Clone)]
pub(super) struct AttachmentRecord {
    pub id: u64,
    pub file_name: String,
    pub content_url: String,
    pub content_type: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub(super) struct CommentRecord {
    pub id: u64,
    pub author_id: u64,
    /// Plain text (`body`/`plain_body`).
    pub body: String,
    pub html_body: String,
    pub public: bool,
    pub audit_id: u64,
    pub via: Via,
    /// The custom metadata of the comment's audit: the update's write-only `ticket.metadata`.
    pub metadata_custom: Map<String, Value>,
    pub attachments: Vec<AttachmentRecord>,
    pub created_ms: u64,
}

#[derive(Debug, Clone)]
pub(super) struct TicketRecord {
    pub id: u64,
    pub subject: String,
    pub description: String,
    pub status: Status,
    pub priority: Option<String>,
    pub kind: Option<String>,
    pub requester_id: u64,
    pub submitter_id: u64,
    pub assignee_id: Option<u64>,
    pub tags: Vec<String>,
    pub external_id: Option<String>,
    pub comments: Vec<CommentRecord>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Debug, Clone)]
pub(super) struct WebhookRecord {
    /// ULID-like (`01GFJ...`).
    pub id: String,
    /// Creation order, the key of the list's cursors.
    pub seq: u64,
    pub spec: WebhookSpec,
    pub signing_secret: Secret,
    pub created_ms: u64,
    pub created_by: u64,
    pub updated_ms: u64,
    pub updated_by: u64,
}

/// Everything the emulated account holds.
#[derive(Debug)]
pub(super) struct Store {
    pub users: BTreeMap<u64, UserRecord>,
    /// Users by email, ASCII-lowercased, and by external id, lowercased: emails and external
    /// ids never change once given (the first user keeps one given twice), and the lookups
    /// run on every request (authentication is by email).
    by_email: HashMap<String, u64>,
    by_external_id: HashMap<String, u64>,
    pub tickets: BTreeMap<u64, TicketRecord>,
    /// In creation order.
    pub webhooks: Vec<WebhookRecord>,
    pub idempotency: IdempotencyKeys,
    pub limits: Limits,
    next_user_id: u64,
    next_ticket_id: u64,
    next_event_id: u64,
    next_webhook_seq: u64,
}

impl Store {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            users: BTreeMap::new(),
            by_email: HashMap::new(),
            by_external_id: HashMap::new(),
            tickets: BTreeMap::new(),
            webhooks: Vec::new(),
            idempotency: IdempotencyKeys::default(),
            limits,
            next_user_id: FIRST_USER_ID,
            next_ticket_id: FIRST_TICKET_ID,
            next_event_id: FIRST_EVENT_ID,
            next_webhook_seq: 1,
        }
    }

    pub(super) fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        let id = self.by_email.get(&email.to_ascii_lowercase())?;
        self.users.get(id)
    }

    /// Case-insensitive, like Zendesk's external ids.
    pub(super) fn user_by_external_id(&self, external_id: &str) -> Option<&UserRecord> {
        let id = self.by_external_id.get(&fold_case(external_id))?;
        self.users.get(id)
    }

    /// The tickets whose external id is exactly `external_id`, by id. Ticket external ids are
    /// not unique ("the request may return multiple tickets with the same external id", OAS
    /// `ListTickets`). UNCONFIRMED: case-sensitive and byte-exact; Zendesk documents
    /// case-insensitive external ids for users and organizations but says nothing for tickets.
    pub(super) fn tickets_with_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> impl Iterator<Item = &'a TicketRecord> + 'a {
        self.tickets
            .values()
            .filter(move |t| t.external_id.as_deref() == Some(external_id))
    }

    pub(super) fn webhook(&self, id: &str) -> Option<&WebhookRecord> {
        self.webhooks.iter().find(|w| w.id == id)
    }

    /// Adds a user and returns its id. Email and external id uniqueness are the caller's
    /// business.
    pub(super) fn add_user(
        &mut self,
        name: &str,
        email: Option<&str>,
        external_id: Option<&str>,
        role: Role,
        verified: bool,
        now_ms: u64,
    ) -> u64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        if let Some(email) = email {
            self.by_email
                .entry(email.to_ascii_lowercase())
                .or_insert(id);
        }
        if let Some(external_id) = external_id {
            self.by_external_id
                .entry(fold_case(external_id))
                .or_insert(id);
        }
        self.users.insert(
            id,
            UserRecord {
                id,
                name: name.to_owned(),
                email: email.map(str::to_owned),
                external_id: external_id.map(str::to_owned),
                role,
                verified,
                created_ms: now_ms,
                updated_ms: now_ms,
            },
        );
        id
    }

    pub(super) fn next_ticket_id(&mut self) -> u64 {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        id
    }

    pub(super) fn next_webhook_seq(&mut self) -> u64 {
        let seq = self.next_webhook_seq;
        self.next_webhook_seq += 1;
        seq
    }

    /// A fresh id for a comment, an audit or an audit event.
    pub(super) fn next_event_id(&mut self) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        id
    }
}

/// Equal ignoring case, Unicode-aware (UNCONFIRMED: Zendesk's exact folding; its docs only say
/// external ids are case-insensitive).
pub(super) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The key under which [`eq_ignore_case`] strings are equal.
fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

impl From<&UserRecord> for User {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            external_id: u.external_id.clone(),
            role: u.role.as_str().to_owned(),
        }
    }
}

impl From<&WebhookRecord> for Webhook {
    fn from(w: &WebhookRecord) -> Self {
        Self {
            id: w.id.clone(),
            name: w.spec.name.clone(),
            endpoint: w.spec.endpoint.clone(),
            status: w.spec.status().to_owned(),
            subscriptions: w.spec.subscriptions.clone(),
        }
    }
}

impl From<&TicketRecord> for Ticket {
    fn from(t: &TicketRecord) -> Self {
        Self {
            id: t.id,
            subject: t.subject.clone(),
            description: t.description.clone(),
            status: t.status.as_str().to_owned(),
            requester_id: t.requester_id,
            submitter_id: t.submitter_id,
            assignee_id: t.assignee_id,
            tags: t.tags.clone(),
            external_id: t.external_id.clone(),
            comments: t
                .comments
                .iter()
                .map(|c| Comment {
                    id: c.id,
                    author_id: c.author_id,
                    body: c.body.clone(),
                    public: c.public,
                    via: c.via.channel().to_owned(),
                    metadata_custom: Value::Object(c.metadata_custom.clone()),
                    created_at: super::clock::iso8601(c.created_ms),
                })
                .collect(),
            created_at: super::clock::iso8601(t.created_ms),
            updated_at: super::clock::iso8601(t.updated_ms),
        }
    }
}
