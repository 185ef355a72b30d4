//! Nothing lost, nothing twice: client retries with `Idempotency-Key`, lost answers from
//! either upstream, IM's duplicate window, permanent failures kept for the operator.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{
    assert_error, case, spawn_app, spawn_app_with, ticket_made_but_answered_late, wait_until,
};

fn greetings(app: &crate::helpers::TestApp, group: &str) -> usize {
    app.im
        .group(group)
        .map_or(0, |g| g.messages.iter().filter(|m| !m.system).count())
}

fn im_error(code: i64) -> Fault {
    Fault::Respond {
        status: StatusCode::OK,
        body: json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": "emulated"}),
    }
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_same_answer_and_no_second_ticket() {
    let app = spawn_app().await;

    let first: Value = app
        .create_ticket_with_key(&case("alice"), "k-1")
        .await
        .json()
        .await
        .unwrap();
    let again = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.zendesk.tickets().len(), 1);
    assert_eq!(app.im.groups().len(), 1);
    assert_eq!(greetings(&app, first["GroupId"].as_str().unwrap()), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_409_and_creates_nothing() {
    let app = spawn_app().await;
    app.create_ticket_with_key(&case("alice"), "k-1").await;
    let mut other = case("alice");
    other["caseInfo"]["desc"] = json!("a different problem");

    let resp = app.create_ticket_with_key(&other, "k-1").await;

    assert_error(resp, 409, "idempotency_conflict").await;
    assert_eq!(app.zendesk.tickets().len(), 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_user() {
    let app = spawn_app().await;

    let a: Value = app
        .create_ticket_with_key(&case("alice"), "same")
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .create_ticket_with_key(&case("bob"), "same")
        .await
        .json()
        .await
        .unwrap();

    assert_ne!(a["TicketId"], b["TicketId"]);
    assert_eq!(app.zendesk.tickets().len(), 2);
}

#[tokio::test]
async fn a_bad_key_is_a_400() {
    let app = spawn_app().await;
    let resp = app
        .create_ticket_with_key(&case("alice"), &"k".repeat(256))
        .await;
    assert_error(resp, 400, "invalid_idempotency_key").await;
    app.assert_nothing_created();
}

#[tokio::test]
async fn zendesk_down_then_back_converges_to_one_ticket_for_the_key() {
    let app = spawn_app().await;
    app.zendesk.faults().inject(FaultRule::always(
        "/api/v2/tickets",
        Fault::Respond {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({"error": "Unavailable"}),
        },
    ));

    let down = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert!(down.headers().contains_key("retry-after"));
    assert_error(down, 503, "zendesk_unavailable").await;
    app.zendesk.faults().clear();
    let back = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(back.status(), 200);
    let body: Value = back.json().await.unwrap();
    assert_eq!(app.zendesk.tickets().len(), 1);
    assert_eq!(
        app.zendesk.tickets()[0].id,
        body["TicketId"].as_u64().unwrap()
    );
    app.wait_for_jobs().await;
    assert_eq!(greetings(&app, body["GroupId"].as_str().unwrap()), 1);
}

#[tokio::test]
async fn a_lost_zendesk_answer_does_not_open_a_second_ticket() {
    let app = spawn_app().await;
    // Zendesk creates the ticket, then the answer is lost — twice.
    app.zendesk
        .faults()
        .inject(FaultRule::new("/api/v2/tickets", Fault::LoseResponse, 2));

    let resp = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.zendesk.tickets().len(),
        1,
        "the Idempotency-Key replayed the first ticket"
    );
}

#[tokio::test]
async fn a_lost_im_answer_neither_fails_nor_duplicates_the_group_or_greeting() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::new("create_group", Fault::LoseResponse, 1));
    app.im
        .faults()
        .inject(FaultRule::new("send_group_msg", Fault::LoseResponse, 1));

    let first = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(
        first.status(),
        202,
        "the group was made but its answer lost"
    );
    // The retry adopts the group; the chat can open (the greeting's answer is lost next, and
    // the job sends it again with the same Random in the background).
    let done = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(done.status(), 200);
    app.wait_for_jobs().await;
    let body: Value = done.json().await.unwrap();
    let group = body["GroupId"].as_str().unwrap();
    assert_eq!(app.im.groups().len(), 1);
    assert!(app
        .im
        .group(group)
        .unwrap()
        .members
        .contains(&"alice".to_owned()));
    assert_eq!(greetings(&app, group), 1, "IM dropped the repeated Random");
}

#[tokio::test]
async fn after_ims_duplicate_window_the_history_prevents_a_second_greeting() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::new("send_group_msg", Fault::LoseResponse, 1));
    let first: Value = app
        .create_ticket_with_key(&case("alice"), "k-1")
        .await
        .json()
        .await
        .unwrap();
    let group = first["GroupId"].as_str().unwrap();
    wait_until(Duration::from_secs(20), || greetings(&app, group) == 1).await;
    // The job whose answer was lost waits out its backoff; ten minutes pass meanwhile: IM's
    // 5-minute duplicate window is over on both sides.
    app.im.advance_clock(600);
    app.sql("UPDATE tickets SET greet_attempt_at = greet_attempt_at - 600000")
        .await;

    let retry = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(retry.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(
        greetings(&app, group),
        1,
        "found in the history, not sent again"
    );
}

