//! The agent API behind the sidebar app (DESIGN §3), every route under `/agent/`:
//!
//! - `POST /agent/session`: the JWT Zendesk's proxy signed for the app → a session token for
//!   one ticket and agent;
//! - `GET /agent/tickets/{id}`: the ticket as the sidebar shows it;
//! - `GET /agent/tickets/{id}/messages?after=&limit=`: the transcript, in record order;
//! - `POST /agent/tickets/{id}/messages`: the assignee writes: into the group from their IM
//!   account, then onto the ticket as their public comment, exactly once;
//! - `POST /agent/tickets/{id}/take`: the agent assigns the ticket to themself;
//! - `GET /agent/tickets/{id}/events`: Server-Sent Events (`message`, `member`, `status`);
//! - `GET /agent/usersig`: a UserSig for the agent's IM account (for TUIKit).

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::create_ticket::{idempotency_key, require_json};
use super::error::ApiError;
use super::AppState;
use crate::agent::session::{Session, SessionKeys};
use crate::agent::{jwt, AgentAuthError};
use crate::bridge::assignment::AgentHint;
use crate::bridge::BridgeError;
use crate::ids::TicketId;
use crate::limits::{StreamSlot, StreamSlots};
use crate::secret::Secret;
use crate::store::{now_ms, MessageRecord, MessageState, NewMessage, Origin, Role, TicketRecord};
use crate::usersig::UserSigner;
use crate::zendesk::types::TicketUpdate;

/// Longest message an agent may write (IM allows 8 KB with the JSON around it).
pub const MAX_TEXT_CHARS: usize = 4000;
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
/// Heartbeats on the event stream (proxies and the app treat 45 s of silence as a drop).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Validity of the UserSig `/agent/usersig` gives.
const USERSIG_SECS: u64 = 24 * 3600;

/// What the agent routes need.
#[derive(Clone)]
pub struct AgentApi {
    /// `ZAF_SHARED_SECRET`; `None` = sessions are refused.
    pub shared_secret: Option<Secret>,
    pub keys: Option<SessionKeys>,
    pub session_ttl: Duration,
    pub signer: UserSigner,
    pub sdkappid: u64,
    /// Open event streams per agent (`STREAMS_PER_AGENT`).
    pub streams: StreamSlots,
}

impl AgentApi {
    pub fn new(
        shared_secret: Option<Secret>,
        session_ttl: Duration,
        signer: UserSigner,
        sdkappid: u64,
        streams: StreamSlots,
    ) -> Self {
        Self {
            keys: shared_secret.as_ref().map(SessionKeys::new),
            shared_secret,
            session_ttl,
            signer,
            sdkappid,
            streams,
        }
    }
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

fn bearer(headers: &HeaderMap) -> Result<&str, AgentAuthError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AgentAuthError::Missing)
}

fn unauthorized(e: AgentAuthError) -> ApiError {
    tracing::warn!(error = %e, "agent credentials refused");
    ApiError::Unauthorized(e.to_string())
}

/// The session a request carries, for `ticket` (any ticket with `None`).
fn session(
    app: &AppState,
    headers: &HeaderMap,
    ticket: impl Into<Option<TicketId>>,
) -> Result<Session, ApiError> {
    let keys = app
        .agent
        .keys
        .as_ref()
        .ok_or_else(|| unauthorized(AgentAuthError::NotConfigured))?;
    let token = bearer(headers).map_err(unauthorized)?;
    match ticket.into() {
        Some(ticket) => keys.check(token, ticket, now_secs()),
        None => keys.check_any(token, now_secs()),
    }
    .map_err(unauthorized)
}

/// The bridge's record of a ticket, or 404 for a ticket it did not open.
async fn chat_ticket(app: &AppState, ticket: TicketId) -> Result<TicketRecord, ApiError> {
    app.jobs
        .store()
        .ticket(ticket)
        .await
        .map_err(|e| ApiError::from(BridgeError::Store(e)))?
        .ok_or(ApiError::UnknownTicket(ticket))
}

