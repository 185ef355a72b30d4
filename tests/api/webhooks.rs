//! Assignment and lifecycle through Zendesk's signed webhooks (issue 4): the emulated Zendesk
//! delivers real signed events to the bridge over HTTP; assertions read the emulated IM.

use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{
    assert_error, case, group_of, sign_webhook, spawn_app_with, spawn_app_with_webhooks, unix_now,
    utc, wait_until, TestApp, ADMIN,
};

/// Opens a case for `user` and returns its ticket id.
async fn open_case(app: &TestApp, user: &str) -> u64 {
    let resp = app.create_ticket(&case(user)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["TicketId"].as_u64().unwrap()
}

fn group(ticket: u64) -> String {
    group_of(ticket)
}

/// The admin's messages in the group but the greeting (its first), as text.
fn notices(app: &TestApp, ticket: u64) -> Vec<String> {
    app.group_texts_from(ticket, ADMIN)
        .into_iter()
        .skip(1)
        .collect()
}

fn members(app: &TestApp, ticket: u64) -> Vec<String> {
    app.im.group(&group(ticket)).expect("group").members
}

/// Waits for the emulator to deliver everything and the bridge to process it.
async fn settle(app: &TestApp) {
    app.zendesk.idle().await;
    app.wait_for_jobs().await;
}

#[tokio::test]
async fn an_assignment_in_zendesk_puts_the_agent_in_the_group_once() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let agent = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let ticket = open_case(&app, "alice").await;

    app.zendesk.assign(ticket, Some(agent)).unwrap();

    let im_id = format!("zd_{agent}");
    wait_until(Duration::from_secs(10), || {
        members(&app, ticket).contains(&im_id)
    })
    .await;
    settle(&app).await;
    let account = app.im.account(&im_id).expect("the agent's IM account");
    assert_eq!(account.nick.as_deref(), Some("Sam Agent"));
    let notices = notices(&app, ticket);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("Sam Agent"), "{notices:?}");
    assert!(members(&app, ticket).contains(&"alice".to_owned()));

    // Zendesk delivers the same invocation three more times: nothing changes.
    let invocation = app.zendesk.invocations()[0].id.clone();
    for _ in 0..3 {
        assert_eq!(app.zendesk.redeliver(&invocation).await, Some(200));
    }
    settle(&app).await;
    assert_eq!(self::notices(&app, ticket).len(), 1);
    assert_eq!(
        app.inbound_count("zen:event-type:ticket.agent_assignment_changed")
            .await,
        1,
        "the redeliveries were recognised as one event"
    );
}

#[tokio::test]
async fn reassignment_swaps_the_agents_and_unassignment_removes_them() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let kim = app.zendesk.seed_agent("Kim Agent", "kim@acme.test");
    let ticket = open_case(&app, "alice").await;

    app.zendesk.assign(ticket, Some(sam)).unwrap();
    settle(&app).await;
    app.zendesk.assign(ticket, Some(kim)).unwrap();
    settle(&app).await;

    let m = members(&app, ticket);
    assert!(
        m.contains(&format!("zd_{kim}")) && !m.contains(&format!("zd_{sam}")),
        "{m:?}"
    );
    let n = notices(&app, ticket);
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(n[1].contains("Kim Agent"));

    app.zendesk.assign(ticket, None).unwrap();
    settle(&app).await;
    assert!(!members(&app, ticket).contains(&format!("zd_{kim}")));
    assert_eq!(notices(&app, ticket).len(), 2, "nobody new joined");
}

#[tokio::test]
async fn the_previous_assignee_can_be_kept() {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("REMOVE_PREVIOUS_ASSIGNEE".into(), "false".into());
    })
    .await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let kim = app.zendesk.seed_agent("Kim Agent", "kim@acme.test");
    let ticket = open_case(&app, "alice").await;

    app.zendesk.assign(ticket, Some(sam)).unwrap();
    settle(&app).await;
    app.zendesk.assign(ticket, Some(kim)).unwrap();
    settle(&app).await;

    let m = members(&app, ticket);
    assert!(
        m.contains(&format!("zd_{kim}")) && m.contains(&format!("zd_{sam}")),
        "{m:?}"
    );
}

