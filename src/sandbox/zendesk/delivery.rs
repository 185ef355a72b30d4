//! Sending webhook invocations (spec §4.3–4.4): signed HTTP POSTs, retried on 409, 429, 5xx and
//! no answer, recorded attempt by attempt. Each invocation runs in its own task, after the
//! state lock is released; the request that caused it doesn't wait. Tests can hold invocations
//! back and release them late or reversed, repeat one, and await the end of all sending.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::header;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::clock::iso8601;
use super::state::WebhookRecord;
use super::webhook_input::Authentication;
use super::{Invocation, WebhookDeliveryConfig, ZendeskEmulator};
use crate::sandbox::outbound;
use crate::secret::Secret;

const SIGNATURE: &str = "X-Zendesk-Webhook-Signature";
const SIGNATURE_TIMESTAMP: &str = "X-Zendesk-Webhook-Signature-Timestamp";
/// SECONDARY (spec §4.3): observed in a captured request.
const USER_AGENT: &str = "Zendesk Webhook";
/// UNCONFIRMED (spec §4.4): a 429/503 whose `Retry-After` is a minute or more is not retried.
const MAX_RETRY_AFTER_SECS: u64 = 60;

/// The sending side of the emulator.
#[derive(Debug)]
pub(super) struct Deliveries {
    state: Mutex<DeliveryState>,
    /// Invocations being sent (held ones don't count).
    in_flight: watch::Sender<usize>,
    http: reqwest::Client,
    config: WebhookDeliveryConfig,
    /// Where to spawn when the caller isn't on a runtime (the one the emulator was made on).
    runtime: Option<Handle>,
}

#[derive(Debug, Default)]
struct DeliveryState {
    invocations: Vec<Invocation>,
    hold: bool,
    /// Indexes into `invocations`, oldest first.
    held: VecDeque<usize>,
}

impl Deliveries {
    pub(super) fn new(config: WebhookDeliveryConfig) -> Self {
        // A 3xx ends the invocation like any other non-retried status.
        let http = outbound::client(config.timeout);
        Self {
            state: Mutex::new(DeliveryState::default()),
            in_flight: watch::Sender::new(0),
            http,
            config,
            runtime: Handle::try_current().ok(),
        }
    }
}

/// Where and how to send, read from the webhook at each attempt: a reset secret or a changed
/// endpoint applies to attempts still to come. UNCONFIRMED: Zendesk may snapshot these when
/// the invocation is created.
struct Target {
    endpoint: String,
    secret: Secret,
    authentication: Option<Authentication>,
    custom_headers: BTreeMap<String, String>,
}

impl From<&WebhookRecord> for Target {
    fn from(w: &WebhookRecord) -> Self {
        Self {
            endpoint: w.spec.endpoint.clone(),
            secret: w.signing_secret.clone(),
            authentication: w.spec.authentication.clone(),
            custom_headers: w.spec.custom_headers.clone(),
        }
    }
}

/// What the endpoint answered; `None` = no answer (timeout, refused, reset).
struct Answer {
    status: u16,
    retry_after_secs: Option<u64>,
}

enum Next {
    Stop,
    /// Retry after the scheduled delay, but not sooner than this.
    Retry(Duration),
}

/// Spec §4.4: 409, 429, 5xx and no answer are retried; 2xx and other statuses end it.
fn next_step(answer: Option<&Answer>) -> Next {
    let Some(a) = answer else {
        return Next::Retry(Duration::ZERO);
    };
    match a.status {
        200..=299 => Next::Stop,
        429 | 503 => match a.retry_after_secs {
            Some(s) if s >= MAX_RETRY_AFTER_SECS => Next::Stop,
            Some(s) => Next::Retry(Duration::from_secs(s)),
            None => Next::Retry(Duration::ZERO),
        },
        409 | 500..=599 => Next::Retry(Duration::ZERO),
        _ => Next::Stop,
    }
}

/// `base64(HMAC-SHA256(key = secret as bytes, message = timestamp + body))` (spec §4.3).
pub(super) fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Counts one sending activity while alive (also when its task is aborted).
struct InFlight(ZendeskEmulator);

