//! Ticket events delivered to a local receiver: signature, headers and payload; which webhooks
//! get what; retries, redelivery, late and reordered delivery.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::webhooks::event_webhook;
use super::{TestZendesk, API_TOKEN};
use crate::sandbox::zendesk::{WebhookDeliveryConfig, DEFAULT_ACCOUNT_ID};
use crate::sandbox::{serve, Served};

const RETRIES: usize = 3;

/// How the receiver answers its next request.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reply {
    Status(u16),
    /// 200 after this long.
    Slow(Duration),
    /// 200 once the test opens the gate.
    Gated,
}

#[derive(Debug, Clone)]
pub(super) struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A local endpoint recording every request; answers 200 unless told otherwise.
#[derive(Clone)]
pub(super) struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    gate: Arc<Semaphore>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    locked(&r.log).push(Received { headers, body });
    let reply = locked(&r.replies).pop_front();
    match reply {
        None => StatusCode::OK,
        Some(Reply::Status(s)) => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
        Some(Reply::Slow(d)) => {
            tokio::time::sleep(d).await;
            StatusCode::OK
        }
        Some(Reply::Gated) => {
            if let Ok(permit) = r.gate.acquire().await {
                permit.forget();
            }
            StatusCode::OK
        }
    }
}

impl Receiver {
    pub(super) async fn start(replies: &[Reply]) -> (Self, Served) {
        let r = Self {
            log: Arc::default(),
            replies: Arc::new(Mutex::new(replies.iter().copied().collect())),
            gate: Arc::new(Semaphore::new(0)),
        };
        let router = Router::new()
            .route("/hook", post(hook))
            .with_state(r.clone());
        match serve(router, 0).await {
            Ok(served) => (r, served),
            Err(e) => panic!("cannot serve the receiver: {e}"),
        }
    }

    pub(super) fn received(&self) -> Vec<Received> {
        locked(&self.log).clone()
    }
}

pub(super) fn endpoint(served: &Served) -> String {
    format!("{}/hook", served.base_url)
}

impl TestZendesk {
    /// An emulator whose deliveries give up fast: 300 ms timeout, 3 retries 20 ms apart.
    pub(super) async fn fast_webhooks() -> Self {
        Self::with_config(|c| {
            c.webhook_delivery = WebhookDeliveryConfig {
                timeout: Duration::from_millis(300),
                retry_delays: vec![Duration::from_millis(20); RETRIES],
            };
        })
        .await
    }

    pub(super) fn carol(&self) -> u64 {
        self.emu
            .user_by_email("carol@example.com")
            .map(|u| u.id)
            .unwrap_or(0)
    }
}

fn expected_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Asserts the request is signed with `secret` over its timestamp and raw body.
fn assert_signed(r: &Received, secret: &str) {
    let timestamp = r.header("x-zendesk-webhook-signature-timestamp");
    assert_eq!(timestamp.len(), 20, "{timestamp}");
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
    assert_eq!(
        r.header("x-zendesk-webhook-signature"),
        expected_signature(secret, &timestamp, &r.body)
    );
}

fn types(received: &[Received]) -> Vec<String> {
    let mut t: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn an_assignment_by_put_delivers_one_signed_event() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    let id = zd
        .new_webhook(&event_webhook(
            "Bridge",
            &endpoint(&served),
            &["agent_assignment_changed"],
        ))
        .await;
    let secret = zd.emu.signing_secret(&id).unwrap_or_default();
    let ticket = zd.simple_ticket().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");

    let resp = zd
        .update_ticket(ticket, json!({"ticket": {"assignee_id": agent}}))
        .await;
    assert_eq!(resp.status(), 200);
    zd.emu.idle().await;

    // The update also opened the ticket, but this webhook only takes assignments.
    let received = rx.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_signed(r, &secret);
    let invocations = zd.emu.invocations();
    assert_eq!(invocations.len(), 1);
    let inv = &invocations[0];
    assert_eq!(inv.attempts, vec![Some(200)]);
    assert_eq!(
        (inv.webhook_id.as_str(), inv.ticket_id),
        (id.as_str(), ticket)
    );
    assert_eq!(
        inv.event_type,
        "zen:event-type:ticket.agent_assignment_changed"
    );
    assert_eq!(inv.body, r.body);
    assert_eq!(inv.id.len(), 26);
    assert_eq!(r.header("x-zendesk-webhook-invocation-id"), inv.id);
    assert_eq!(r.header("x-zendesk-webhook-id"), id);
    assert_eq!(
        r.header("x-zendesk-account-id"),
        DEFAULT_ACCOUNT_ID.to_string()
    );
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("user-agent"), "Zendesk Webhook");

    let event = r.json();
    assert_eq!(
        event["type"],
        "zen:event-type:ticket.agent_assignment_changed"
    );
    assert_eq!(event["account_id"], DEFAULT_ACCOUNT_ID);
    assert!(event["id"].as_str().is_some_and(|s| s.len() == 36));
    let time = event["time"].as_str().unwrap_or_default();
    assert!(time.ends_with('Z') && time.contains('.'), "{time}");
    assert_eq!(event["zendesk_event_version"], "2022-11-06");
    assert_eq!(event["subject"], format!("zen:ticket:{ticket}"));
    let d = &event["detail"];
    assert_eq!(d["id"], ticket.to_string());
    assert_eq!(d["assignee_id"], agent.to_string());
    assert_eq!(d["requester_id"], zd.carol().to_string());
    assert_eq!(d["actor_id"], zd.emu.admin_id().to_string());
    assert_eq!(d["status"], "OPEN");
    assert_eq!(d["subject"], "Help");
    assert_eq!(d["description"], "It broke");
    assert_eq!(d["is_public"], true);
    let e = &event["event"];
    assert_eq!(e["current"], agent.to_string());
    assert!(e["previous"].is_null());
    assert!(e["meta"]["sequence"]["id"].is_string());
    assert!(e["meta"]["sequence"]["position"].is_u64());
}

