//! Zendesk Support API emulator: what the tests and `sandbox` mode run against instead of a real
//! Zendesk account.
//!
//! It follows `shared/specs/zendesk.md` and Zendesk's OpenAPI document and is never looser than
//! they are: auth is checked on every request (§1), ticket create/show/update and the comment
//! list validate like Zendesk (§2.3, §2.5, §2.9), tickets can be listed, all or by external id,
//! with offset or cursor pages (§3.4), `Idempotency-Key` works on ticket creation
//! (§2.4), users can be created, shown and searched by external id or email (§2.7), and the
//! account, Update Ticket and per-(user, ticket) rate limits answer 429 with `Retry-After` (§3).
//! Each comment keeps its audit's custom metadata (the write-only `ticket.metadata`), the
//! channel it came through (`via`: the API, the agent UI or email) and its attachments; the
//! helper methods play the agent UI and the requester's email replies.
//! Admins manage webhooks through the Webhooks API (§4.1–4.2), and ticket updates deliver
//! signed, retried `zen:event-type:ticket.*` events to the active webhooks subscribed to them
//! (§4.3–4.4, §5.3).
//! Where a Zendesk behaviour is not documented, the stricter plausible one is emulated and marked
//! UNCONFIRMED where it is coded.
//!
//! Error policy: every failure is an [`errors::ApiError`] turned into Zendesk's status and body;
//! request data never panics the emulator.

mod auth;
mod body;
mod clock;
mod comments;
mod delivery;
mod errors;
mod gate;
mod idempotency;
mod ids;
mod limits;
mod pagination;
mod people;
mod state;
mod ticket_events;
mod ticket_input;
mod ticket_list;
mod ticket_view;
mod tickets;
mod user_input;
mod user_search;
mod users;
mod webhook_input;
mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::sandbox::faults::{self, Faults};
use crate::secret::Secret;

use self::auth::Credentials;
use self::clock::Clock;
use self::delivery::Deliveries;
use self::errors::ApiError;
use self::limits::Limits;
use self::state::{Role, Store};

/// How the emulated account is set up.
#[derive(Debug, Clone)]
pub struct ZendeskEmulatorConfig {
    /// The admin user the bridge authenticates as (`{email}/token:{api_token}`); seeded as a user
    /// with role "admin".
    pub admin_email: String,
    pub api_token: Secret,
    /// Optional OAuth access token accepted as `Authorization: Bearer <token>` (acts as the admin).
    pub oauth_token: Option<Secret>,
    /// Account API requests per minute before 429 (real plans: 200/400/700/2500; 0 = unlimited).
    pub rate_limit_per_minute: u32,
    /// The account id webhook events carry (`account_id`, `x-zendesk-account-id`).
    pub account_id: u64,
    pub webhook_delivery: WebhookDeliveryConfig,
}

/// Account id of a new config (an arbitrary 8-digit id, like real ones).
pub const DEFAULT_ACCOUNT_ID: u64 = 10_482_756;

impl ZendeskEmulatorConfig {
    /// No OAuth token, 700 requests per minute (Enterprise), default webhook delivery.
    pub fn new(admin_email: impl Into<String>, api_token: Secret) -> Self {
        Self {
            admin_email: admin_email.into(),
            api_token,
            oauth_token: None,
            rate_limit_per_minute: 700,
            account_id: DEFAULT_ACCOUNT_ID,
            webhook_delivery: WebhookDeliveryConfig::default(),
        }
    }
}

/// How webhook invocations are sent (spec §4.4).
#[derive(Debug, Clone)]
pub struct WebhookDeliveryConfig {
    /// An attempt not answered within this is abandoned and retried (Zendesk: ~12 s,
    /// UNCONFIRMED; SECONDARY sources say 10 s).
    pub timeout: Duration,
    /// The wait before each retry; one retry per entry. UNCONFIRMED: Zendesk's counts and
    /// backoff (spec §4.4: 409 up to 3 times, timeouts up to 5); the default retries 3 times.
    /// Tests shorten these.
    pub retry_delays: Vec<Duration>,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(12),
            retry_delays: vec![
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8),
            ],
        }
    }
}

/// A ticket as the emulator holds it (for assertions).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ticket {
    pub id: u64,
    pub subject: String,
    pub description: String,
    pub status: String,
    pub requester_id: u64,
    pub submitter_id: u64,
    pub assignee_id: Option<u64>,
    pub tags: Vec<String>,
    pub external_id: Option<String>,
    pub comments: Vec<Comment>,
    pub created_at: String,
    pub updated_at: String,
}