#[tokio::test]
async fn after_the_window_a_greeting_that_never_arrived_is_sent() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::new("send_group_msg", im_error(10002), 1));
    let first: Value = app
        .create_ticket_with_key(&case("alice"), "k-1")
        .await
        .json()
        .await
        .unwrap();
    let group = first["GroupId"].as_str().unwrap();
    assert_eq!(greetings(&app, group), 0);
    app.im.advance_clock(600);
    app.sql("UPDATE tickets SET greet_attempt_at = greet_attempt_at - 600000")
        .await;

    let retry = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(retry.status(), 200);
    // The answer does not wait for the greeting; it follows in the same job.
    app.wait_for_jobs().await;
    assert_eq!(greetings(&app, group), 1);
}

#[tokio::test]
async fn zendesk_429s_are_waited_out_within_the_deadline() {
    let app = spawn_app().await;
    app.zendesk.faults().inject(FaultRule::new(
        "/api/v2/tickets",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        2,
    ));

    let resp = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_eq!(resp.status(), 200);
    assert_eq!(app.zendesk.tickets().len(), 1);
}

#[tokio::test]
async fn ims_frequency_limit_is_waited_out() {
    let app = spawn_app().await;
    // IM says "too many calls" (60007, 10023) on the first group create and greeting.
    app.im
        .faults()
        .inject(FaultRule::new("create_group", im_error(60007), 1));
    app.im
        .faults()
        .inject(FaultRule::new("send_group_msg", im_error(10023), 1));

    let first = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(first.status(), 202);
    let group = format!("ZENDESK#{}", app.zendesk.tickets()[0].id);
    // The job queue retries after its backoff; no client retry needed.
    wait_until(Duration::from_secs(20), || greetings(&app, &group) == 1).await;
    let done = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(done.status(), 200);
    assert_eq!(app.im.groups().len(), 1);
    assert_eq!(greetings(&app, &group), 1);
}

#[tokio::test]
async fn a_slow_zendesk_gets_a_503_within_the_deadline_and_the_ticket_follows() {
    let app = spawn_app_with(|env| {
        env.insert("REQUEST_DEADLINE_SECS".into(), "1".into());
    })
    .await;
    app.zendesk.faults().inject(FaultRule::new(
        "/api/v2/tickets",
        Fault::Delay(Duration::from_millis(1500)),
        1,
    ));

    let started = std::time::Instant::now();
    let resp = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_error(resp, 503, "zendesk_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "answered at the deadline"
    );
    wait_until(Duration::from_secs(10), || app.im.groups().len() == 1).await;
    let done = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(done.status(), 200);
    assert_eq!(app.zendesk.tickets().len(), 1);
}

#[tokio::test]
async fn a_ticket_create_that_times_out_after_zendesk_made_it_is_not_repeated() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    // Zendesk makes the ticket, then answers too late for the bridge's 1 s timeout.
    app.zendesk.faults().inject(ticket_made_but_answered_late());

    let resp = app.create_ticket_with_key(&case("alice"), "k-1").await;

    assert_error(resp, 503, "zendesk_unavailable").await;
    assert_eq!(app.zendesk.tickets().len(), 1, "Zendesk did make it");
    // The job retries with the same Zendesk Idempotency-Key and gets that ticket back.
    wait_until(Duration::from_secs(15), || app.im.groups().len() == 1).await;
    let done = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(done.status(), 200);
    let body: Value = done.json().await.unwrap();
    assert_eq!(app.zendesk.tickets().len(), 1);
    assert_eq!(body["TicketId"], app.zendesk.tickets()[0].id);
}

#[tokio::test]
async fn after_zendesks_two_hour_key_window_the_ticket_is_found_not_made_again() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_TIMEOUT_SECS".into(), "1".into());
        env.insert("REQUEST_DEADLINE_SECS".into(), "1".into());
    })
    .await;
    app.zendesk.faults().inject(ticket_made_but_answered_late());
    let first = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_error(first, 503, "zendesk_unavailable").await;
    assert_eq!(app.zendesk.tickets().len(), 1, "made, answer lost");
    // Three hours pass before the retry: Zendesk has forgotten the Idempotency-Key.
    app.zendesk.advance_clock(Duration::from_secs(3 * 3600));
    app.sql("UPDATE cases SET created_at = created_at - 10800000")
        .await;

    wait_until(Duration::from_secs(15), || app.im.groups().len() == 1).await;

    assert_eq!(app.zendesk.tickets().len(), 1, "found by its external_id");
    let done: Value = app
        .create_ticket_with_key(&case("alice"), "k-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["TicketId"], app.zendesk.tickets()[0].id);
}

#[tokio::test]
async fn a_permanent_failure_is_kept_for_the_operator_and_reconcile_finishes_it() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::always("create_group", im_error(10004)));

    let resp = app.create_ticket_with_key(&case("alice"), "k-1").await;

    let err = assert_error(resp, 502, "im_error").await;
    let jobs = app.run_cli(&["jobs"]).await;
    assert!(jobs.contains("failed  1"), "{jobs}");
    assert!(jobs.contains("10004"), "the error is shown: {jobs}");

    app.im.faults().clear();
    let out = app.run_cli(&["reconcile"]).await;
    assert!(
        out.contains("unfinished cases: 1; open tickets checked: 0; conversations caught up: 0; jobs finished now: 1; will retry: 0; failed: 0"),
        "{out}"
    );
    let group = err["GroupId"].as_str().unwrap();
    assert_eq!(greetings(&app, group), 1);
    assert!(app.run_cli(&["jobs"]).await.contains("failed  0"));
}
