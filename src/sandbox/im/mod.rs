//! Tencent Cloud IM REST API emulator: what the tests and the `sandbox` command run against
//! instead of the real service.
//!
//! It is meant to be as strict as the real service and never looser than its documentation
//! (specs/tencent-im.md): the admin UserSig is fully verified, field names and limits are
//! checked, and failures carry the real error codes inside the HTTP 200 envelope. Where the
//! documentation leaves a behaviour open (marked UNCONFIRMED there), the stricter plausible
//! behaviour is emulated and a comment at the spot says so.
//!
//! After a message is stored, the app's callback URL (if set) receives
//! `Group.CallbackAfterSendMsg` like the real service sends it (§5.1–5.5; see [`callbacks`]);
//! [`ImEmulator::client_send`] and the emulator-only `POST /sdk/send_group_msg` (see [`sdk`])
//! stand for customers writing from the client SDK.
//!
//! Error policy: every API-level result is HTTP 200 with `ActionStatus`/`ErrorCode`/`ErrorInfo`;
//! a failed command changes nothing. Other statuses come only from the HTTP layer (405 for a
//! wrong method, 413 for a huge body) and from injected [`faults`](crate::sandbox::faults).

mod callbacks;
mod commands;
mod convention;
mod errors;
mod fields;
mod sdk;
mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};

use crate::sandbox::faults::{self, Faults};
use crate::secret::Secret;
use crate::usersig::UserSigner;

use callbacks::{Callbacks, Platform};
use commands::Ctx;
use errors::ImError;
use state::State;

pub use callbacks::{CallbackRecord, CallbackTarget};

/// `ClientIP` of client sends made through [`ImEmulator::client_send`], and of requests whose
/// peer is unknown.
const LOCAL_CLIENT_IP: &str = "127.0.0.1";

/// What the emulated IM application is.
#[derive(Debug, Clone)]
pub struct ImEmulatorConfig {
    pub sdkappid: u64,
    pub secret_key: Secret,
    /// App admin accounts: only these may call the REST API (others → 60010 per spec). They
    /// exist as accounts from the start.
    pub admins: Vec<String>,
    /// Per-command calls per second before the frequency-limit error (real default 200/s;
    /// 0 = unlimited).
    pub rate_limit_per_sec: u32,
}

impl ImEmulatorConfig {
    /// One admin, the real default limit of 200 calls per second per command.
    pub fn new(sdkappid: u64, secret_key: Secret, admin: impl Into<String>) -> Self {
        Self {
            sdkappid,
            secret_key,
            admins: vec![admin.into()],
            rate_limit_per_sec: 200,
        }
    }
}

/// An IM account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Account {
    pub user_id: String,
    pub nick: Option<String>,
    pub face_url: Option<String>,
}

/// A group as the emulator holds it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub group_id: String,
    pub group_type: String,
    pub name: String,
    pub owner: Option<String>,
    pub introduction: Option<String>,
    pub apply_join_option: String,
    pub shut_up_all_member: bool,
    /// Member UserIDs in the order they joined (the owner first).
    pub members: Vec<String>,
    /// Every message and system notice, in seq order (online-only ones included).
    pub messages: Vec<GroupMessage>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A message or system notice of a group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupMessage {
    pub seq: u64,
    pub random: u32,
    pub from: String,
    /// Unix seconds.
    pub time: u64,
    /// The `MsgBody` array.
    pub body: serde_json::Value,
    pub cloud_custom_data: Option<String>,
    pub system: bool,
}

/// The emulator: a cheap handle to shared state, so clones see the same application.
#[derive(Clone)]
pub struct ImEmulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ImEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImEmulator")
            .field("sdkappid", &self.inner.config.sdkappid)
            .field("admins", &self.inner.config.admins)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: ImEmulatorConfig,
    signer: UserSigner,
    faults: Faults,
    /// Lock order: `state` before anything inside `callbacks`.
    state: Mutex<State>,
    callbacks: Callbacks,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Commands check everything before they write, so a panic cannot leave half a change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emulator time in Unix seconds: the wall clock plus any [`ImEmulator::advance_clock`].
    fn now(state: &State) -> u64 {
        Self::now_ms(state) / 1000
    }

    /// [`Self::now`] in milliseconds.
    fn now_ms(state: &State) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        wall.saturating_add(state.clock_offset.saturating_mul(1000))
    }

    /// [`Self::now`], taking the lock for it.
    fn current_time(&self) -> u64 {
        Self::now(&self.lock())
    }

    fn ctx<'a>(
        &'a self,
        identifier: &'a str,
        now_ms: u64,
        platform: Platform,
        client_ip: &'a str,
    ) -> Ctx<'a> {
        Ctx {
            identifier,
            admins: &self.config.admins,
            sdkappid: self.config.sdkappid,
            now: now_ms / 1000,
            now_ms,
            platform,
            client_ip,
        }
    }

    /// Queues the callbacks the command run with `ctx` fired, with `RequestTime` the command's
    /// time. Called before the state lock is released, so callbacks keep the order of the
    /// changes that fired them.
    fn fire_callbacks(&self, state: &mut State, ctx: &Ctx<'_>) {
        let fired = std::mem::take(&mut state.fired);
        if !fired.is_empty() {
            self.callbacks.fire(self.config.sdkappid, ctx.now, fired);
        }
    }

    /// A message `from` sends from the client SDK (`body` as for `/sdk/send_group_msg`).
    fn client_send(
        &self,
        from: &str,
        client_ip: &str,
        body: &Map<String, Value>,
    ) -> Result<(u64, u64), ImError> {
        let mut state = self.lock();
        let ctx = self.ctx(from, Self::now_ms(&state), Platform::Web, client_ip);
        let sent = commands::client_send_group_msg(&mut state, &ctx, body);
        self.fire_callbacks(&mut state, &ctx);
        sent
    }
}