/// A ticket comment (plain-text body).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comment {
    pub id: u64,
    pub author_id: u64,
    pub body: String,
    pub public: bool,
    /// `via.channel`: "api" (made through the Tickets API), "web" (an agent in the Zendesk UI)
    /// or "email" (a reply by email).
    pub via: String,
    /// `metadata.custom`: the custom metadata of the comment's audit, a JSON object (empty
    /// unless the update that made the comment sent `ticket.metadata`).
    pub metadata_custom: Value,
    pub created_at: String,
}

/// A user of the emulated account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    /// Unique, case-insensitively.
    pub external_id: Option<String>,
    /// "end-user", "agent" or "admin".
    pub role: String,
}

/// A webhook as the emulator holds it (for assertions): the public part of its settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    /// "active" or "inactive".
    pub status: String,
    pub subscriptions: Vec<String>,
}

/// One webhook invocation: one event sent to one webhook, however many attempts it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invocation {
    /// `x-zendesk-webhook-invocation-id`; retries and redeliveries keep it.
    pub id: String,
    pub webhook_id: String,
    /// `zen:event-type:...`
    pub event_type: String,
    pub ticket_id: u64,
    /// The exact JSON body sent (the event envelope).
    pub body: String,
    /// The status of each attempt so far; `None` = no answer (timeout, refused).
    pub attempts: Vec<Option<u16>>,
}

#[derive(Debug)]
struct Inner {
    store: Mutex<Store>,
    clock: Clock,
    creds: Credentials,
    faults: Faults,
    requests: AtomicU64,
    account_id: u64,
    deliveries: Deliveries,
}

/// The emulator: a cheap handle to one emulated Zendesk account.
#[derive(Debug, Clone)]
pub struct ZendeskEmulator {
    inner: Arc<Inner>,
}