impl InFlight {
    fn start(emu: &ZendeskEmulator) -> Self {
        emu.inner.deliveries.in_flight.send_modify(|n| *n += 1);
        Self(emu.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .inner
            .deliveries
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl ZendeskEmulator {
    /// Records the invocations and sends each in its own task, or queues them while held.
    /// Call without holding the state lock.
    pub(super) fn dispatch(&self, invocations: Vec<Invocation>) {
        for invocation in invocations {
            let to_send = {
                let mut st = self.delivery_state();
                st.invocations.push(invocation);
                let index = st.invocations.len() - 1;
                if st.hold {
                    st.held.push_back(index);
                    None
                } else {
                    Some(index)
                }
            };
            if let Some(index) = to_send {
                self.spawn_delivery(index);
            }
        }
    }

    fn spawn_delivery(&self, index: usize) {
        let runtime = Handle::try_current()
            .ok()
            .or_else(|| self.inner.deliveries.runtime.clone());
        let Some(runtime) = runtime else {
            tracing::warn!("no tokio runtime: webhook invocation recorded but not sent");
            return;
        };
        let guard = InFlight::start(self);
        let emu = self.clone();
        runtime.spawn(async move {
            let _guard = guard;
            emu.deliver(index).await;
        });
    }

    /// Every attempt of one invocation: the first, then a retry after each scheduled delay for
    /// as long as the answers call for one.
    async fn deliver(&self, index: usize) {
        let mut delays = self.inner.deliveries.config.retry_delays.iter();
        loop {
            let (_, next) = self.attempt(index).await;
            let Next::Retry(at_least) = next else { return };
            let Some(delay) = delays.next() else { return };
            tokio::time::sleep((*delay).max(at_least)).await;
        }
    }

    /// One attempt, recorded on the invocation. Stops when the invocation or its webhook is
    /// gone (a deleted webhook sends nothing more).
    async fn attempt(&self, index: usize) -> (Option<u16>, Next) {
        let current = {
            let st = self.delivery_state();
            st.invocations
                .get(index)
                .map(|i| (i.id.clone(), i.webhook_id.clone(), i.body.clone()))
        };
        let Some((invocation_id, webhook_id, body)) = current else {
            return (None, Next::Stop);
        };
        let target = self.lock().webhook(&webhook_id).map(Target::from);
        let Some(target) = target else {
            tracing::debug!(%webhook_id, "webhook gone; invocation dropped");
            return (None, Next::Stop);
        };
        let answer = self.send(&target, &invocation_id, &webhook_id, &body).await;
        let status = answer.as_ref().map(|a| a.status);
        if let Some(inv) = self.delivery_state().invocations.get_mut(index) {
            inv.attempts.push(status);
        }
        tracing::debug!(%invocation_id, ?status, "webhook attempt");
        (status, next_step(answer.as_ref()))
    }

    async fn send(
        &self,
        target: &Target,
        invocation_id: &str,
        webhook_id: &str,
        body: &str,
    ) -> Option<Answer> {
        let timestamp = iso8601(self.now_ms());
        let signature = sign(target.secret.expose(), &timestamp, body);
        let mut req = self.inner.deliveries.http.post(&target.endpoint);
        for (name, value) in &target.custom_headers {
            req = req.header(name, value);
        }
        req = match &target.authentication {
            None => req,
            Some(Authentication::Basic { username, password }) => {
                req.basic_auth(username, Some(password.expose()))
            }
            Some(Authentication::Bearer { token }) => req.bearer_auth(token.expose()),
            Some(Authentication::ApiKey { name, value }) => req.header(name, value.expose()),
        };
        let sent = req
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .header(SIGNATURE, signature)
            .header(SIGNATURE_TIMESTAMP, timestamp)
            .header("x-zendesk-account-id", self.inner.account_id.to_string())
            .header("x-zendesk-webhook-id", webhook_id)
            .header("x-zendesk-webhook-invocation-id", invocation_id)
            .body(body.to_owned())
            .send()
            .await;
        outbound::answered(sent, "webhook attempt").map(|resp| Answer {
            status: resp.status().as_u16(),
            retry_after_secs: resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        })
    }

    fn delivery_state(&self) -> MutexGuard<'_, DeliveryState> {
        // Every mutation completes before the guard drops, so a poisoned lock holds whole data.
        self.inner
            .deliveries
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every invocation so far (held ones included), oldest first, with its attempts.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.delivery_state().invocations.clone()
    }

    /// Sends an invocation once more — same invocation id and body, signed afresh with the
    /// current timestamp — as Zendesk may deliver one action twice. Returns the status, `None`
    /// for no answer or an unknown invocation. The attempt is recorded.
    pub async fn redeliver(&self, invocation_id: &str) -> Option<u16> {
        let index = self
            .delivery_state()
            .invocations
            .iter()
            .position(|i| i.id == invocation_id)?;
        let _guard = InFlight::start(self);
        self.attempt(index).await.0
    }

    /// While held, new invocations are recorded and queued instead of sent. Turning the hold
    /// off doesn't send the queue: [`Self::release_held`] does.
    pub fn hold_deliveries(&self, hold: bool) {
        self.delivery_state().hold = hold;
    }

    /// Sends the queued invocations one after the other (each with its retries), oldest first
    /// or newest first, and returns when all are done.
    pub async fn release_held(&self, newest_first: bool) {
        let mut queue: Vec<usize> = self.delivery_state().held.drain(..).collect();
        if newest_first {
            queue.reverse();
        }
        let _guard = InFlight::start(self);
        for index in queue {
            self.deliver(index).await;
        }
    }

    /// Returns once no invocation is being sent (held ones don't count), so tests await
    /// deliveries instead of sleeping.
    pub async fn idle(&self) {
        let mut rx = self.inner.deliveries.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_concatenation_of_its_two_parts() {
        // The vector of an older revision of Zendesk's verification page (spec §4.3), signed
        // over body + timestamp: with the parts swapped, this function must reproduce it.
        let secret = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=";
        assert_eq!(
            sign(secret, r#"{"say": "hello"}"#, "2021-07-25T10:00:00Z"),
            "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw="
        );
    }

    #[test]
    fn retries_follow_the_status() {
        let answer = |status, retry_after_secs| Answer {
            status,
            retry_after_secs,
        };
        let retried = |a: Option<&Answer>| matches!(next_step(a), Next::Retry(_));
        assert!(retried(None));
        for status in [409, 429, 500, 502, 503, 504] {
            assert!(retried(Some(&answer(status, None))), "{status}");
        }
        for status in [200, 204, 301, 400, 401, 404, 410, 422] {
            assert!(!retried(Some(&answer(status, None))), "{status}");
        }
        assert!(retried(Some(&answer(429, Some(5)))));
        assert!(!retried(Some(&answer(503, Some(60)))));
        assert!(
            matches!(next_step(Some(&answer(429, Some(5)))), Next::Retry(d) if d == Duration::from_secs(5))
        );
    }
}