impl ImEmulator {
    pub fn new(config: ImEmulatorConfig) -> Self {
        let signer = UserSigner::new(config.sdkappid, config.secret_key.clone());
        let mut state = State::default();
        for admin in &config.admins {
            state.upsert_account(admin, None, None);
        }
        Self {
            inner: Arc::new(Inner {
                config,
                signer,
                faults: Faults::default(),
                state: Mutex::new(state),
                callbacks: Callbacks::new(),
            }),
        }
    }

    /// Routes `POST /v4/{service}/{command}` with the faults middleware installed, and the
    /// emulator-only `POST /sdk/send_group_msg` (see [`sdk`]) without it.
    pub fn router(&self) -> Router {
        let sdk = Router::new()
            .route("/sdk/send_group_msg", post(sdk::send_group_msg))
            .with_state(self.inner.clone());
        Router::new()
            .route("/v4/{service}/{command}", post(convention::handle))
            .fallback(convention::fallback)
            .with_state(self.inner.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.inner.faults.clone(),
                faults::middleware,
            ))
            .merge(sdk)
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// A signer for this app's UserSigs (admin sigs for REST calls, user sigs for clients).
    pub fn user_signer(&self) -> UserSigner {
        self.inner.signer.clone()
    }

    pub fn account(&self, user_id: &str) -> Option<Account> {
        self.inner.lock().accounts.get(user_id).cloned()
    }

    /// Every account, admins included, ordered by UserID.
    pub fn accounts(&self) -> Vec<Account> {
        self.inner.lock().accounts.values().cloned().collect()
    }

    pub fn group(&self, group_id: &str) -> Option<Group> {
        self.inner
            .lock()
            .groups
            .get(group_id)
            .map(|g| g.to_public())
    }

    /// Every group, ordered by group id.
    pub fn groups(&self) -> Vec<Group> {
        self.inner
            .lock()
            .groups
            .values()
            .map(|g| g.to_public())
            .collect()
    }

    /// Seeds an account as if the user had logged in with the SDK (used by sandbox/tests).
    /// Like `account_import`, an existing account keeps its nick unless a new one is given.
    pub fn import_account(&self, user_id: &str, nick: Option<&str>) {
        self.inner.lock().upsert_account(user_id, nick, None);
    }

    /// Number of REST calls received per "service/command" (including rejected ones).
    pub fn calls(&self, command: &str) -> u64 {
        self.inner.lock().calls.get(command).copied().unwrap_or(0)
    }

    /// Moves the emulator's clock forward: message times, the 5-minute duplicate window and
    /// UserSig expiry all follow it. For tests of time-dependent behaviour without sleeping.
    pub fn advance_clock(&self, secs: u64) {
        let mut state = self.inner.lock();
        state.clock_offset = state.clock_offset.saturating_add(secs);
    }

    /// The emulator's current time in Unix seconds.
    pub fn now(&self) -> u64 {
        self.inner.current_time()
    }

    /// Sets (or, with `None`, removes) the app's callback URL. Settable at any time; it applies
    /// to callbacks fired from then on (the real console takes about 2 minutes, §5.1). Without
    /// a target nothing is sent or recorded.
    pub fn set_callback(&self, target: Option<CallbackTarget>) {
        self.inner.callbacks.set_target(target);
    }

    /// A message `from` sends from the client SDK: the checks `send_group_msg` makes for that
    /// sender (account, membership, mute, MsgBody, size), a random `Random`, storage in the
    /// history and `Group.CallbackAfterSendMsg` with `OptPlatform=Web` and
    /// `Operator_Account = from`. Returns `(MsgSeq, MsgTime)`, or the IM error as text.
    pub fn client_send(
        &self,
        group_id: &str,
        from: &str,
        msg_body: Value,
        cloud_custom_data: Option<&str>,
    ) -> Result<(u64, u64), String> {
        let mut body = Map::new();
        body.insert("GroupId".into(), json!(group_id));
        body.insert("MsgBody".into(), msg_body);
        if let Some(data) = cloud_custom_data {
            body.insert("CloudCustomData".into(), json!(data));
        }
        self.inner
            .client_send(from, LOCAL_CLIENT_IP, &body)
            .map_err(|e| e.to_string())
    }

    /// [`Self::client_send`] of one text element.
    pub fn client_send_text(
        &self,
        group_id: &str,
        from: &str,
        text: &str,
    ) -> Result<(u64, u64), String> {
        let body = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }]);
        self.client_send(group_id, from, body, None)
    }

    /// The next `n` callbacks are recorded (as dropped) but never sent; IM does not retry
    /// after-callbacks, so the app never sees them.
    pub fn drop_callbacks(&self, n: u32) {
        self.inner.callbacks.drop_next(n);
    }

    /// While held, new callbacks are recorded and queued instead of sent. Turning the hold off
    /// doesn't send the queue: [`Self::release_held_callbacks`] does.
    pub fn hold_callbacks(&self, hold: bool) {
        self.inner.callbacks.hold(hold);
    }

    /// Sends the held callbacks, oldest or newest first, and returns when they were sent.
    pub async fn release_held_callbacks(&self, newest_first: bool) {
        self.inner.callbacks.release_held(newest_first).await;
    }

    /// Every callback fired so far (held and dropped ones included), oldest first.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.inner.callbacks.records()
    }

    /// Returns once no callback is queued or being sent (held ones don't count), so tests
    /// await callbacks instead of sleeping.
    pub async fn callbacks_idle(&self) {
        self.inner.callbacks.idle().await;
    }
}