/// A ticket id from the path: a JSON 404 for anything but one (not axum's plain-text 400).
fn ticket_id(raw: &str) -> Result<TicketId, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(TicketId)
        .ok_or_else(|| ApiError::NotFound(format!("/agent/tickets/{raw}")))
}

/// The session a request carries for `ticket`, and the bridge's record of that ticket.
async fn agent_on(
    app: &AppState,
    headers: &HeaderMap,
    ticket: TicketId,
) -> Result<(Session, TicketRecord), ApiError> {
    let s = session(app, headers, ticket)?;
    Ok((s, chat_ticket(app, ticket).await?))
}

/// `POST /agent/session`.
pub async fn create_session(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (Some(secret), Some(keys)) = (&app.agent.shared_secret, &app.agent.keys) else {
        return Err(unauthorized(AgentAuthError::NotConfigured));
    };
    let token = bearer(&headers).map_err(unauthorized)?;
    let claims = jwt::verify(token, secret, now_secs()).map_err(unauthorized)?;
    chat_ticket(&app, claims.ticket).await?;
    let ttl = app.agent.session_ttl.as_secs() as i64;
    let session = Session {
        ticket: claims.ticket.0,
        agent_id: claims.agent_id,
        agent_name: claims.agent_name.clone(),
        expires_at: now_secs() + ttl,
    };
    let issued = keys.issue(&session);
    tracing::info!(
        ticket_id = claims.ticket.0,
        agent_id = claims.agent_id,
        "agent session opened"
    );
    Ok(Json(json!({
        "token": issued.expose(),
        "expires_in": ttl,
        "ticket_id": claims.ticket.0,
        "agent": {
            "id": claims.agent_id,
            "name": claims.agent_name,
            "im_user_id": app.jobs.bridge().agent_im_id(claims.agent_id),
        },
    })))
}

/// `GET /agent/tickets/{id}`.
pub async fn ticket(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (s, rec) = agent_on(&app, &headers, ticket_id(&id)?).await?;
    Ok(Json(ticket_view(&rec, &s)))
}

fn ticket_view(rec: &TicketRecord, s: &Session) -> Value {
    json!({
        "id": rec.ticket_id.0,
        "subject": rec.subject,
        "status": rec.status,
        "customer": {
            "name": rec.customer_name.clone().unwrap_or_else(|| rec.user_id.clone()),
            "im_user_id": rec.user_id,
        },
        "assignee": assignee(rec),
        "is_assignee": rec.agent_id == Some(s.agent_id),
    })
}

fn assignee(rec: &TicketRecord) -> Value {
    match (rec.agent_id, &rec.agent_name) {
        (Some(id), Some(name)) => json!({"id": id, "name": name}),
        (Some(id), None) => json!({"id": id, "name": Value::Null}),
        _ => Value::Null,
    }
}

/// A message as the agent API shows it.
pub fn message_view(m: &MessageRecord) -> Value {
    json!({
        "id": m.id,
        "from": m.sender,
        "role": m.role.as_str(),
        "name": m.name,
        "text": m.text,
        "elements": m.elements,
        "time": m.time,
        "state": if m.state == MessageState::Outbox { "sending" } else { "sent" },
        "cursor": m.pos.to_string(),
    })
}