#[tokio::test]
async fn late_and_reordered_deliveries_converge_to_the_current_assignee() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let kim = app.zendesk.seed_agent("Kim Agent", "kim@acme.test");
    let ticket = open_case(&app, "alice").await;
    app.zendesk.hold_deliveries(true);

    app.zendesk.assign(ticket, Some(sam)).unwrap();
    app.zendesk.assign(ticket, Some(kim)).unwrap();
    app.zendesk.release_held(true).await;
    settle(&app).await;

    let m = members(&app, ticket);
    assert!(
        m.contains(&format!("zd_{kim}")) && !m.contains(&format!("zd_{sam}")),
        "{m:?}"
    );
    let n = notices(&app, ticket);
    assert_eq!(
        n.len(),
        1,
        "Sam, already replaced when the bridge looked, never joined: {n:?}"
    );
}

#[tokio::test]
async fn solved_and_closed_are_announced_and_closed_mutes_the_group() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let ticket = open_case(&app, "alice").await;

    // A status change before any assignment.
    app.zendesk.set_status(ticket, "solved").unwrap();
    settle(&app).await;
    let n = notices(&app, ticket);
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(n[0].contains("solved"), "{n:?}");
    assert!(!app.im.group(&group(ticket)).unwrap().shut_up_all_member);

    // Reopened and solved again: a second notice.
    app.zendesk.set_status(ticket, "open").unwrap();
    settle(&app).await;
    app.zendesk.set_status(ticket, "solved").unwrap();
    settle(&app).await;
    assert_eq!(notices(&app, ticket).len(), 2);

    app.zendesk.set_status(ticket, "closed").unwrap();
    settle(&app).await;
    let n = notices(&app, ticket);
    assert_eq!(n.len(), 3, "{n:?}");
    assert!(n[2].contains("closed"), "{n:?}");
    assert!(
        app.im.group(&group(ticket)).unwrap().shut_up_all_member,
        "muted"
    );
}

#[tokio::test]
async fn an_assignment_before_the_group_exists_waits_for_it() {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("REQUEST_DEADLINE_SECS".into(), "1".into());
    })
    .await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    app.im.faults().inject(FaultRule::new(
        "create_group",
        Fault::Delay(Duration::from_millis(2500)),
        1,
    ));
    let resp = app.create_ticket(&case("alice")).await;
    assert_eq!(resp.status(), 202);
    let ticket = app.zendesk.tickets()[0].id;

    app.zendesk.assign(ticket, Some(sam)).unwrap();

    let im_id = format!("zd_{sam}");
    wait_until(Duration::from_secs(20), || {
        app.im
            .group(&group(ticket))
            .is_some_and(|g| g.members.contains(&im_id))
    })
    .await;
    settle(&app).await;
    assert_eq!(notices(&app, ticket).len(), 1);
}

#[tokio::test]
async fn comments_are_recorded_and_other_events_acknowledged() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let ticket = open_case(&app, "alice").await;

    app.zendesk
        .add_public_comment(ticket, sam, "Hello Alice")
        .unwrap();
    settle(&app).await;

    assert_eq!(
        app.inbound_count("zen:event-type:ticket.comment_added")
            .await,
        1
    );
    let body = json!({"type": "zen:event-type:user.created", "id": "u1", "detail": {"id": "1"}});
    let resp = app.post_webhook(&body.to_string(), unix_now()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ignored");
}

