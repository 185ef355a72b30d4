//! `POST /api/v2/tickets`, `GET /api/v2/tickets/{id}` and `PUT /api/v2/tickets/{id}`
//! (spec §2.3–2.6); an update delivers the webhook events it causes (`ticket_events`).
//!
//! Validation collects every problem of a request and answers one 422 `RecordInvalid`, as
//! Zendesk does; nothing is written unless the whole request is valid. The exact wording of the
//! `details[].description` texts is UNCONFIRMED unless noted: Zendesk documents the shape
//! (spec §2.9), not each message.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::body;
use super::comments;
use super::errors::{ApiError, FieldError};
use super::idempotency::{self, Lookup, StoredResponse};
use super::people::{check_user_exists, resolve_assignee, resolve_requester, RequesterPlan};
use super::state::{CommentRecord, Role, Status, Store, TicketRecord, Via};
use super::ticket_events::{self, Changes};
use super::ticket_input;
use super::ticket_view::{audit, comment_event, render, AuditHead};
use super::{base_url, parse_id, show_record, ZendeskEmulator};

/// "A ticket can contain up to 5000 comments in total" (OAS `TicketObject.comment`).
const MAX_COMMENTS: usize = 5_000;
/// Subject taken from the first comment when none is given.
const DERIVED_SUBJECT_CHARS: usize = 150;

