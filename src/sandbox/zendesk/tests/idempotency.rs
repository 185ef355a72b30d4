//! `Idempotency-Key` on ticket creation, including a response lost after the work was done.

use std::time::Duration;

use serde_json::{json, Value};

use super::{header_str, json_of, text_of, TestZendesk};
use crate::sandbox::faults::{Fault, FaultRule};

fn ticket_body() -> Value {
    json!({"ticket": {
        "subject": "Refund", "comment": {"body": "Order 42"},
        "requester": {"name": "Alice", "email": "alice@example.com"}, "tags": ["tencent_im"]
    }})
}

#[tokio::test]
async fn same_key_and_body_replays_the_first_response() {
    let zd = TestZendesk::start().await;

    let first = zd.create_ticket_with_key("key-1", &ticket_body()).await;
    assert_eq!(first.status(), 201);
    assert_eq!(
        header_str(&first, "x-idempotency-lookup").as_deref(),
        Some("miss")
    );
    let first_location = header_str(&first, "location");
    let first_body = text_of(first).await;

    // Same JSON, other key order: the same request.
    let reordered: Value = json!({"ticket": {
        "tags": ["tencent_im"], "requester": {"email": "alice@example.com", "name": "Alice"},
        "comment": {"body": "Order 42"}, "subject": "Refund"
    }});
    let again = zd.create_ticket_with_key("key-1", &reordered).await;

    assert_eq!(again.status(), 201);
    assert_eq!(
        header_str(&again, "x-idempotency-lookup").as_deref(),
        Some("hit")
    );
    assert_eq!(header_str(&again, "location"), first_location);
    assert_eq!(text_of(again).await, first_body);
    assert_eq!(zd.emu.tickets().len(), 1);
}

#[tokio::test]
async fn same_key_with_another_body_is_an_idempotent_request_error() {
    let zd = TestZendesk::start().await;
    zd.create_ticket_with_key("key-2", &ticket_body()).await;

    let mut other = ticket_body();
    other["ticket"]["subject"] = json!("Something else");
    let resp = zd.create_ticket_with_key("key-2", &other).await;

    assert_eq!(resp.status(), 400);
    assert_eq!(
        json_of(resp).await,
        json!({"error": "IdempotentRequestError",
               "description": "Request parameters don't match the given idempotency key"})
    );
    assert_eq!(zd.emu.tickets().len(), 1);
}

#[tokio::test]
async fn keys_expire_after_two_hours() {
    let zd = TestZendesk::start().await;
    zd.create_ticket_with_key("key-3", &ticket_body()).await;

    zd.emu.advance_clock(Duration::from_secs(2 * 60 * 60 - 60));
    let still = zd.create_ticket_with_key("key-3", &ticket_body()).await;
    assert_eq!(
        header_str(&still, "x-idempotency-lookup").as_deref(),
        Some("hit")
    );

    zd.emu.advance_clock(Duration::from_secs(120));
    let expired = zd.create_ticket_with_key("key-3", &ticket_body()).await;
    assert_eq!(expired.status(), 201);
    assert_eq!(
        header_str(&expired, "x-idempotency-lookup").as_deref(),
        Some("miss")
    );
    assert_eq!(json_of(expired).await["ticket"]["id"], 2);
}

#[tokio::test]
async fn a_refused_create_does_not_burn_the_key() {
    let zd = TestZendesk::start().await;
    let bad = json!({"ticket": {"subject": "no comment"}});
    assert_eq!(zd.create_ticket_with_key("key-4", &bad).await.status(), 422);

    let good = zd.create_ticket_with_key("key-4", &ticket_body()).await;
    assert_eq!(good.status(), 201);
}

#[tokio::test]
async fn a_lost_response_then_a_retry_with_the_key_gives_the_same_ticket() {
    let zd = TestZendesk::start().await;
    zd.emu
        .faults()
        .inject(FaultRule::new("/api/v2/tickets", Fault::LoseResponse, 1));

    let lost = zd.create_ticket_with_key("key-5", &ticket_body()).await;
    assert_eq!(lost.status(), 502);
    assert_eq!(zd.emu.tickets().len(), 1, "the work was done");

    let retry = zd.create_ticket_with_key("key-5", &ticket_body()).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(
        header_str(&retry, "x-idempotency-lookup").as_deref(),
        Some("hit")
    );
    assert_eq!(json_of(retry).await["ticket"]["id"], 1);
    assert_eq!(zd.emu.tickets().len(), 1);
    assert_eq!(zd.emu.request_count(), 2);
}

#[tokio::test]
async fn blank_or_overlong_keys_are_refused() {
    let zd = TestZendesk::start().await;
    let long = "k".repeat(256);
    for key in ["   ", long.as_str()] {
        let resp = zd.create_ticket_with_key(key, &ticket_body()).await;
        assert_eq!(resp.status(), 400);
    }
    assert!(zd.emu.tickets().is_empty());
}
