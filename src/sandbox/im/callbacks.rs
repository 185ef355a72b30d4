//! Third-party callbacks (specs/tencent-im.md §5.1–5.5): once a group message is stored, IM
//! POSTs `Group.CallbackAfterSendMsg` to the app's callback URL, signed with the console token.
//!
//! A callback is built (URL, query, body) and queued while the command that fired it still holds
//! the state lock, so the queue order is the order the messages were stored. One task per
//! emulator drains the queue and sends the callbacks one after the other, holding no lock while
//! it waits on the network. An after-callback's answer only matters to the app: it is recorded
//! and otherwise ignored, nothing is retried (§5.3), and a failed callback never fails the send.
//! Tests can drop callbacks, hold them back and release them reversed, and await the end of all
//! sending.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::header;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use super::commands::Ctx;
use super::state::GroupType;
use super::GroupMessage;
use crate::sandbox::outbound;
use crate::secret::Secret;

pub(super) const AFTER_SEND_MSG: &str = "Group.CallbackAfterSendMsg";
/// How long IM waits for the app's answer (§5.3 documents 2 s for before-callbacks).
// UNCONFIRMED: the timeout of after-callbacks; the documented before-callback one is used.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The app's callback URL and, when console authentication is on, its token (§5.2).
#[derive(Debug, Clone)]
pub struct CallbackTarget {
    pub url: String,
    /// With a token, every callback carries `Sign` and `RequestTime`; without one, neither.
    pub token: Option<Secret>,
}

/// One callback the emulator fired, as it was (or would have been) sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    /// `CallbackCommand`, e.g. `Group.CallbackAfterSendMsg`.
    pub command: String,
    pub group_id: String,
    pub msg_seq: u64,
    /// The JSON body.
    pub body: String,
    /// Everything after the `?` of the URL it went to.
    pub query: String,
    /// The status the app answered; `None` while held, when dropped, or for no answer.
    pub status: Option<u16>,
    /// Dropped by [`super::ImEmulator::drop_callbacks`]: recorded, never sent.
    pub dropped: bool,
}

/// Where the action came from: the callback's `OptPlatform` (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    RestApi,
    Web,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Self::RestApi => "RESTAPI",
            Self::Web => "Web",
        }
    }
}

/// A callback a command fired; the dispatcher adds the app's URL and signature.
#[derive(Debug, Clone)]
pub(super) struct Fired {
    command: &'static str,
    group_id: String,
    msg_seq: u64,
    platform: Platform,
    client_ip: String,
    body: Value,
}

impl Fired {
    /// `Group.CallbackAfterSendMsg` for a message just stored (§5.5). `Operator_Account` is the
    /// caller: the admin of a REST call, the sender of a client send.
    pub fn after_send_msg(
        ctx: &Ctx<'_>,
        group_id: &str,
        group_type: GroupType,
        msg: &GroupMessage,
        online_only: bool,
        msg_id: String,
    ) -> Self {
        let mut body = json!({
            "CallbackCommand": AFTER_SEND_MSG,
            "GroupId": group_id,
            "Type": group_type.as_str(),
            "From_Account": msg.from,
            "Operator_Account": ctx.identifier,
            "Random": msg.random,
            "MsgSeq": msg.seq,
            "MsgTime": msg.time,
            "MsgId": msg_id,
            "OnlineOnlyFlag": u8::from(online_only),
            "MsgBody": msg.body,
            "EventTime": ctx.now_ms,
        });
        if let (Some(data), Some(obj)) = (&msg.cloud_custom_data, body.as_object_mut()) {
            obj.insert("CloudCustomData".into(), json!(data));
        }
        Self {
            command: AFTER_SEND_MSG,
            group_id: group_id.to_string(),
            msg_seq: msg.seq,
            platform: ctx.platform,
            client_ip: ctx.client_ip.to_string(),
            body,
        }
    }
}

/// `Sign`: lowercase hex of SHA-256 over the token followed by the decimal `RequestTime` (§5.2).
pub(super) fn sign(token: &str, request_time: u64) -> String {
    let digest = Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(request_time.to_string().as_bytes())
        .finalize();
    crate::hex::lower(&digest)
}

