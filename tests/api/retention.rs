//! Retention: old webhook deliveries, done jobs and the keys of finished cases are pruned in
//! batches; newer ones, failed jobs, unfinished cases' keys, and every case, ticket and message
//! stay.

use std::time::Duration;

use ticket_bridge::retention::{self, Pruned, RetentionPolicy};
use ticket_bridge::store::Store;

use crate::helpers::*;

const DAY_MS: i64 = 24 * 3600 * 1000;
const ASSIGNED: &str = "zen:event-type:ticket.agent_assignment_changed";

fn week_policy(batch: u32) -> RetentionPolicy {
    let week = Duration::from_secs(7 * 24 * 3600);
    RetentionPolicy {
        inbound: week,
        done_jobs: week,
        idempotency_keys: week,
        interval: Duration::from_secs(3600),
        batch,
    }
}

async fn open_with_key(app: &TestApp, user: &str) -> u64 {
    app.im.import_account(user, None);
    let resp = app
        .create_ticket_with_key(&case(user), &format!("key-{user}"))
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["TicketId"].as_u64().unwrap()
}

#[tokio::test]
async fn records_past_their_period_are_pruned_in_batches_and_the_rest_kept() {
    prunes_old_records_in_batches(spawn_app_with_webhooks(|_| {}).await).await;
}

#[tokio::test]
async fn pruning_works_the_same_on_postgres() {
    prunes_old_records_in_batches(spawn_app_on_postgres(true, |_| {}).await).await;
}

async fn prunes_old_records_in_batches(app: TestApp) {
    let alice = open_with_key(&app, "alice").await;
    open_with_key(&app, "bob").await;
    let carol = open_with_key(&app, "carol").await;
    app.wait_for_jobs().await;
    app.assign_agent(alice, "Sam Agent").await;
    app.assign_agent(carol, "Kim Agent").await;
    let invocations = app.zendesk.invocations();

    // Eight days ago: alice's and bob's cases and their jobs, alice's assignment delivery;
    // and a job that failed for good, and a case still unfinished, both as old.
    let old = now_ms() - 8 * DAY_MS;
    app.sql(&format!(
        "UPDATE cases SET created_at = {old} WHERE user_id IN ('alice', 'bob')"
    ))
    .await;
    app.sql(&format!(
        "UPDATE jobs SET updated_at = {old} WHERE dedupe_key IN
         (SELECT 'open_case:' || case_id FROM cases WHERE user_id IN ('alice', 'bob'))"
    ))
    .await;
    app.sql(&format!(
        "UPDATE inbound_events SET received_at = {old} WHERE ticket_id = {alice}"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO jobs (id, kind, payload, dedupe_key, status, attempts, run_at, last_error,
                           created_at, updated_at)
         VALUES ('failed-1', 'sync_ticket', '{{\"ticket_id\":1}}', 'sync_ticket:999', 'failed', 25,
                 {old}, 'IM refused', {old}, {old})"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO cases (case_id, user_id, idem_key, request_hash, request, created_at, updated_at)
         VALUES ('unfinished-1', 'dave', 'key-dave', 'h', '{{}}', {old}, {old})"
    ))
    .await;
    let old_inbound = app
        .sql_count(&format!(
            "SELECT COUNT(*) FROM inbound_events WHERE ticket_id = {alice}"
        ))
        .await as u64;
    assert!(old_inbound >= 1);
    let inbound_before = app.sql_count("SELECT COUNT(*) FROM inbound_events").await;
    let (cases, tickets, messages) = (
        app.sql_count("SELECT COUNT(*) FROM cases").await,
        app.sql_count("SELECT COUNT(*) FROM tickets").await,
        app.message_count().await,
    );

    let store = Store::connect(&app.env["DATABASE_URL"]).await.unwrap();
    let pruned = retention::prune(&store, &week_policy(1)).await.unwrap();

    assert_eq!(
        pruned,
        Pruned {
            inbound: old_inbound,
            done_jobs: 2,
            idempotency_keys: 2,
            // One row per statement, and one more statement each that found less than a batch.
            batches: old_inbound + 1 + 2 + 1 + 2 + 1,
        }
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM inbound_events").await,
        inbound_before - old_inbound as i64,
        "carol's newer delivery is kept"
    );
    let keys = app
        .sql_count("SELECT COUNT(*) FROM cases WHERE idem_key IS NOT NULL")
        .await;
    assert_eq!(keys, 2, "carol's key and the unfinished case's key stay");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM cases WHERE idem_key = 'key-dave'")
            .await,
        1
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'failed'")
            .await,
        1,
        "failed jobs stay for the operator"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM jobs WHERE kind = 'open_case'")
            .await,
        1,
        "carol's recent job stays"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM cases").await, cases);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM tickets").await, tickets);
    assert_eq!(app.message_count().await, messages);

    // A second round finds nothing.
    let again = retention::prune(&store, &week_policy(1)).await.unwrap();
    assert_eq!(again.inbound + again.done_jobs + again.idempotency_keys, 0);

    // Zendesk redelivers alice's pruned assignment: taken as new, and the sync it asks for
    // converges to what is already there (no second join notice).
    let alices = invocations
        .iter()
        .find(|i| i.ticket_id == alice && i.event_type == ASSIGNED)
        .expect("alice's assignment delivery");
    assert_eq!(app.zendesk.redeliver(&alices.id).await, Some(200));
    app.wait_for_jobs().await;
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) FROM inbound_events WHERE ticket_id = {alice} AND event_type = '{ASSIGNED}'"
        ))
        .await,
        1,
        "recorded again"
    );
    let notices: Vec<String> = app
        .group_texts_from(alice, ADMIN)
        .into_iter()
        .filter(|t| t.contains("Sam Agent"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");

    // A pruned key after its period is a new case, as documented; a kept key still answers
    // the same ticket.
    let resp = app
        .create_ticket_with_key(&case("carol"), "key-carol")
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["TicketId"].as_u64(), Some(carol));
}

#[tokio::test]
async fn the_retention_task_prunes_by_itself() {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("RETENTION_INTERVAL_SECS".into(), "1".into());
        env.insert("INBOUND_RETENTION_HOURS".into(), "1".into());
    })
    .await;
    let ticket = app.open_case("alice").await;
    app.assign_agent(ticket, "Sam Agent").await;
    assert!(app.sql_count("SELECT COUNT(*) FROM inbound_events").await >= 1);

    let two_hours_ago = now_ms() - 2 * 3600 * 1000;
    app.sql(&format!(
        "UPDATE inbound_events SET received_at = {two_hours_ago}"
    ))
    .await;

    wait_until_async(Duration::from_secs(10), || async {
        app.sql_count("SELECT COUNT(*) FROM inbound_events").await == 0
    })
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM tickets").await, 1);
}