#[tokio::test]
async fn forged_unsigned_and_stale_webhooks_are_refused_and_nothing_is_recorded() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let ticket = open_case(&app, "alice").await;
    let body =
        json!({"ticket_id": ticket.to_string(), "assignee_id": "", "status": "solved"}).to_string();
    let url = format!("{}/webhooks/zendesk", app.address);
    let ts = utc(unix_now());
    let good = sign_webhook(&app.webhook_secret(), &ts, body.as_bytes());
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("unsigned", vec![], "signature"),
        (
            "no timestamp",
            vec![("X-Zendesk-Webhook-Signature", good.clone())],
            "timestamp",
        ),
        (
            "forged",
            vec![
                (
                    "X-Zendesk-Webhook-Signature",
                    sign_webhook("not-the-secret", &ts, body.as_bytes()),
                ),
                ("X-Zendesk-Webhook-Signature-Timestamp", ts.clone()),
            ],
            "does not match",
        ),
        (
            "stale",
            vec![
                (
                    "X-Zendesk-Webhook-Signature",
                    sign_webhook(
                        &app.webhook_secret(),
                        &utc(unix_now() - 600),
                        body.as_bytes(),
                    ),
                ),
                (
                    "X-Zendesk-Webhook-Signature-Timestamp",
                    utc(unix_now() - 600),
                ),
            ],
            "stale",
        ),
        (
            "altered body",
            vec![
                (
                    "X-Zendesk-Webhook-Signature",
                    sign_webhook(&app.webhook_secret(), &ts, b"{}"),
                ),
                ("X-Zendesk-Webhook-Signature-Timestamp", ts.clone()),
            ],
            "does not match",
        ),
    ];
    for (what, headers, says) in cases {
        let mut req = app
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let err = assert_error(req.send().await.unwrap(), 401, "unauthorized").await;
        assert!(
            err["ErrorInfo"].as_str().unwrap().contains(says),
            "{what}: {err}"
        );
    }
    assert_eq!(app.inbound_count("trigger").await, 0);
    settle(&app).await;
    assert!(notices(&app, ticket).is_empty());

    // Signed but not JSON: 400, nothing recorded.
    let resp = app.post_webhook("{not json", unix_now()).await;
    assert_error(resp, 400, "invalid_json").await;
}

#[tokio::test]
async fn the_trigger_body_works_too_and_uses_the_name_it_carries() {
    // A bridge connected by a trigger instead of event subscriptions: no event webhook.
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_WEBHOOK_SECRET".into(), "trigger-secret".into());
    })
    .await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let ticket = open_case(&app, "alice").await;
    app.zendesk.assign(ticket, Some(sam)).unwrap();
    let users_before = app.zendesk.request_count();

    let body = json!({
        "ticket_id": ticket.to_string(), "assignee_id": sam.to_string(),
        "assignee_name": "Sam from Support", "assignee_email": "sam@acme.test", "status": "open"
    });
    let resp = app.post_webhook(&body.to_string(), unix_now()).await;

    assert_eq!(resp.status(), 200);
    let im_id = format!("zd_{sam}");
    wait_until(Duration::from_secs(10), || {
        members(&app, ticket).contains(&im_id)
    })
    .await;
    app.wait_for_jobs().await;
    assert_eq!(
        app.im.account(&im_id).unwrap().nick.as_deref(),
        Some("Sam from Support")
    );
    assert_eq!(
        app.zendesk.request_count() - users_before,
        1,
        "only the ticket was read: the name came with the trigger"
    );
}

#[tokio::test]
async fn setup_zendesk_creates_the_webhook_once_and_prints_its_secret() {
    let app = spawn_app_with(|_| {}).await;
    let url = "http://127.0.0.1:15999";

    let dry = app
        .run_cli(&["setup-zendesk", "--url", url, "--dry-run"])
        .await;
    assert!(dry.contains("would create"), "{dry}");
    assert!(
        app.zendesk.webhooks().is_empty(),
        "a dry run changes nothing"
    );

    let first = app.run_cli(&["setup-zendesk", "--url", url]).await;
    let second = app.run_cli(&["setup-zendesk", "--url", url]).await;

    assert!(first.contains("created"), "{first}");
    assert!(second.contains("unchanged"), "{second}");
    let hooks = app.zendesk.webhooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].endpoint, format!("{url}/webhooks/zendesk"));
    let secret = app.zendesk.signing_secret(&hooks[0].id).unwrap();
    let line = format!("ZENDESK_WEBHOOK_SECRET={secret}");
    assert!(
        first.contains(&line) && second.contains(&line),
        "{first}\n{second}"
    );

    let moved = app
        .run_cli(&["setup-zendesk", "--url", "http://127.0.0.1:16000"])
        .await;
    assert!(moved.contains("updated"), "{moved}");
    assert_eq!(app.zendesk.webhooks().len(), 1);
}

#[tokio::test]
async fn without_a_secret_webhooks_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    let resp = app
        .http
        .post(format!("{}/webhooks/zendesk", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    let err = assert_error(resp, 401, "unauthorized").await;
    assert!(err["ErrorInfo"]
        .as_str()
        .unwrap()
        .contains("ZENDESK_WEBHOOK_SECRET"));
}