#[tokio::test]
async fn status_changes_and_comments_deliver_their_types() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    let mut body = event_webhook(
        "Bridge",
        &endpoint(&served),
        &[
            "status_changed",
            "comment_added",
            "agent_assignment_changed",
        ],
    );
    body["webhook"]["authentication"] =
        json!({"type": "bearer_token", "add_position": "header", "data": {"token": "s3cret"}});
    body["webhook"]["custom_headers"] = json!({"X-Bridge-Env": "test"});
    let id = zd.new_webhook(&body).await;
    let secret = zd.emu.signing_secret(&id).unwrap_or_default();
    let ticket = zd.simple_ticket().await;

    let resp = zd
        .update_ticket(
            ticket,
            json!({"ticket": {"status": "pending", "comment": {"body": "On it"}}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    zd.emu.idle().await;

    let received = rx.received();
    assert_eq!(
        types(&received),
        vec![
            "zen:event-type:ticket.comment_added",
            "zen:event-type:ticket.status_changed"
        ]
    );
    let events: Vec<Value> = received.iter().map(Received::json).collect();
    let by_type = |t: &str| {
        events
            .iter()
            .find(|e| e["type"] == format!("zen:event-type:ticket.{t}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let status = by_type("status_changed");
    assert_eq!(status["event"]["current"], "PENDING");
    assert_eq!(status["event"]["previous"], "NEW");
    assert_eq!(status["detail"]["status"], "PENDING");
    let comment = by_type("comment_added");
    let c = &comment["event"]["comment"];
    assert_eq!(c["body"], "On it");
    assert_eq!(c["is_public"], true);
    assert!(c["id"].is_string());
    assert_eq!(c["author"]["id"], zd.emu.admin_id().to_string());
    assert_eq!(c["author"]["is_staff"], true);
    assert_eq!(c["author"]["name"], "admin");
    // One action, one sequence; distinct positions.
    let seq = |e: &Value| e["event"]["meta"]["sequence"].clone();
    assert_eq!(seq(&status)["id"], seq(&comment)["id"]);
    assert_ne!(seq(&status)["position"], seq(&comment)["position"]);
    for r in &received {
        assert_signed(r, &secret);
        assert_eq!(r.header("authorization"), "Bearer s3cret");
        assert_eq!(r.header("x-bridge-env"), "test");
    }

    // The helper methods take the same path.
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");
    let before = rx.received().len();
    assert_eq!(zd.emu.assign(ticket, Some(agent)), Ok(()));
    assert_eq!(zd.emu.set_status(ticket, "solved"), Ok(()));
    let comment_id = zd.emu.add_public_comment(ticket, zd.carol(), "Thanks!");
    zd.emu.idle().await;
    let later: Vec<Value> = rx.received()[before..].iter().map(Received::json).collect();
    assert_eq!(later.len(), 3);
    let find = |t: &str| {
        later
            .iter()
            .find(|e| e["type"] == format!("zen:event-type:ticket.{t}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        find("agent_assignment_changed")["event"]["current"],
        agent.to_string()
    );
    assert_eq!(find("status_changed")["event"]["current"], "SOLVED");
    assert_eq!(find("status_changed")["event"]["previous"], "PENDING");
    let from_customer = find("comment_added");
    let c = &from_customer["event"]["comment"];
    assert_eq!(
        c["id"],
        comment_id.map(|i| i.to_string()).unwrap_or_default()
    );
    assert_eq!(c["author"]["id"], zd.carol().to_string());
    assert_eq!(c["author"]["is_staff"], false);
    assert_eq!(c["author"]["name"], "Carol");

    // Invalid helper calls are refused like the API call would be.
    assert!(zd.emu.set_status(ticket, "done").is_err());
    assert!(zd.emu.assign(ticket, Some(zd.carol())).is_err());
    assert!(zd.emu.assign(999, None).is_err());
}

#[tokio::test]
async fn unsubscribed_and_inactive_webhooks_get_nothing() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    let comments = zd
        .new_webhook(&event_webhook(
            "comments",
            &endpoint(&served),
            &["comment_added"],
        ))
        .await;
    let mut inactive = event_webhook("off", &endpoint(&served), &["status_changed"]);
    inactive["webhook"]["status"] = json!("inactive");
    zd.new_webhook(&inactive).await;
    let triggers = json!({"webhook": {
        "name": "triggers", "endpoint": endpoint(&served), "http_method": "POST",
        "request_format": "json", "status": "active",
        "subscriptions": ["conditional_ticket_events"]
    }});
    zd.new_webhook(&triggers).await;
    let ticket = zd.simple_ticket().await;

    let resp = zd
        .update_ticket(ticket, json!({"ticket": {"status": "open"}}))
        .await;
    assert_eq!(resp.status(), 200);
    // An update that changes nothing causes no event either.
    zd.update_ticket(ticket, json!({"ticket": {"status": "open"}}))
        .await;
    zd.emu.idle().await;
    assert!(rx.received().is_empty());
    assert!(zd.emu.invocations().is_empty());

    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "hi"}}}))
        .await;
    zd.emu.idle().await;
    let received = rx.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-zendesk-webhook-id"), comments);

    // Deactivated (PATCH) and deleted webhooks get nothing more.
    let patch = json!({"webhook": {"status": "inactive"}});
    let resp = zd
        .webhooks_call(
            reqwest::Method::PATCH,
            &format!("/api/v2/webhooks/{comments}"),
            Some(("application/merge-patch+json", &patch)),
            &TestZendesk::admin_auth(),
        )
        .await;
    assert_eq!(resp.status(), 204);
    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "again"}}}))
        .await;
    zd.emu.idle().await;
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_invocation_id() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[Reply::Status(500), Reply::Status(200)]).await;
    let id = zd
        .new_webhook(&event_webhook("w", &endpoint(&served), &["comment_added"]))
        .await;
    let secret = zd.emu.signing_secret(&id).unwrap_or_default();
    let ticket = zd.simple_ticket().await;

    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "hi"}}}))
        .await;
    zd.emu.idle().await;

    let received = rx.received();
    assert_eq!(received.len(), 2);
    let invocation = received[0].header("x-zendesk-webhook-invocation-id");
    assert!(!invocation.is_empty());
    assert_eq!(
        received[1].header("x-zendesk-webhook-invocation-id"),
        invocation
    );
    assert_eq!(received[0].body, received[1].body);
    for r in &received {
        assert_signed(r, &secret);
    }
    let attempts: Vec<_> = zd
        .emu
        .invocations()
        .into_iter()
        .map(|i| i.attempts)
        .collect();
    assert_eq!(attempts, vec![vec![Some(500), Some(200)]]);

    // 409 and 429 are retried; other 4xx end the invocation.
    let (rx2, served2) =
        Receiver::start(&[Reply::Status(409), Reply::Status(429), Reply::Status(404)]).await;
    let patch = json!({"webhook": {"endpoint": endpoint(&served2)}});
    let resp = zd
        .webhooks_call(
            reqwest::Method::PATCH,
            &format!("/api/v2/webhooks/{id}"),
            Some(("application/merge-patch+json", &patch)),
            &TestZendesk::admin_auth(),
        )
        .await;
    assert_eq!(resp.status(), 204);
    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "again"}}}))
        .await;
    zd.emu.idle().await;
    assert_eq!(rx2.received().len(), 3);
    let last = zd.emu.invocations().pop().map(|i| i.attempts);
    assert_eq!(last, Some(vec![Some(409), Some(429), Some(404)]));
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[Reply::Slow(Duration::from_secs(2))]).await;
    zd.new_webhook(&event_webhook(
        "slow",
        &endpoint(&served),
        &["comment_added"],
    ))
    .await;
    // A port nobody listens on.
    let closed = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(9),
        Err(e) => panic!("{e}"),
    };
    zd.new_webhook(&event_webhook(
        "down",
        &format!("http://127.0.0.1:{closed}/hook"),
        &["comment_added"],
    ))
    .await;
    let ticket = zd.simple_ticket().await;

    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "hi"}}}))
        .await;
    zd.emu.idle().await;

    let attempts: Vec<_> = zd
        .emu
        .invocations()
        .into_iter()
        .map(|i| i.attempts)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0], vec![None, Some(200)]);
    assert_eq!(attempts[1], vec![None; RETRIES + 1]);
    assert_eq!(rx.received().len(), 2);
}

