//! When Zendesk or IM fail, the caller gets a clear 5xx naming which one, and no IM group
//! exists for a ticket that was not created.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{assert_error, case, spawn_app, spawn_app_with, wait_until};

fn server_error() -> Fault {
    Fault::Respond {
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: json!({"error": "ServiceUnavailable"}),
    }
}

#[tokio::test]
async fn zendesk_down_is_a_503_with_retry_after_and_no_group() {
    let app = spawn_app().await;
    app.zendesk
        .faults()
        .inject(FaultRule::always("", server_error()));

    let resp = app.create_ticket(&case("alice")).await;

    assert!(resp.headers().contains_key("retry-after"));
    let err = assert_error(resp, 503, "zendesk_unavailable").await;
    assert!(err["ErrorInfo"].as_str().unwrap().contains("Zendesk"));
    assert!(app.im.groups().is_empty());
    assert_eq!(app.im.calls("group_open_http_svc/create_group"), 0);
}

#[tokio::test]
async fn a_zendesk_timeout_is_a_503() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    app.zendesk
        .faults()
        .inject(FaultRule::always("", Fault::Delay(Duration::from_secs(3))));

    let resp = app.create_ticket(&case("alice")).await;

    assert_error(resp, 503, "zendesk_unavailable").await;
    assert!(app.im.groups().is_empty());
}

#[tokio::test]
async fn zendesk_rate_limit_is_a_503_passing_on_retry_after() {
    let app = spawn_app().await;
    app.zendesk.faults().inject(FaultRule::always(
        "",
        Fault::RateLimited {
            retry_after_secs: 45,
        },
    ));

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.headers()["retry-after"], "45");
    assert_error(resp, 503, "zendesk_unavailable").await;
    assert!(app.im.groups().is_empty());
}

#[tokio::test]
async fn wrong_zendesk_credentials_are_a_502_that_says_so() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_API_TOKEN".into(), "not-the-token".into());
    })
    .await;

    let resp = app.create_ticket(&case("alice")).await;

    let err = assert_error(resp, 502, "zendesk_error").await;
    assert!(
        err["ErrorInfo"].as_str().unwrap().contains("credentials"),
        "{err}"
    );
    app.assert_nothing_created();
}

#[tokio::test]
async fn a_transient_zendesk_failure_on_a_read_is_retried() {
    let app = spawn_app().await;
    let first: Value = app
        .create_ticket(&case("alice"))
        .await
        .json()
        .await
        .unwrap();
    app.zendesk
        .faults()
        .inject(FaultRule::new("/api/v2/tickets/", server_error(), 2));
    let mut again = case("alice");
    again["reuse"] = json!(true);

    let resp = app.create_ticket(&again).await;

    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["TicketId"], first["TicketId"]);
}

#[tokio::test]
async fn im_down_is_a_202_pending_with_the_ticket_and_the_group_follows() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::always("", im_internal_error()));

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let ticket = app.zendesk.tickets()[0].id;
    assert_eq!(body["TicketId"], ticket);
    assert_eq!(body["GroupId"], format!("ZENDESK#{ticket}"));
    assert_eq!(body["Status"], "pending");
    assert!(app.im.groups().is_empty());

    // IM comes back: the job queue finishes the case with no help from the client.
    app.im.faults().clear();
    let group = format!("ZENDESK#{ticket}");
    wait_until(Duration::from_secs(15), || {
        app.im
            .group(&group)
            .is_some_and(|g| g.messages.iter().any(|m| !m.system))
    })
    .await;
    assert_eq!(app.zendesk.tickets().len(), 1);
}

#[tokio::test]
async fn an_im_rejection_is_a_502() {
    let app = spawn_app().await;
    app.im.faults().inject(FaultRule::always(
        "create_group",
        Fault::Respond {
            status: StatusCode::OK,
            body: json!({"ActionStatus": "FAIL", "ErrorCode": 10004, "ErrorInfo": "invalid parameters"}),
        },
    ));

    let resp = app.create_ticket(&case("alice")).await;

    assert_error(resp, 502, "im_error").await;
}

#[tokio::test]
async fn im_unreachable_is_a_202_pending() {
    let app = spawn_app_with(|env| {
        // A port nothing listens on.
        env.insert("IM_BASE_URL".into(), "http://127.0.0.1:9".into());
    })
    .await;

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.status(), 202);
    assert_eq!(app.zendesk.tickets().len(), 1);
}

#[tokio::test]
async fn after_an_im_failure_a_retry_with_reuse_finishes_the_same_case() {
    let app = spawn_app().await;
    app.im
        .faults()
        .inject(FaultRule::new("create_group", im_internal_error(), 1));
    let first = app.create_ticket(&case("alice")).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let mut retry = case("alice");
    retry["reuse"] = json!(true);

    let resp = app.create_ticket(&retry).await;

    assert_eq!(resp.status(), 200);
    app.wait_for_jobs().await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["TicketId"], first["TicketId"]);
    assert_eq!(body["Reused"], true);
    assert_eq!(app.zendesk.tickets().len(), 1);
    let group = app.im.group(body["GroupId"].as_str().unwrap()).unwrap();
    assert_eq!(
        group.messages.iter().filter(|m| !m.system).count(),
        1,
        "one greeting"
    );
    assert_eq!(
        app.im.calls("group_open_http_svc/create_group"),
        1,
        "the group was made once (the refused call never reached IM)"
    );
}

fn im_internal_error() -> Fault {
    Fault::Respond {
        status: StatusCode::OK,
        body: json!({"ActionStatus": "FAIL", "ErrorCode": 10002, "ErrorInfo": "internal error"}),
    }
}
