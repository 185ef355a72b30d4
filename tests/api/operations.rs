//! What operators see: `/metrics` moves with the work the bridge does, `/readyz` says whether
//! the process should get traffic (database, migrations, draining on SIGTERM).

use std::time::Duration;

use serde_json::Value;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::*;

fn upstream_ok(text: &str, service: &str, endpoint: &str) -> f64 {
    sample(
        text,
        "ticket_bridge_upstream_calls_total",
        &[
            ("service", service),
            ("endpoint", endpoint),
            ("outcome", "ok"),
        ],
    )
}

fn inbound(text: &str, source: &str, result: &str) -> f64 {
    sample(
        text,
        "ticket_bridge_inbound_total",
        &[("source", source), ("result", result)],
    )
}

fn queued(text: &str, kind: &str) -> f64 {
    sample(text, "ticket_bridge_jobs_queued", &[("kind", kind)])
}

#[tokio::test]
async fn the_metrics_move_with_cases_upstream_calls_jobs_webhooks_and_the_conversation() {
    let app = spawn_conversation_app(|_| {}).await;
    let before = scrape(&app).await;
    assert_eq!(queued(&before, "open_case"), 0.0, "every kind is reported");
    assert_eq!(
        sample(&before, "ticket_bridge_agent_join_seconds_count", &[]),
        0.0
    );

    // A case whose group IM cannot make yet: its job waits in the queue.
    app.im.faults().inject(FaultRule::always(
        "create_group",
        Fault::Respond {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            body: serde_json::json!({}),
        },
    ));
    app.im.import_account("alice", None);
    let resp = app.create_ticket(&case("alice")).await;
    assert_eq!(resp.status(), 202);
    let ticket = resp.json::<Value>().await.unwrap()["TicketId"]
        .as_u64()
        .unwrap();
    let waiting = scrape(&app).await;
    assert_eq!(queued(&waiting, "open_case"), 1.0);
    assert!(
        sample(
            &waiting,
            "ticket_bridge_upstream_calls_total",
            &[
                ("service", "im"),
                ("endpoint", "group_open_http_svc/create_group"),
                ("outcome", "http_error"),
            ],
        ) >= 1.0,
        "{waiting}"
    );
    app.im.faults().clear();
    app.wait_for_jobs_within(Duration::from_secs(60)).await;

    let after = scrape(&app).await;
    assert_eq!(queued(&after, "open_case"), 0.0, "the queue drained");
    assert_eq!(
        sample(
            &after,
            "ticket_bridge_jobs_oldest_due_seconds",
            &[("kind", "open_case")]
        ),
        0.0
    );
    assert_eq!(
        sample(
            &after,
            "ticket_bridge_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/createticket"),
                ("status", "202")
            ],
        ),
        1.0
    );
    assert_eq!(
        upstream_ok(&after, "zendesk", "POST /api/v2/tickets"),
        1.0,
        "{after}"
    );
    assert!(upstream_ok(&after, "im", "group_open_http_svc/create_group") >= 1.0);
    assert!(upstream_ok(&after, "im", "group_open_http_svc/send_group_msg") >= 1.0);
    assert!(
        sample(
            &after,
            "ticket_bridge_upstream_call_duration_seconds_count",
            &[("service", "zendesk"), ("endpoint", "POST /api/v2/tickets")],
        ) >= 1.0
    );

    // An agent takes the ticket: a webhook accepted, the first join timed.
    app.assign_agent(ticket, "Sam Agent").await;
    let joined = scrape(&app).await;
    assert!(inbound(&joined, "zendesk_webhook", "accepted") >= 1.0);
    assert_eq!(
        sample(&joined, "ticket_bridge_agent_join_seconds_count", &[]),
        1.0
    );
    assert!(
        upstream_ok(&joined, "zendesk", "GET /api/v2/tickets/{id}") >= 1.0,
        "ids are not labels: {joined}"
    );

    // Zendesk redelivers; a forged delivery and a forged callback are refused.
    let invocation = app.zendesk.invocations()[0].id.clone();
    assert_eq!(app.zendesk.redeliver(&invocation).await, Some(200));
    let stale = app
        .post_webhook(r#"{"ticket_id":"1","status":"open"}"#, unix_now() - 600)
        .await;
    assert_eq!(stale.status(), 401);
    let forged = app
        .post_im_callback(
            "SdkAppid=1400000000&CallbackCommand=Group.CallbackAfterSendMsg&Sign=00&RequestTime=1",
            "{}",
        )
        .await;
    assert_eq!(forged.status(), 401);

    // The conversation, both ways.
    app.im
        .client_send_text(&group_of(ticket), "alice", "Where is my order?")
        .unwrap();
    app.settle().await;
    let requester = app.zendesk.ticket(ticket).unwrap().requester_id;
    let agent = app.zendesk.ticket(ticket).unwrap().assignee_id.unwrap();
    assert_ne!(requester, agent);
    app.zendesk
        .add_public_comment(ticket, agent, "It ships today")
        .unwrap();
    app.settle().await;

    let end = scrape(&app).await;
    assert!(inbound(&end, "zendesk_webhook", "duplicate") >= 1.0);
    assert_eq!(inbound(&end, "zendesk_webhook", "refused"), 1.0);
    assert_eq!(inbound(&end, "im_callback", "refused"), 1.0);
    assert!(inbound(&end, "im_callback", "accepted") >= 1.0);
    let mirrored = |direction| {
        sample(
            &end,
            "ticket_bridge_messages_mirrored_total",
            &[("direction", direction)],
        )
    };
    assert_eq!(mirrored("chat_to_ticket"), 1.0, "{end}");
    assert_eq!(mirrored("ticket_to_chat"), 1.0, "{end}");
    assert_eq!(
        sample(&end, "ticket_bridge_jobs_failed_for_good_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn requests_are_counted_by_route_template_never_by_raw_path() {
    let app = spawn_app().await;
    for path in ["/agent/tickets/4242", "/no/such/path-9f1c"] {
        app.http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
    }
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            "ticket_bridge_http_requests_total",
            &[("route", "/agent/tickets/{id}"), ("status", "401")],
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "ticket_bridge_http_requests_total",
            &[("route", "unmatched"), ("status", "404")],
        ),
        1.0
    );
    assert!(
        !text.contains("4242") && !text.contains("path-9f1c"),
        "{text}"
    );
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set() {
    let app = spawn_app_with(|env| {
        env.insert("METRICS_TOKEN".into(), "metrics-token-7d1e".into());
    })
    .await;
    let url = format!("{}/metrics", app.address);
    for auth in [None, Some("Bearer wrong-token"), Some("metrics-token-7d1e")] {
        let mut req = app.http.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_error(resp, 401, "unauthorized").await;
    }
    let resp = app
        .http
        .get(&url)
        .header("Authorization", "Bearer metrics-token-7d1e")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("ticket_bridge_http_requests_total"));
}