#[tokio::test]
async fn the_update_does_not_wait_for_the_delivery() {
    // A long timeout: the held answer must not count as unanswered however slow the test runs.
    let zd =
        TestZendesk::with_config(|c| c.webhook_delivery.timeout = Duration::from_secs(60)).await;
    let (rx, served) = Receiver::start(&[Reply::Gated]).await;
    zd.new_webhook(&event_webhook("w", &endpoint(&served), &["comment_added"]))
        .await;
    let ticket = zd.simple_ticket().await;

    // The receiver holds its answer until the gate opens: the update returns anyway.
    let resp = zd
        .update_ticket(ticket, json!({"ticket": {"comment": {"body": "hi"}}}))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(zd.emu.invocations()[0].attempts.is_empty());
    rx.gate.add_permits(1);
    zd.emu.idle().await;
    assert_eq!(zd.emu.invocations()[0].attempts, vec![Some(200)]);
}

#[tokio::test]
async fn redelivery_repeats_the_invocation_freshly_signed() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    let id = zd
        .new_webhook(&event_webhook("w", &endpoint(&served), &["comment_added"]))
        .await;
    let ticket = zd.simple_ticket().await;
    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "hi"}}}))
        .await;
    zd.emu.idle().await;
    let invocation = zd.emu.invocations()[0].id.clone();

    // A reset secret signs what is sent from now on.
    let resp = zd
        .webhooks_call(
            reqwest::Method::POST,
            &format!("/api/v2/webhooks/{id}/signing_secret"),
            None,
            &TestZendesk::admin_auth(),
        )
        .await;
    assert_eq!(resp.status(), 201);
    zd.emu.advance_clock(Duration::from_secs(90));
    assert_eq!(zd.emu.redeliver(&invocation).await, Some(200));
    assert_eq!(zd.emu.redeliver("01NOSUCHINVOCATION00000000").await, None);

    let received = rx.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].header("x-zendesk-webhook-invocation-id"),
        invocation
    );
    assert_eq!(received[0].body, received[1].body);
    assert_ne!(
        received[0].header("x-zendesk-webhook-signature-timestamp"),
        received[1].header("x-zendesk-webhook-signature-timestamp")
    );
    assert_signed(
        &received[1],
        &zd.emu.signing_secret(&id).unwrap_or_default(),
    );
    assert_eq!(zd.emu.invocations()[0].attempts, vec![Some(200), Some(200)]);
}

