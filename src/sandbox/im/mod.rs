//! Tencent Cloud IM REST API emulator: what the tests and the `sandbox` command run against
//! instead of the real service.
//!
//! It is meant to be as strict as the real service and never looser than its documentation
//! (specs/tencent-im.md): the admin UserSig is fully verified, field names and limits are
//! checked, and failures carry the real error codes inside the HTTP 200 envelope. Where the
//! documentation leaves a behaviour open (marked UNCONFIRMED there), the stricter plausible
//! behaviour is emulated and a comment at the spot says so.
//!
//! Error policy: every API-level result is HTTP 200 with `ActionStatus`/`ErrorCode`/`ErrorInfo`;
//! a failed command changes nothing. Other statuses come only from the HTTP layer (405 for a
//! wrong method, 413 for a huge body) and from injected [`faults`](crate::sandbox::faults).

mod commands;
mod convention;
mod errors;
mod fields;
mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::Router;

use crate::sandbox::faults::{self, Faults};
use crate::secret::Secret;
use crate::usersig::UserSigner;

use state::State;

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
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Commands check everything before they write, so a panic cannot leave half a change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emulator time in Unix seconds: the wall clock plus any [`ImEmulator::advance_clock`].
    fn now(state: &State) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        wall.saturating_add(state.clock_offset)
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
            }),
        }
    }

    /// Routes `POST /v4/{service}/{command}` with the faults middleware installed.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v4/{service}/{command}", post(convention::handle))
            .fallback(convention::fallback)
            .with_state(self.inner.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.inner.faults.clone(),
                faults::middleware,
            ))
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
        Inner::now(&self.inner.lock())
    }
}