/// The full URL of a callback: the app's URL with IM's query parameters appended (§5.1, §5.2).
fn callback_url(target: &CallbackTarget, sdkappid: u64, fired: &Fired, now: u64) -> String {
    let mut query = format!(
        "SdkAppid={sdkappid}&CallbackCommand={}&contenttype=json&ClientIP={}&OptPlatform={}",
        fired.command,
        fired.client_ip,
        fired.platform.as_str()
    );
    if let Some(token) = &target.token {
        query.push_str(&format!(
            "&Sign={}&RequestTime={now}",
            sign(token.expose(), now)
        ));
    }
    let url = &target.url;
    let separator = match url.find('?') {
        None => "?",
        Some(_) if url.ends_with('?') || url.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{url}{separator}{query}")
}

/// A callback ready to go: its index in the journal, where, and what.
#[derive(Debug)]
struct Pending {
    index: usize,
    url: String,
    body: String,
}

/// The sending side of the emulator.
pub(super) struct Callbacks {
    state: Mutex<DispatchState>,
    journal: Arc<Journal>,
    http: reqwest::Client,
    /// Where to spawn the sender when the caller isn't on a runtime (the one the emulator was
    /// made on).
    runtime: Option<Handle>,
}

#[derive(Default)]
struct DispatchState {
    target: Option<CallbackTarget>,
    /// How many of the next callbacks to record but not send.
    drop_next: u32,
    hold: bool,
    /// Held callbacks, oldest first.
    held: VecDeque<Pending>,
    /// The sender task's queue; made when the first callback is sent.
    queue: Option<mpsc::UnboundedSender<Pending>>,
}

/// What the sender task shares with the emulator. It holds no queue sender, so the task ends
/// when the emulator is dropped.
struct Journal {
    records: Mutex<Vec<CallbackRecord>>,
    /// Callbacks queued or being sent (held and dropped ones don't count).
    in_flight: watch::Sender<usize>,
}

impl Journal {
    fn records(&self) -> MutexGuard<'_, Vec<CallbackRecord>> {
        // Every change is one push or one field write, so a poisoned lock holds whole data.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn done(&self, index: usize, status: Option<u16>) {
        if let Some(record) = self.records().get_mut(index) {
            record.status = status;
        }
        self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Callbacks {
    pub(super) fn new() -> Self {
        let http = outbound::client(TIMEOUT);
        Self {
            state: Mutex::new(DispatchState::default()),
            journal: Arc::new(Journal {
                records: Mutex::new(Vec::new()),
                in_flight: watch::Sender::new(0),
            }),
            http,
            runtime: Handle::try_current().ok(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DispatchState> {
        // Every change completes before the guard drops, so a poisoned lock holds whole data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_target(&self, target: Option<CallbackTarget>) {
        self.lock().target = target;
    }

    /// Records and queues the callbacks a command fired, signed for `now` (emulator seconds).
    /// Called with the state lock held, which keeps the queue in the order messages were
    /// stored; nothing here waits on the network. Without a target nothing is recorded.
    // UNCONFIRMED: the target is read when the callback fires (a changed URL does not apply to
    // held callbacks), and RequestTime is when it fired, not when a held one is released.
    pub(super) fn fire(&self, sdkappid: u64, now: u64, fired: impl IntoIterator<Item = Fired>) {
        let mut st = self.lock();
        let Some(target) = st.target.clone() else {
            return;
        };
        for fired in fired {
            let url = callback_url(&target, sdkappid, &fired, now);
            let body = fired.body.to_string();
            let dropped = st.drop_next > 0;
            st.drop_next = st.drop_next.saturating_sub(1);
            let index = {
                let mut records = self.journal.records();
                records.push(CallbackRecord {
                    command: fired.command.to_string(),
                    group_id: fired.group_id,
                    msg_seq: fired.msg_seq,
                    body: body.clone(),
                    query: url
                        .split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or("")
                        .to_string(),
                    status: None,
                    dropped,
                });
                records.len() - 1
            };
            let pending = Pending { index, url, body };
            if dropped {
                tracing::debug!(index, "IM callback dropped (fault)");
            } else if st.hold {
                st.held.push_back(pending);
            } else {
                self.enqueue(&mut st, pending);
            }
        }
    }

    /// Hands a callback to the sender task, starting the task if there is none (or its
    /// runtime has gone).
    fn enqueue(&self, st: &mut DispatchState, pending: Pending) {
        self.journal.in_flight.send_modify(|n| *n += 1);
        let pending = match &st.queue {
            Some(queue) => match queue.send(pending) {
                Ok(()) => return,
                // The task's runtime has gone: start another.
                Err(mpsc::error::SendError(p)) => p,
            },
            None => pending,
        };
        let runtime = Handle::try_current().ok().or_else(|| self.runtime.clone());
        let Some(runtime) = runtime else {
            tracing::warn!("no tokio runtime: IM callback recorded but not sent");
            self.journal.done(pending.index, None);
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel's receiver is alive, so this send cannot fail.
        let _ = tx.send(pending);
        st.queue = Some(tx);
        runtime.spawn(send_all(rx, self.journal.clone(), self.http.clone()));
    }

    pub(super) fn drop_next(&self, n: u32) {
        let mut st = self.lock();
        st.drop_next = st.drop_next.saturating_add(n);
    }

    pub(super) fn hold(&self, hold: bool) {
        self.lock().hold = hold;
    }

    /// Queues the held callbacks, oldest or newest first; returns when all were sent.
    pub(super) async fn release_held(&self, newest_first: bool) {
        {
            let mut st = self.lock();
            let mut held: Vec<Pending> = st.held.drain(..).collect();
            if newest_first {
                held.reverse();
            }
            for pending in held {
                self.enqueue(&mut st, pending);
            }
        }
        self.idle().await;
    }

    pub(super) fn records(&self) -> Vec<CallbackRecord> {
        self.journal.records().clone()
    }

    pub(super) async fn idle(&self) {
        let mut rx = self.journal.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// The sender task: one callback at a time, in queue order, until the emulator is gone.
async fn send_all(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    journal: Arc<Journal>,
    http: reqwest::Client,
) {
    while let Some(pending) = rx.recv().await {
        let status = send(&http, &pending).await;
        tracing::debug!(index = pending.index, ?status, "IM callback sent");
        journal.done(pending.index, status);
    }
}

/// One POST; the status, or `None` for no answer. The answer's body is not read.
async fn send(http: &reqwest::Client, pending: &Pending) -> Option<u16> {
    let sent = http
        .post(&pending.url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(pending.body.clone())
        .send()
        .await;
    outbound::answered(sent, "IM callback").map(|resp| resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_the_documented_vectors() {
        assert_eq!(
            sign("xxxxyyyy", 1_669_872_112),
            "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        );
        assert_eq!(
            sign("my-callback-token", 1_700_000_000),
            "b145a99441cf7737a44b911519aaf59b34cad5cfe5b58c39ff8d5138b81c269a"
        );
    }

    #[test]
    fn the_query_is_appended_to_the_apps_own() {
        let fired = Fired {
            command: AFTER_SEND_MSG,
            group_id: "g".into(),
            msg_seq: 1,
            platform: Platform::Web,
            client_ip: "10.0.0.1".into(),
            body: json!({}),
        };
        let target = |url: &str| CallbackTarget {
            url: url.into(),
            token: None,
        };
        let tail = "SdkAppid=7&CallbackCommand=Group.CallbackAfterSendMsg&contenttype=json\
                    &ClientIP=10.0.0.1&OptPlatform=Web";
        for (url, expected) in [
            ("http://h/cb", format!("http://h/cb?{tail}")),
            ("http://h/cb?k=v", format!("http://h/cb?k=v&{tail}")),
            ("http://h/cb?", format!("http://h/cb?{tail}")),
        ] {
            assert_eq!(callback_url(&target(url), 7, &fired, 5), expected);
        }
        let signed = CallbackTarget {
            url: "http://h/cb".into(),
            token: Some(Secret::new("xxxxyyyy")),
        };
        assert!(callback_url(&signed, 7, &fired, 1_669_872_112).ends_with(
            "&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061\
             &RequestTime=1669872112"
        ));
    }
}
