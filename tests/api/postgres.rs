//! The same flows on the real PostgreSQL of this machine (`DATABASE_URL=postgres://…`), each
//! test in a database of its own: the store's SQL is written for both engines.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{case, spawn_app_on_postgres, wait_until};

#[tokio::test]
async fn a_case_and_its_retries_on_postgres() {
    let app = spawn_app_on_postgres(false, |_| {}).await;
    // IM fails once: the job queue (claims, retries, leases) has to finish the case.
    app.im.faults().inject(FaultRule::new(
        "create_group",
        Fault::Respond {
            status: StatusCode::OK,
            body: json!({"ActionStatus": "FAIL", "ErrorCode": 10002, "ErrorInfo": "emulated"}),
        },
        1,
    ));

    let first = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(first.status(), 202);
    let done = app.create_ticket_with_key(&case("alice"), "k-1").await;
    assert_eq!(done.status(), 200);
    let body: Value = done.json().await.unwrap();
    let mut other = case("alice");
    other["caseInfo"]["desc"] = json!("something else");
    assert_eq!(
        app.create_ticket_with_key(&other, "k-1").await.status(),
        409
    );
    let mut reuse = case("alice");
    reuse["reuse"] = json!(true);
    let reused: Value = app.create_ticket(&reuse).await.json().await.unwrap();

    assert_eq!(reused["TicketId"], body["TicketId"]);
    assert_eq!(app.zendesk.tickets().len(), 1);
    app.wait_for_jobs().await;
    let group = app.im.group(body["GroupId"].as_str().unwrap()).unwrap();
    assert_eq!(group.messages.iter().filter(|m| !m.system).count(), 1);
    let jobs = app.run_cli(&["jobs"]).await;
    assert!(
        jobs.contains("failed  0") && jobs.contains("done    2"),
        "{jobs}"
    );
}

#[tokio::test]
async fn an_assignment_on_postgres() {
    let app = spawn_app_on_postgres(true, |_| {}).await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let body: Value = app
        .create_ticket(&case("alice"))
        .await
        .json()
        .await
        .unwrap();
    let ticket = body["TicketId"].as_u64().unwrap();

    app.zendesk.assign(ticket, Some(sam)).unwrap();
    app.zendesk.set_status(ticket, "solved").unwrap();

    let im_id = format!("zd_{sam}");
    wait_until(Duration::from_secs(10), || {
        app.im
            .group(&format!("ZENDESK#{ticket}"))
            .is_some_and(|g| g.members.contains(&im_id) && g.messages.len() >= 3)
    })
    .await;
    app.zendesk.idle().await;
    app.wait_for_jobs().await;
    let group = app.im.group(&format!("ZENDESK#{ticket}")).unwrap();
    let texts: Vec<&str> = group
        .messages
        .iter()
        .filter(|m| !m.system)
        .filter_map(|m| m.body[0]["MsgContent"]["Text"].as_str())
        .collect();
    assert_eq!(texts.len(), 3, "greeting, join, solved: {texts:?}");
    let out = app.run_cli(&["reconcile"]).await;
    assert!(
        out.contains("open tickets checked: 1") && out.contains("failed: 0"),
        "{out}"
    );
}

#[tokio::test]
async fn the_conversation_on_postgres() {
    let app = spawn_app_on_postgres(true, |env| {
        env.insert(
            "IM_CALLBACK_TOKEN".into(),
            crate::helpers::CALLBACK_TOKEN.into(),
        );
        env.insert("COMMENT_BATCH_MS".into(), "300".into());
    })
    .await;
    app.connect_im_callbacks(&app.address);
    let ticket = app.open_case("alice").await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    let group = crate::helpers::group_of(ticket);
    // A lost callback (the history fills the hole), a duplicate, a reply each way, a command.
    app.im.drop_callbacks(1);
    for line in ["lost", "found"] {
        app.im.client_send_text(&group, "alice", line).unwrap();
    }
    app.settle().await;
    let first = app.im.callbacks().into_iter().last().unwrap();
    let query = app.callback_query("Group.CallbackAfterSendMsg", crate::helpers::unix_now());
    assert_eq!(
        app.post_im_callback(&query, &first.body).await.status(),
        200
    );
    app.zendesk
        .add_public_comment(ticket, agent, "reply from Zendesk")
        .unwrap();
    app.settle().await;
    app.im.client_send_text(&group, "alice", "/status").unwrap();
    app.settle().await;

    let bodies: Vec<String> = app
        .comments_after_description(ticket)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let lines: Vec<&str> = bodies[0].lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].ends_with("Alice Example: lost")
            && lines[1].ends_with("Alice Example: found"),
        "{bodies:?}"
    );
    assert_eq!(bodies[1], "reply from Zendesk");
    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["reply from Zendesk"]
    );
    assert!(app
        .group_texts_from(ticket, crate::helpers::ADMIN)
        .iter()
        .any(|t| t.starts_with(&format!("Case #{ticket} is open"))));
    // The transcript holds both sides, each message once.
    let rows = app
        .sql_count(&format!(
            "SELECT COUNT(*) FROM messages WHERE ticket_id = {ticket}"
        ))
        .await;
    assert!(rows >= 6, "{rows}");
}