async fn readyz(http: &reqwest::Client, address: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{address}/readyz"))
        .send()
        .await
        .expect("answered");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

#[tokio::test]
async fn ready_with_a_current_database_not_ready_without_one_or_behind_it() {
    let app = spawn_app().await;
    let (status, body) = readyz(&app.http, &app.address).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));

    // A database that has never heard of the newest migration.
    let newest = app
        .sql_count("SELECT MAX(version) FROM schema_migrations")
        .await;
    app.sql(&format!(
        "DELETE FROM schema_migrations WHERE version = {newest}"
    ))
    .await;
    let (status, body) = readyz(&app.http, &app.address).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["reason"].as_str().unwrap().contains("migrations"),
        "{body}"
    );

    // The database is gone.
    app.sql("DROP TABLE schema_migrations").await;
    let (status, body) = readyz(&app.http, &app.address).await;
    assert_eq!(status, 503);
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );
    let alive = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "liveness is not readiness");
}

#[tokio::test]
async fn not_ready_once_its_postgresql_database_is_dropped() {
    let app = spawn_app_on_postgres(false, |_| {}).await;
    assert_eq!(readyz(&app.http, &app.address).await.0, 200);

    app.pg.as_ref().expect("on PostgreSQL").drop_now().await;

    let (status, body) = readyz(&app.http, &app.address).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );
}

#[tokio::test]
async fn on_sigterm_it_drains_finishes_what_is_in_flight_then_exits() {
    let up = Upstreams::start().await;
    let db = TempDb::new();
    let (bridge, port, _) = serve_binary(
        &up,
        &db,
        &[
            ("SHUTDOWN_DRAIN_SECS", "3"),
            ("REQUEST_DEADLINE_SECS", "30"),
            ("IM_TIMEOUT_SECS", "10"),
        ],
    )
    .await;
    let address = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    assert_eq!(readyz(&http, &address).await.0, 200);

    // A case held in flight: IM takes 5 s to make its group, longer than the drain.
    up.im.faults().inject(FaultRule::new(
        "create_group",
        Fault::Delay(Duration::from_secs(5)),
        1,
    ));
    up.im.import_account("alice", None);
    let sig = ticket_bridge::usersig::UserSigner::new(
        SDKAPPID,
        ticket_bridge::secret::Secret::new(IM_KEY),
    )
    .generate("alice", 3600);
    let held = tokio::spawn({
        let http = http.clone();
        let address = address.clone();
        async move {
            http.post(format!("{address}/createticket"))
                .header("Authorization", format!("UserSig {}", sig.expose()))
                .json(&case("alice"))
                .send()
                .await
        }
    });
    wait_until(Duration::from_secs(10), || !up.zendesk.tickets().is_empty()).await;

    sigterm(&bridge);
    // The signal lands asynchronously: wait for readiness to flip, then say why it did.
    wait_until_async(Duration::from_secs(5), || async {
        readyz(&http, &address).await.0 == 503
    })
    .await;
    let (status, body) = readyz(&http, &address).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("draining"),
        "{body}"
    );

    let answer = held.await.unwrap().expect("the held request was answered");
    assert_eq!(answer.status(), 200, "finished, not cut off");
    assert_clean_exit(bridge, port).await;
}