pub(super) async fn create(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    create_ticket(&emu, caller, &headers, &bytes).unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn show(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Response {
    show_record(
        &emu,
        &caller,
        &headers,
        &raw_id,
        "ticket",
        |store, base, id| store.tickets.get(&id).map(|t| render(base, t)),
    )
}

pub(super) async fn update(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    bytes: Bytes,
) -> Response {
    match update_ticket(&emu, caller, &headers, &raw_id, &bytes) {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn create_ticket(
    emu: &ZendeskEmulator,
    caller: Caller,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let actor = caller.user_id()?;
    let body = body::parse(headers, bytes, "ticket")?;
    let key = idempotency::key_from(headers)?;
    let base = base_url(headers);
    let now = emu.now_ms();
    // One lock for lookup, validation, creation and storing the key: two concurrent requests
    // with one key can't both create a ticket.
    let mut store = emu.lock();
    if let Some(key) = &key {
        if let Lookup::Hit(stored) = store.idempotency.lookup(key, &body.whole, now)? {
            return Ok(stored.to_response(Some("hit")));
        }
    }
    let plan = validate_create(&store, actor, &body.root)?;
    let (ticket_id, audit) = apply_create(&mut store, actor, plan, now, &base);
    let ticket = store
        .tickets
        .get(&ticket_id)
        .ok_or(ApiError::RecordNotFound)?;
    let json = json!({"ticket": render(&base, ticket), "audit": audit});
    let stored = StoredResponse {
        status: StatusCode::CREATED,
        location: Some(format!("{base}/api/v2/tickets/{ticket_id}.json")),
        body: serde_json::to_vec(&json).unwrap_or_default(),
    };
    // UNCONFIRMED: only successful creations are remembered, so a corrected retry of a refused
    // request may reuse its key.
    let lookup = key.map(|key| {
        store
            .idempotency
            .store(key, body.whole, stored.clone(), now);
        "miss"
    });
    drop(store);
    tracing::debug!(ticket_id, "emulated ticket created");
    Ok(stored.to_response(lookup))
}

/// A create request that passed validation.
struct CreatePlan {
    subject: Option<String>,
    plain: String,
    html: String,
    public: bool,
    author_id: Option<u64>,
    requester: RequesterPlan,
    submitter_id: Option<u64>,
    assignee_id: Option<u64>,
    tags: Vec<String>,
    external_id: Option<String>,
    status: Option<Status>,
    priority: Option<String>,
    kind: Option<String>,
    metadata: Map<String, Value>,
}

fn validate_create(
    store: &Store,
    actor: u64,
    root: &serde_json::Map<String, Value>,
) -> Result<CreatePlan, ApiError> {
    let mut errors = Vec::new();
    let input = ticket_input::parse(root, &mut errors);
    let comment = input.comment.as_ref();
    let bodies = comment.and_then(|c| comments::bodies(c.body.as_deref(), c.html_body.as_deref()));
    if bodies.is_none() {
        errors.push(FieldError::blank("base", "Description: cannot be blank"));
    }
    if input.status == Some(Status::Closed) {
        errors.push(FieldError::invalid(
            "status",
            "Status: closed is not valid for a new ticket",
        ));
    }
    let requester = resolve_requester(store, actor, &input, &mut errors);
    if let Some(id) = input.submitter_id {
        check_user_exists(store, id, "submitter_id", &mut errors);
    }
    if let Some(id) = comment.and_then(|c| c.author_id) {
        check_user_exists(store, id, "author_id", &mut errors);
    }
    let assignee_id = resolve_assignee(store, &input, &mut errors).flatten();
    match (bodies, requester) {
        (Some((plain, html)), Some(requester)) if errors.is_empty() => Ok(CreatePlan {
            subject: input.subject.filter(|s| !s.trim().is_empty()),
            plain,
            html,
            public: comment.and_then(|c| c.public).unwrap_or(true),
            author_id: comment.and_then(|c| c.author_id),
            requester,
            submitter_id: input.submitter_id,
            assignee_id,
            tags: input.tags.unwrap_or_default(),
            external_id: input.external_id.flatten(),
            status: input.status,
            priority: input.priority.flatten(),
            kind: input.kind.flatten(),
            metadata: input.metadata.unwrap_or_default(),
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}

fn apply_create(
    store: &mut Store,
    actor: u64,
    plan: CreatePlan,
    now: u64,
    base: &str,
) -> (u64, Value) {
    let requester_id = match plan.requester {
        RequesterPlan::Existing(id) => id,
        // UNCONFIRMED: users created through `requester` start unverified.
        RequesterPlan::New { name, email } => {
            store.add_user(&name, Some(&email), None, Role::EndUser, false, now)
        }
    };
    // The submitter is the requester unless given; "the submitter always becomes the author of
    // the first comment" (OAS) unless `comment.author_id` says otherwise.
    let submitter_id = plan.submitter_id.unwrap_or(requester_id);
    let author_id = plan.author_id.unwrap_or(submitter_id);
    // A new ticket that has an assignee is open, as when an agent takes a new ticket.
    let status = match (plan.status, plan.assignee_id) {
        (None | Some(Status::New), Some(_)) => Status::Open,
        (Some(s), _) => s,
        (None, None) => Status::New,
    };
    let subject = plan.subject.unwrap_or_else(|| derive_subject(&plan.plain));
    let id = store.next_ticket_id();
    let audit_id = store.next_event_id();
    let comment = CommentRecord {
        id: store.next_event_id(),
        author_id,
        body: plan.plain.clone(),
        html_body: plan.html,
        public: plan.public,
        audit_id,
        via: Via::Api,
        metadata_custom: plan.metadata.clone(),
        attachments: Vec::new(),
        created_ms: now,
    };
    let mut events = vec![comment_event(base, &comment)];
    let created: [(&str, Value); 8] = [
        ("subject", json!(subject)),
        ("requester_id", json!(requester_id)),
        ("submitter_id", json!(submitter_id)),
        ("assignee_id", json!(plan.assignee_id)),
        ("status", json!(status.as_str())),
        ("priority", json!(plan.priority)),
        ("type", json!(plan.kind)),
        ("tags", json!(plan.tags)),
    ];
    for (field, value) in created {
        if !value.is_null() {
            let event_id = store.next_event_id();
            events.push(
                json!({"id": event_id, "type": "Create", "field_name": field, "value": value}),
            );
        }
    }
    store.tickets.insert(
        id,
        TicketRecord {
            id,
            subject,
            description: plan.plain,
            status,
            priority: plan.priority,
            kind: plan.kind,
            requester_id,
            submitter_id,
            assignee_id: plan.assignee_id,
            tags: plan.tags,
            external_id: plan.external_id,
            comments: vec![comment],
            created_ms: now,
            updated_ms: now,
        },
    );
    let head = AuditHead {
        id: audit_id,
        ticket_id: id,
        author_id: actor,
        now,
        via: &Via::Api,
        custom: &plan.metadata,
    };
    (id, audit(&head, events))
}

/// The first line of the description, at most 150 characters.
fn derive_subject(plain: &str) -> String {
    let first_line = plain
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    first_line.chars().take(DERIVED_SUBJECT_CHARS).collect()
}

fn update_ticket(
    emu: &ZendeskEmulator,
    caller: Caller,
    headers: &HeaderMap,
    raw_id: &str,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    let actor = caller.user_id()?;
    let id = parse_id(raw_id)?;
    let body = body::parse(headers, bytes, "ticket")?;
    apply_update(
        emu,
        actor,
        id,
        &body.root,
        &base_url(headers),
        Origin::new(Via::Api),
    )
    .map(|u| u.body)
}

/// Where an update comes from besides its `ticket` object: the channel its audit and comment
/// record, and a file its comment carries (the agent UI and email can attach files directly;
/// the emulator has no uploads endpoint for the API's `comment.uploads` tokens).
pub(super) struct Origin {
    pub via: Via,
    pub attachment: Option<comments::NewAttachment>,
}

impl Origin {
    /// An update through `via` without an attachment.
    pub(super) fn new(via: Via) -> Self {
        Self {
            via,
            attachment: None,
        }
    }
}

/// An applied update: the response body, and the id of the comment it added.
pub(super) struct Updated {
    pub body: Value,
    pub comment_id: Option<u64>,
}

/// Updates ticket `id` from a `ticket` object as `actor`: what `PUT /tickets/{id}` and the
/// emulator's helper methods share, webhook events included (sent after the lock is released).
/// Every origin counts against both Update Ticket limits: "UI ticket updates ... do count
/// toward the Update Ticket endpoint limit" (spec §3.2). UNCONFIRMED: whether email replies
/// count; the stricter reading is emulated.
pub(super) fn apply_update(
    emu: &ZendeskEmulator,
    actor: u64,
    id: u64,
    root: &Map<String, Value>,
    base: &str,
    origin: Origin,
) -> Result<Updated, ApiError> {
    let now = emu.now_ms();
    let mut store = emu.lock();
    let current = store
        .tickets
        .get(&id)
        .ok_or(ApiError::RecordNotFound)?
        .clone();
    // UNCONFIRMED: every update attempt on an existing ticket counts, refused ones included
    // (the stricter reading of "30 updates per 10 minutes").
    store.limits.ticket_update(actor, id, now)?;
    if current.status == Status::Closed {
        // Observed body (spec §2.9 sources): a description without an error code.
        return Err(ApiError::invalid(vec![FieldError::described(
            "status",
            "Status: closed prevents ticket update",
        )]));
    }

    let mut errors = Vec::new();
    let input = ticket_input::parse(root, &mut errors);
    let new_comment = match &input.comment {
        None => None,
        Some(c) => match comments::bodies(c.body.as_deref(), c.html_body.as_deref()) {
            Some(bodies) => Some((bodies, c)),
            None => {
                errors.push(FieldError::blank("base", "Comment: cannot be blank"));
                None
            }
        },
    };
    if new_comment.is_some() && current.comments.len() >= MAX_COMMENTS {
        errors.push(FieldError::invalid(
            "base",
            "Comment: the ticket has reached the maximum of 5000 comments",
        ));
    }
    if let Some(author) = input.comment.as_ref().and_then(|c| c.author_id) {
        check_user_exists(&store, author, "author_id", &mut errors);
    }
    if let Some(rid) = input.requester_id {
        check_user_exists(&store, rid, "requester_id", &mut errors);
    }
    // UNCONFIRMED: once a ticket has left `new` it can't be set back to it (the agent UI
    // doesn't offer it either).
    if input.status == Some(Status::New) && current.status != Status::New {
        errors.push(FieldError::invalid(
            "status",
            format!(
                "Status: new is not valid for a {} ticket",
                current.status.as_str()
            ),
        ));
    }
    let assignee = resolve_assignee(&store, &input, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let custom = input.metadata.unwrap_or_default();

    let audit_id = store.next_event_id();
    let (previous_assignee, previous_status) = (current.assignee_id, current.status);
    let mut t = current;
    let mut events = Vec::new();
    let mut change = |store: &mut Store, field: &str, value: Value, previous: Value| {
        if value != previous {
            let event_id = store.next_event_id();
            events.push(json!({
                "id": event_id, "type": "Change", "field_name": field,
                "value": value, "previous_value": previous
            }));
        }
    };
    if let Some(subject) = input.subject.filter(|s| !s.trim().is_empty()) {
        change(&mut store, "subject", json!(subject), json!(t.subject));
        t.subject = subject;
    }
    if let Some(rid) = input.requester_id {
        change(
            &mut store,
            "requester_id",
            json!(rid),
            json!(t.requester_id),
        );
        t.requester_id = rid;
    }
    if let Some(assignee_id) = assignee {
        change(
            &mut store,
            "assignee_id",
            json!(assignee_id),
            json!(t.assignee_id),
        );
        t.assignee_id = assignee_id;
    }
    let status = match input.status {
        Some(s) => s,
        // As on creation: a new ticket that gets an assignee becomes open.
        None if t.status == Status::New && t.assignee_id.is_some() => Status::Open,
        None => t.status,
    };
    change(
        &mut store,
        "status",
        json!(status.as_str()),
        json!(t.status.as_str()),
    );
    t.status = status;
    if let Some(priority) = input.priority {
        change(&mut store, "priority", json!(priority), json!(t.priority));
        t.priority = priority;
    }
    if let Some(kind) = input.kind {
        change(&mut store, "type", json!(kind), json!(t.kind));
        t.kind = kind;
    }
    if let Some(tags) = input.tags {
        change(&mut store, "tags", json!(tags), json!(t.tags));
        t.tags = tags;
    }
    if let Some(external_id) = input.external_id {
        change(
            &mut store,
            "external_id",
            json!(external_id),
            json!(t.external_id),
        );
        t.external_id = external_id;
    }
    let mut new_comment_id = None;
    if let Some(((plain, html), c)) = new_comment {
        // "The initial value set on ticket creation persists for any additional comment unless
        // you change it" (OAS `TicketCommentObject.public`).
        let initial_public = t.comments.first().is_none_or(|first| first.public);
        let comment_id = store.next_event_id();
        let attachments = origin
            .attachment
            .map(|a| a.record(store.next_event_id()))
            .into_iter()
            .collect();
        let comment = CommentRecord {
            id: comment_id,
            author_id: c.author_id.unwrap_or(actor),
            body: plain,
            html_body: html,
            public: c.public.unwrap_or(initial_public),
            audit_id,
            via: origin.via.clone(),
            metadata_custom: custom.clone(),
            attachments,
            created_ms: now,
        };
        events.insert(0, comment_event(base, &comment));
        new_comment_id = Some(comment.id);
        t.comments.push(comment);
    }
    if !events.is_empty() {
        t.updated_ms = now;
    }
    let head = AuditHead {
        id: audit_id,
        ticket_id: id,
        author_id: actor,
        now,
        via: &origin.via,
        custom: &custom,
    };
    let audit = audit(&head, events);
    let rendered = render(base, &t);
    let changes = Changes {
        actor,
        previous_assignee,
        previous_status,
        comment: new_comment_id.and(t.comments.last()),
    };
    let invocations = ticket_events::invocations(&store, emu.inner.account_id, &t, &changes, now);
    store.tickets.insert(id, t);
    drop(store);
    tracing::debug!(ticket_id = id, "emulated ticket updated");
    emu.dispatch(invocations);
    Ok(Updated {
        body: json!({"ticket": rendered, "audit": audit}),
        comment_id: new_comment_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_the_first_non_blank_line_cut_at_150_chars() {
        assert_eq!(
            derive_subject("\n  Refund please \nOrder 42"),
            "Refund please"
        );
        assert_eq!(derive_subject(&"x".repeat(200)).chars().count(), 150);
    }
}