#[derive(Debug, Deserialize)]
pub struct Page {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /agent/tickets/{id}/messages?after=<cursor>&limit=<n>`.
pub async fn messages(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let ticket = ticket_id(&id)?;
    // axum's own answer would be plain text; a repeated parameter is a bad field like others.
    let Query(page) = page.map_err(|e| ApiError::InvalidField(e.body_text()))?;
    agent_on(&app, &headers, ticket).await?;
    let after = match page.after.as_deref().filter(|a| !a.is_empty()) {
        None => 0,
        Some(a) => a.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::InvalidField("after must be a cursor this API returned".into())
        })?,
    };
    let limit = match page.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| ApiError::InvalidField(format!("limit must be 1 to {MAX_PAGE}")))?,
    };
    let mut rows = app
        .jobs
        .store()
        .messages_after(ticket, after, limit + 1)
        .await
        .map_err(|e| ApiError::from(BridgeError::Store(e)))?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let cursor = rows.last().map_or(after, |m| m.pos);
    Ok(Json(json!({
        "messages": rows.iter().map(message_view).collect::<Vec<_>>(),
        "next": more.then(|| cursor.to_string()),
        "cursor": cursor.to_string(),
    })))
}

#[derive(Debug, Deserialize)]
struct NewText {
    text: Value,
}

/// `POST /agent/tickets/{id}/messages` `{"text": "..."}`.
pub async fn post_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ticket = ticket_id(&id)?;
    let s = session(&app, &headers, ticket)?;
    let body = body?;
    require_json(&headers)?;
    let key = idempotency_key(&headers)?;
    let text = read_text(&body)?;
    let rec = chat_ticket(&app, ticket).await?;
    if rec.agent_id != Some(s.agent_id) {
        return Err(ApiError::NotAssignee);
    }
    let bridge = app.jobs.bridge();
    let account = bridge.agent_im_id(s.agent_id);
    let key = key.unwrap_or_else(crate::store::new_id);
    let random = crate::bridge::stable_random(&format!("sidebar:{ticket}:{}:{key}", s.agent_id));
    let msg = NewMessage {
        ticket,
        origin: Origin::Im,
        role: Role::Agent,
        sender: account.clone(),
        name: s.agent_name.clone(),
        text: text.clone(),
        elements: json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]),
        im_seq: None,
        im_random: Some(random),
        comment_id: None,
        state: MessageState::Outbox,
        time: now_ms(),
    };
    let store = app.jobs.store();
    let job = crate::jobs::mirror_chat_job(ticket, false, now_ms());
    let added = store
        .record_message(&msg, Some(&job))
        .await
        .map_err(|e| ApiError::from(BridgeError::Store(e)))?;
    let recorded = store
        .message_by_random(ticket, random, &account)
        .await
        .map_err(|e| ApiError::from(BridgeError::Store(e)))?
        .ok_or(ApiError::Internal)?;
    if added {
        app.jobs.wake();
    }
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message_view(&recorded))).into_response())
}

fn read_text(body: &[u8]) -> Result<String, ApiError> {
    let parsed: NewText = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidField("the body must be {\"text\": \"...\"}".into())
        } else {
            ApiError::InvalidJson(format!("the body is not JSON: {e}"))
        }
    })?;
    let text = parsed
        .text
        .as_str()
        .map(str::trim)
        .ok_or_else(|| ApiError::InvalidField("text must be a string".into()))?;
    if text.is_empty() {
        return Err(ApiError::InvalidField("text must not be empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::InvalidField(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(text.to_owned())
}

/// `POST /agent/tickets/{id}/take`: the session's agent becomes the assignee.
pub async fn take(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticket = ticket_id(&id)?;
    let (s, rec) = agent_on(&app, &headers, ticket).await?;
    if rec.agent_id == Some(s.agent_id) {
        // Taken already: a second click costs no ticket update (Zendesk allows 30 per ticket
        // in 10 minutes, shared with the conversation's comments).
        return Ok(Json(membership(&rec, &s)));
    }
    let bridge = app.jobs.bridge();
    bridge
        .zendesk
        .update_ticket(
            ticket.0,
            &TicketUpdate {
                assignee_id: Some(s.agent_id),
                ..TicketUpdate::default()
            },
        )
        .await
        .map_err(|e| ApiError::from(BridgeError::Zendesk(e)))?;
    let hint = AgentHint {
        id: s.agent_id,
        name: s.agent_name.clone(),
    };
    // Into the group now, so the agent can write at once; the webhook's sync converges again.
    if let Err(e) = bridge.sync_ticket(ticket, Some(&hint)).await {
        tracing::warn!(error = %e, ticket_id = ticket.0, "sync after take failed; the job retries");
        let _ = app
            .jobs
            .store()
            .request_run(&crate::jobs::sync_ticket_job(ticket, Some(hint)))
            .await;
        app.jobs.wake();
    }
    let rec = chat_ticket(&app, ticket).await?;
    Ok(Json(membership(&rec, &s)))
}

fn membership(rec: &TicketRecord, s: &Session) -> Value {
    json!({
        "assignee": assignee(rec),
        "is_assignee": rec.agent_id == Some(s.agent_id),
    })
}

/// `GET /agent/usersig`: a UserSig for the agent's own IM account (any of their sessions).
pub async fn usersig(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let s = session(&app, &headers, None)?;
    let user = app.jobs.bridge().agent_im_id(s.agent_id);
    let sig = app.agent.signer.generate(&user, USERSIG_SECS);
    Ok(Json(json!({
        "userId": user,
        "userSig": sig.expose(),
        "sdkAppId": app.agent.sdkappid,
        "expiresAt": now_secs() + USERSIG_SECS as i64,
    })))
}

/// `GET /agent/tickets/{id}/events`: the ticket's new messages, assignee and status, live.
pub async fn events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ticket = ticket_id(&id)?;
    let (s, _) = agent_on(&app, &headers, ticket).await?;
    let slot = app
        .agent
        .streams
        .open(s.agent_id)
        .map_err(ApiError::Limited)?;
    // Resume after the last event the client saw.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let feed = Feed {
        app,
        ticket,
        agent: s.agent_id,
        expires_at: s.expires_at,
        after,
        seen: None,
        queue: VecDeque::new(),
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        feed.next_event()
            .await
            .map(|e| (Ok::<_, std::convert::Infallible>(e), feed))
    });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("ping"))
        .into_response();
    // Tells nginx (and proxies that follow it) not to buffer the stream, whatever its config.
    resp.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(resp)
}

/// One client's event stream: what it has been sent, and what is queued for it.
struct Feed {
    app: AppState,
    ticket: TicketId,
    agent: u64,
    expires_at: i64,
    /// The position of the last message sent.
    after: i64,
    /// The (assignee, status) last sent.
    seen: Option<(Option<u64>, String)>,
    queue: VecDeque<Event>,
    /// Held while the stream lives (the client disconnecting drops it).
    _slot: StreamSlot,
}

impl Feed {
    /// The next event; `None` ends the stream (the session expired, or the store failed —
    /// the client reconnects with `Last-Event-ID`).
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if now_secs() >= self.expires_at {
                return None;
            }
            // Subscribe before reading, so a change between the read and the wait is not missed.
            // Changes recorded by another replica wake it too (PostgreSQL's NOTIFY); the store's
            // poll interval is the fallback.
            let changes = self.app.jobs.store().changes();
            let changed = changes.notified();
            tokio::pin!(changed);
            if let Err(e) = self.fill().await {
                tracing::warn!(error = %e, ticket_id = self.ticket.0, "event stream ended");
                return None;
            }
            if self.queue.is_empty() {
                let poll = self.app.jobs.store().poll_interval();
                let _ = tokio::time::timeout(poll, &mut changed).await;
            }
        }
    }

    async fn fill(&mut self) -> Result<(), crate::store::StoreError> {
        let store = self.app.jobs.store();
        for m in store
            .messages_after(self.ticket, self.after, MAX_PAGE)
            .await?
        {
            self.after = m.pos;
            self.queue.push_back(
                Event::default()
                    .event("message")
                    .id(m.pos.to_string())
                    .data(message_view(&m).to_string()),
            );
        }
        let Some(rec) = store.ticket(self.ticket).await? else {
            return Ok(());
        };
        let now = (rec.agent_id, rec.status.clone());
        let before = self.seen.replace(now.clone());
        let id = self.after.to_string();
        if before.as_ref().map(|b| b.0) != Some(now.0) {
            self.queue.push_back(Event::default().event("member").id(id.clone()).data(
                json!({"agent": assignee(&rec), "is_assignee": rec.agent_id == Some(self.agent)})
                    .to_string(),
            ));
        }
        if before.as_ref().map(|b| &b.1) != Some(&now.1) {
            self.queue.push_back(
                Event::default()
                    .event("status")
                    .id(id)
                    .data(json!({"status": rec.status}).to_string()),
            );
        }
        Ok(())
    }
}