impl ZendeskEmulator {
    /// An empty account holding only the admin of `config`.
    pub fn new(config: ZendeskEmulatorConfig) -> Self {
        let clock = Clock::new();
        let now = clock.now_ms();
        let mut store = Store::new(Limits::new(config.rate_limit_per_minute));
        let admin_name = config
            .admin_email
            .split('@')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("Admin")
            .to_owned();
        let admin_id = store.add_user(
            &admin_name,
            Some(&config.admin_email),
            None,
            Role::Admin,
            true,
            now,
        );
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                clock,
                creds: Credentials {
                    api_token: config.api_token,
                    oauth_token: config.oauth_token,
                    oauth_user_id: admin_id,
                },
                faults: Faults::default(),
                requests: AtomicU64::new(0),
                account_id: config.account_id,
                deliveries: Deliveries::new(config.webhook_delivery),
            }),
        }
    }

    /// All routes with the faults middleware installed. Paths accept an optional `.json` suffix.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/api/v2/tickets",
                get(ticket_list::list).post(tickets::create),
            )
            .route(
                "/api/v2/tickets.json",
                get(ticket_list::list).post(tickets::create),
            )
            .route(
                "/api/v2/tickets/{id}",
                get(tickets::show).put(tickets::update),
            )
            .route("/api/v2/tickets/{id}/comments", get(comments::list))
            .route("/api/v2/tickets/{id}/comments.json", get(comments::list))
            .route("/api/v2/users", post(users::create))
            .route("/api/v2/users.json", post(users::create))
            .route("/api/v2/users/search", get(user_search::search))
            .route("/api/v2/users/search.json", get(user_search::search))
            .route("/api/v2/users/me", get(users::me))
            .route("/api/v2/users/me.json", get(users::me))
            .route("/api/v2/users/{id}", get(users::show))
            .route(
                "/api/v2/webhooks",
                get(webhooks::list).post(webhooks::create),
            )
            .route(
                "/api/v2/webhooks/{id}",
                get(webhooks::show)
                    .put(webhooks::replace)
                    .patch(webhooks::patch)
                    .delete(webhooks::delete),
            )
            .route(
                "/api/v2/webhooks/{id}/signing_secret",
                get(webhooks::show_secret).post(webhooks::reset_secret),
            )
            .fallback(|| async { ApiError::InvalidEndpoint })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate::gate,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.inner.faults.clone(),
                faults::middleware,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate::count,
            ))
            .with_state(self.clone())
    }

    /// The faults applied to this emulator's requests (see [`crate::sandbox::faults`]).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The ticket with this id, comments included.
    pub fn ticket(&self, id: u64) -> Option<Ticket> {
        self.lock().tickets.get(&id).map(Ticket::from)
    }

    /// Every ticket, by id.
    pub fn tickets(&self) -> Vec<Ticket> {
        self.lock().tickets.values().map(Ticket::from).collect()
    }

    /// The tickets whose external id is exactly `external_id` (case-sensitive; ticket external
    /// ids need not be unique), by id: what `GET /api/v2/tickets?external_id=` lists.
    pub fn tickets_with_external_id(&self, external_id: &str) -> Vec<Ticket> {
        self.lock()
            .tickets_with_external_id(external_id)
            .map(Ticket::from)
            .collect()
    }

    /// The user with this id.
    pub fn user(&self, id: u64) -> Option<User> {
        self.lock().users.get(&id).map(User::from)
    }

    /// Case-insensitive, like Zendesk's email identities.
    pub fn user_by_email(&self, email: &str) -> Option<User> {
        self.lock().user_by_email(email).map(User::from)
    }

    /// Case-insensitive, like Zendesk's external ids.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<User> {
        self.lock().user_by_external_id(external_id).map(User::from)
    }

    /// Seeds an agent (role "agent") and returns its id (sandbox/tests use it to assign tickets).
    /// An existing user with that email is returned instead, promoted to agent if it was an
    /// end user.
    pub fn seed_agent(&self, name: &str, email: &str) -> u64 {
        let now = self.now_ms();
        let mut store = self.lock();
        let existing = store.user_by_email(email).map(|u| u.id);
        match existing.and_then(|id| store.users.get_mut(&id)) {
            Some(user) => {
                if user.role == Role::EndUser {
                    user.role = Role::Agent;
                    user.verified = true;
                    user.updated_ms = now;
                }
                user.id
            }
            None => store.add_user(name, Some(email), None, Role::Agent, true, now),
        }
    }

    /// Seeds an end user (an existing email returns that user's id unchanged).
    pub fn seed_end_user(&self, name: &str, email: &str) -> u64 {
        let now = self.now_ms();
        let mut store = self.lock();
        match store.user_by_email(email) {
            Some(u) => u.id,
            None => store.add_user(name, Some(email), None, Role::EndUser, true, now),
        }
    }

    /// Assigns the ticket (or unassigns it with `None`) as the admin would in the agent UI:
    /// validated, rate-limited and delivering webhook events like `PUT /tickets/{id}`.
    pub fn assign(&self, ticket_id: u64, assignee: Option<u64>) -> Result<(), String> {
        self.update_as_admin(ticket_id, json!({ "assignee_id": assignee }))
            .map(|_| ())
    }

    /// Sets the ticket's status (`open`, `solved`, ...) as the admin would in the agent UI.
    pub fn set_status(&self, ticket_id: u64, status: &str) -> Result<(), String> {
        self.update_as_admin(ticket_id, json!({ "status": status }))
            .map(|_| ())
    }

    /// Adds a public comment by `author_id` as an agent would in the agent UI (`via.channel`
    /// "web"; the admin is the updater) and returns the comment's id.
    pub fn add_public_comment(
        &self,
        ticket_id: u64,
        author_id: u64,
        body: &str,
    ) -> Result<u64, String> {
        let comment = NewComment::new(author_id, body, true);
        self.comment_as(
            self.admin_id(),
            ticket_id,
            comment,
            tickets::Origin::new(state::Via::Web),
        )
    }

    /// Adds an internal note (`public: false`) by `author_id` from the agent UI (`via.channel`
    /// "web") and returns the comment's id.
    pub fn add_internal_note(
        &self,
        ticket_id: u64,
        author_id: u64,
        body: &str,
    ) -> Result<u64, String> {
        let comment = NewComment::new(author_id, body, false);
        self.comment_as(
            self.admin_id(),
            ticket_id,
            comment,
            tickets::Origin::new(state::Via::Web),
        )
    }

    /// Adds a public comment carrying one attachment, as [`Self::add_public_comment`] does;
    /// the list of comments shows the file with this name, URL and size in bytes.
    pub fn add_public_comment_with_attachment(
        &self,
        ticket_id: u64,
        author_id: u64,
        body: &str,
        file_name: &str,
        content_url: &str,
        size: u64,
    ) -> Result<u64, String> {
        let comment = NewComment::new(author_id, body, true);
        let origin = tickets::Origin {
            attachment: Some(comments::NewAttachment {
                file_name: file_name.to_owned(),
                content_url: content_url.to_owned(),
                size,
            }),
            ..tickets::Origin::new(state::Via::Web)
        };
        self.comment_as(self.admin_id(), ticket_id, comment, origin)
    }

    /// Adds the ticket's requester's emailed reply: a public comment by the requester, who is
    /// also the updater (`via.channel` "email", the sender as `via.source.from`). Returns the
    /// comment's id.
    pub fn add_email_reply(&self, ticket_id: u64, body: &str) -> Result<u64, String> {
        let (requester, via) = {
            let store = self.lock();
            let ticket = store
                .tickets
                .get(&ticket_id)
                .ok_or_else(|| ApiError::RecordNotFound.describe())?;
            let sender = store.users.get(&ticket.requester_id);
            let via = state::Via::Email {
                name: sender.map(|u| u.name.clone()).unwrap_or_default(),
                address: sender.and_then(|u| u.email.clone()),
            };
            (ticket.requester_id, via)
        };
        // UNCONFIRMED: the requester is the updater of an emailed reply (Zendesk's mail
        // processing acts for the sender), so the reply counts against their own
        // per-(user, ticket) budget.
        let comment = NewComment::new(requester, body, true);
        self.comment_as(requester, ticket_id, comment, tickets::Origin::new(via))
    }

    /// Adds `comment` to the ticket as `actor` and returns the comment's id.
    fn comment_as(
        &self,
        actor: u64,
        ticket_id: u64,
        comment: NewComment<'_>,
        origin: tickets::Origin,
    ) -> Result<u64, String> {
        let ticket = json!({"comment": {
            "body": comment.body, "public": comment.public, "author_id": comment.author_id
        }});
        self.update_as(actor, ticket_id, ticket, origin)?
            .comment_id
            .ok_or_else(|| "no comment was added".to_owned())
    }

    fn update_as_admin(&self, ticket_id: u64, ticket: Value) -> Result<tickets::Updated, String> {
        self.update_as(
            self.admin_id(),
            ticket_id,
            ticket,
            tickets::Origin::new(state::Via::Web),
        )
    }

    fn update_as(
        &self,
        actor: u64,
        ticket_id: u64,
        ticket: Value,
        origin: tickets::Origin,
    ) -> Result<tickets::Updated, String> {
        let Value::Object(root) = ticket else {
            return Err("the update must be a JSON object".into());
        };
        tickets::apply_update(self, actor, ticket_id, &root, "http://localhost", origin)
            .map_err(|e| e.describe())
    }

    /// Every webhook, in creation order.
    pub fn webhooks(&self) -> Vec<Webhook> {
        self.lock().webhooks.iter().map(Webhook::from).collect()
    }

    /// The webhook's current signing secret (what `GET .../signing_secret` shows).
    pub fn signing_secret(&self, webhook_id: &str) -> Option<String> {
        self.lock()
            .webhook(webhook_id)
            .map(|w| w.signing_secret.expose().to_owned())
    }

    /// The id of the seeded admin (the user the API token and OAuth token act as).
    pub fn admin_id(&self) -> u64 {
        self.inner.creds.oauth_user_id
    }

    /// Number of 429s the emulator's own rate limits answered: the account limit, the Update
    /// Ticket endpoint limit and the per-(user, ticket) limit, for requests and helper methods
    /// alike. 429s injected as faults are not counted.
    pub fn rate_limited_count(&self) -> u64 {
        self.lock().limits.rejected()
    }

    /// Number of API requests received (all paths, including rejected ones).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Moves the emulator's clock forward: rate-limit windows and idempotency keys age by `by`
    /// without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // Every mutation completes before the guard drops, so a poisoned lock holds whole data.
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A comment one of the helper methods adds.
struct NewComment<'a> {
    author_id: u64,
    body: &'a str,
    public: bool,
}

impl<'a> NewComment<'a> {
    fn new(author_id: u64, body: &'a str, public: bool) -> Self {
        Self {
            author_id,
            body,
            public,
        }
    }
}

/// The account's base URL as the client addressed it (`url` fields, `Location`).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET …/{id}` for an authenticated caller: `{"<key>": <what render gives>}`, or 404.
fn show_record(
    emu: &ZendeskEmulator,
    caller: &auth::Caller,
    headers: &HeaderMap,
    raw_id: &str,
    key: &str,
    render: impl FnOnce(&Store, &str, u64) -> Option<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let result = caller.user_id().and_then(|_| {
        let id = parse_id(raw_id)?;
        let store = emu.lock();
        let record = render(&store, &base_url(headers), id).ok_or(ApiError::RecordNotFound)?;
        Ok(json!({ key: record }))
    });
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A record id from the path: digits only, optional `.json`; anything else is not found.
fn parse_id(raw: &str) -> Result<u64, ApiError> {
    let digits = raw.strip_suffix(".json").unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::RecordNotFound);
    }
    digits
        .parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
        .ok_or(ApiError::RecordNotFound)
}
