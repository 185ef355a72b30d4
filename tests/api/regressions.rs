//! Ways to lose or duplicate work that a review found, each kept fixed by a test.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};
use ticket_bridge::store::{JobStatus, NewJob, Store};

use crate::helpers::{
    case, spawn_app_with, spawn_app_with_webhooks, ticket_made_but_answered_late, wait_until,
    TempDb,
};

fn has_group(app: &crate::helpers::TestApp, ticket: u64) -> bool {
    app.im.group(&format!("ZENDESK#{ticket}")).is_some()
}

fn sync_job(key: &str) -> NewJob {
    NewJob {
        kind: "sync_ticket".into(),
        payload: r#"{"ticket_id":1}"#.into(),
        dedupe_key: key.into(),
        run_at: 0,
        lease: None,
    }
}

/// A `reuse: true` case whose create lost its answer, then another case of the same user:
/// the retry must finish its own ticket, not reuse the other and leave its own groupless.
#[tokio::test]
async fn a_reuse_retry_finishes_its_own_ticket() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_TIMEOUT_SECS".into(), "1".into());
        env.insert("REQUEST_DEADLINE_SECS".into(), "3".into());
    })
    .await;
    app.zendesk.faults().inject(ticket_made_but_answered_late());
    let mut a = case("alice");
    a["reuse"] = json!(true);
    app.create_ticket_with_key(&a, "kA").await;
    let mut b = case("alice");
    b["caseInfo"]["desc"] = json!("another problem");
    let rb: Value = app
        .create_ticket_with_key(&b, "kB")
        .await
        .json()
        .await
        .unwrap();

    let ra: Value = app
        .create_ticket_with_key(&a, "kA")
        .await
        .json()
        .await
        .unwrap();

    assert_ne!(ra["TicketId"], rb["TicketId"], "A got its own ticket");
    assert_eq!(app.zendesk.tickets().len(), 2);
    wait_until(Duration::from_secs(15), || {
        app.zendesk.tickets().iter().all(|t| has_group(&app, t.id))
    })
    .await;
}

/// The remembered requester is refused (deleted in Zendesk), the create with the corrected
/// requester loses its answer: the retry must not open a second ticket.
#[tokio::test]
async fn a_corrected_requester_with_a_lost_answer_opens_one_ticket() {
    let app = spawn_app_with(|env| {
        env.insert("ZENDESK_TIMEOUT_SECS".into(), "1".into());
        env.insert("REQUEST_DEADLINE_SECS".into(), "1".into());
    })
    .await;
    app.sql("INSERT INTO customers (user_id, zendesk_user_id, created_at) VALUES ('alice', 987654321, 0)")
        .await;
    // The user lookup is slow; meanwhile the next ticket create is armed to lose its answer.
    app.zendesk.faults().inject(FaultRule::new(
        "/api/v2/users",
        Fault::Delay(Duration::from_millis(600)),
        1,
    ));
    let body = case("alice");
    let request = app.create_ticket_with_key(&body, "k1");
    let arm = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        app.zendesk.faults().inject(ticket_made_but_answered_late());
    };
    tokio::join!(request, arm);

    wait_until(Duration::from_secs(15), || !app.im.groups().is_empty()).await;
    app.wait_for_jobs().await;
    assert_eq!(app.zendesk.tickets().len(), 1, "one ticket for one case");
}

/// A webhook asks for a sync while one runs, and that run fails for good: the asked-for run
/// must still happen.
#[tokio::test]
async fn a_run_asked_for_during_a_failing_run_is_kept() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    store.request_run(&sync_job("sync_ticket:1")).await.unwrap();
    let claimed = store.claim_next("w:1", 60_000).await.unwrap().unwrap();
    store.request_run(&sync_job("sync_ticket:1")).await.unwrap();

    store
        .fail_job(&claimed.id, "w:1", "permanent")
        .await
        .unwrap();

    let after = store.job_by_key("sync_ticket:1").await.unwrap().unwrap();
    assert_eq!(
        after.status,
        JobStatus::Queued,
        "the requested run survives"
    );
}