#[tokio::test]
async fn held_deliveries_arrive_late_and_reversed() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    zd.new_webhook(&event_webhook("w", &endpoint(&served), &["comment_added"]))
        .await;
    let ticket = zd.simple_ticket().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");
    let agent_auth = TestZendesk::basic("agnes@example.com", API_TOKEN);

    zd.emu.hold_deliveries(true);
    for text in ["one", "two", "three"] {
        let resp = zd
            .update_ticket_as(
                ticket,
                json!({"ticket": {"comment": {"body": text}}}),
                &agent_auth,
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    zd.emu.idle().await;
    assert!(rx.received().is_empty());
    assert_eq!(zd.emu.invocations().len(), 3);
    assert!(zd.emu.invocations().iter().all(|i| i.attempts.is_empty()));

    zd.emu.release_held(true).await;
    let bodies: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json()["event"]["comment"]["body"].clone())
        .collect();
    assert_eq!(bodies, vec![json!("three"), json!("two"), json!("one")]);
    let authors: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json()["detail"]["actor_id"].clone())
        .collect();
    assert_eq!(authors, vec![json!(agent.to_string()); 3]);

    zd.emu.hold_deliveries(false);
    zd.update_ticket(ticket, json!({"ticket": {"comment": {"body": "four"}}}))
        .await;
    zd.emu.idle().await;
    assert_eq!(rx.received().len(), 4);
}