/// A job whose lease ran out is claimed again: the first claim can no longer extend or
/// complete it, even in the same process.
#[tokio::test]
async fn a_claim_that_lost_its_lease_cannot_act() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    store.request_run(&sync_job("sync_ticket:2")).await.unwrap();
    let first = store.claim_next("proc:a", 1).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await; // the 1 ms lease runs out
    let second = store.claim_next("proc:b", 60_000).await.unwrap().unwrap();
    assert_eq!(first.id, second.id);

    assert!(!store
        .extend_lease(&first.id, "proc:a", 60_000)
        .await
        .unwrap());
    assert!(!store.complete_job(&first.id, "proc:a").await.unwrap());
    assert!(store.complete_job(&second.id, "proc:b").await.unwrap());
}

/// An agent added by a sync that then failed (so never recorded) is removed on reassignment.
#[tokio::test]
async fn an_agent_added_by_a_failed_sync_is_removed_on_reassignment() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let sam = app.zendesk.seed_agent("Sam Agent", "sam@acme.test");
    let kim = app.zendesk.seed_agent("Kim Agent", "kim@acme.test");
    let resp: Value = app
        .create_ticket(&case("alice"))
        .await
        .json()
        .await
        .unwrap();
    let ticket = resp["TicketId"].as_u64().unwrap();
    app.im.faults().inject(FaultRule::always(
        "send_group_msg",
        Fault::Respond {
            status: StatusCode::OK,
            body: json!({"ActionStatus": "FAIL", "ErrorCode": 10004, "ErrorInfo": "emulated"}),
        },
    ));
    app.zendesk.assign(ticket, Some(sam)).unwrap();
    app.zendesk.idle().await;
    app.wait_for_jobs().await;
    assert!(app
        .im
        .group(&format!("ZENDESK#{ticket}"))
        .unwrap()
        .members
        .contains(&format!("zd_{sam}")));
    app.im.faults().clear();

    app.zendesk.assign(ticket, Some(kim)).unwrap();
    app.zendesk.idle().await;
    app.wait_for_jobs().await;

    let members = app.im.group(&format!("ZENDESK#{ticket}")).unwrap().members;
    assert!(!members.contains(&format!("zd_{sam}")), "{members:?}");
    assert!(members.contains(&format!("zd_{kim}")), "{members:?}");
}

/// Someone creates the group a future ticket will use, with our introduction: the bridge
/// must not adopt it (and put the customer and agents in someone else's group).
#[tokio::test]
async fn a_planted_group_is_not_adopted() {
    let app = spawn_app_with(|_| {}).await;
    // Mallory's group, owned by her (as a group made from the chat SDK is), under the id the
    // next ticket will get, with the bridge's introduction.
    app.im.import_account("mallory", None);
    let admin_sig = app.signer.generate(crate::helpers::ADMIN, 600);
    let planted: Value = app
        .http
        .post(format!(
            "{}/v4/group_open_http_svc/create_group",
            app.im_url
        ))
        .query(&[
            ("sdkappid", crate::helpers::SDKAPPID.to_string()),
            ("identifier", crate::helpers::ADMIN.to_owned()),
            ("usersig", admin_sig.expose().to_owned()),
            ("random", "7".to_owned()),
            ("contenttype", "json".to_owned()),
        ])
        .json(
            &json!({"Type": "Public", "Name": "Refund", "GroupId": "ZENDESK#1",
                      "Owner_Account": "mallory", "Introduction": "Zendesk ticket #1"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(planted["ErrorCode"], 0, "{planted}");

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.status(), 502, "the group id is taken by someone else");
    assert!(!app
        .im
        .group("ZENDESK#1")
        .unwrap()
        .members
        .contains(&"alice".to_owned()));
}
