//! Schema migrations, applied in order at start; each runs once, in its own transaction.

use super::{now_ms, query, Db, Result, StoreError};

/// `(version, statements)`; append new versions, never edit applied ones.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE tickets (
            ticket_id BIGINT PRIMARY KEY,
            group_id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            group_created_at BIGINT,
            greeted_at BIGINT
        )",
            "CREATE INDEX tickets_by_user ON tickets (user_id, created_at)",
        ],
    ),
    (
        2,
        &[
            // One row per accepted /createticket request: the durable record that exists before
            // any upstream call, so a crash at any step can resume it.
            "CREATE TABLE cases (
                case_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                idem_key TEXT,
                request_hash TEXT NOT NULL,
                request TEXT NOT NULL,
                ticket_id BIGINT,
                reused BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            // NULL keys (requests without Idempotency-Key) never collide.
            "CREATE UNIQUE INDEX cases_by_key ON cases (user_id, idem_key)",
            "ALTER TABLE tickets ADD COLUMN greet_attempt_at BIGINT",
            "CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                dedupe_key TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                run_at BIGINT NOT NULL,
                locked_by TEXT,
                locked_until BIGINT,
                last_error TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            "CREATE INDEX jobs_runnable ON jobs (status, run_at)",
        ],
    ),
    (
        3,
        &[
            // Which Zendesk user each IM user is, so a returning customer costs no lookup.
            "CREATE TABLE customers (
                user_id TEXT PRIMARY KEY,
                zendesk_user_id BIGINT NOT NULL,
                created_at BIGINT NOT NULL
            )",
        ],
    ),
    (
        4,
        &[
            // Every verified webhook delivery, once: its id is the invocation id (or event id).
            "CREATE TABLE inbound_events (
                id TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                event_type TEXT NOT NULL,
                ticket_id BIGINT,
                payload TEXT NOT NULL,
                received_at BIGINT NOT NULL
            )",
            // What the IM side of a ticket was converged to: the agent in the group, how many
            // join and status notices were posted (each notice's Random derives from its count),
            // the last status announced, whether the group is muted.
            "ALTER TABLE tickets ADD COLUMN agent_id BIGINT",
            "ALTER TABLE tickets ADD COLUMN joins BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tickets ADD COLUMN notified_status TEXT",
            "ALTER TABLE tickets ADD COLUMN status_notices BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tickets ADD COLUMN muted BIGINT NOT NULL DEFAULT 0",
            // A job asked to run again while it runs: run it once more when it finishes.
            "ALTER TABLE jobs ADD COLUMN rerun BIGINT NOT NULL DEFAULT 0",
        ],
    ),
    (
        5,
        &[
            // Set before the first ticket create is sent: from then on a retry of the case
            // creates (with its key) and never looks for a ticket to reuse instead.
            "ALTER TABLE cases ADD COLUMN create_started_at BIGINT",
        ],
    ),
    (
        6,
        &[
            // The conversation of each ticket, both sides: what the customer and agents wrote in
            // the IM group, the agents' public Zendesk comments, and the bridge's own messages.
            // `state` says what is left to do: `pending` (to mirror), `done`, `skipped` (not
            // mirrored: an echo, a chat command, another member's message).
            "CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                ticket_id BIGINT NOT NULL,
                origin TEXT NOT NULL,
                role TEXT NOT NULL,
                sender TEXT NOT NULL,
                name TEXT NOT NULL,
                text TEXT NOT NULL,
                elements TEXT NOT NULL,
                im_seq BIGINT,
                im_random BIGINT,
                comment_id BIGINT,
                batch_id TEXT,
                state TEXT NOT NULL,
                attempt_at BIGINT,
                sent_at BIGINT,
                created_at BIGINT NOT NULL,
                recorded_at BIGINT NOT NULL,
                pos BIGINT NOT NULL
            )",
            // `pos` numbers a ticket's messages in the order they were recorded (the agents'
            // event stream resumes from it).
            "CREATE INDEX messages_by_pos ON messages (ticket_id, pos)",
            // One row per IM message (GroupId + MsgSeq) and per Zendesk comment.
            "CREATE UNIQUE INDEX messages_by_seq ON messages (ticket_id, im_seq)",
            "CREATE UNIQUE INDEX messages_by_comment ON messages (comment_id)",
            "CREATE INDEX messages_by_ticket ON messages (ticket_id, state, created_at)",
            // Chat lines on their way into one Zendesk comment. A batch is written before its
            // update is sent, so a retry whose answer was lost looks for it (by the marker in
            // the comment's audit metadata) instead of posting it again.
            "CREATE TABLE comment_batches (
                id TEXT PRIMARY KEY,
                ticket_id BIGINT NOT NULL,
                author_id BIGINT NOT NULL,
                body TEXT NOT NULL,
                solve BIGINT NOT NULL DEFAULT 0,
                state TEXT NOT NULL,
                comment_id BIGINT,
                attempt_at BIGINT,
                created_at BIGINT NOT NULL,
                sent_at BIGINT
            )",
            "CREATE INDEX comment_batches_sent ON comment_batches (sent_at, ticket_id)",
            "CREATE INDEX comment_batches_open ON comment_batches (ticket_id, state)",
            "CREATE INDEX comment_batches_by_comment ON comment_batches (comment_id)",
            // How far each side was mirrored: every IM seq up to `im_cursor` is known, every
            // Zendesk comment up to `comment_cursor` was looked at.
            "ALTER TABLE tickets ADD COLUMN im_cursor BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tickets ADD COLUMN comment_cursor BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tickets ADD COLUMN agent_name TEXT",
            "ALTER TABLE tickets ADD COLUMN customer_name TEXT",
            "ALTER TABLE tickets ADD COLUMN msg_pos BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tickets ADD COLUMN last_activity_at BIGINT",
        ],
    ),
];

/// The key of the PostgreSQL advisory lock migrations run under (any fixed number; this is
/// "tbmigrat" in ASCII).
const MIGRATION_LOCK: i64 = 0x7462_6d69_6772_6174;

/// Applies pending migrations, in one transaction. On PostgreSQL it holds an advisory lock:
/// replicas starting together wait for each other, and the later ones find everything
/// applied. It runs without a statement timeout (the wait, or a long migration, is not a stuck
/// statement).
pub(super) async fn run(db: &Db) -> Result<()> {
    let mut tx = db.begin().await?;
    if let Db::Postgres(_) = db {
        query("SET LOCAL statement_timeout = 0")
            .execute(&mut tx)
            .await?;
        query(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .execute(&mut tx)
            .await?;
    }
    query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut tx)
    .await?;
    let applied: Vec<i64> = query("SELECT version FROM schema_migrations")
        .scalars(&mut tx)
        .await?;
    for (version, statements) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let fail = |source| StoreError::Migration {
            version: *version,
            source,
        };
        for sql in *statements {
            query(sql).execute(&mut tx).await.map_err(fail)?;
        }
        query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(now_ms())
            .execute(&mut tx)
            .await
            .map_err(fail)?;
        tracing::info!(version, "applied database migration");
    }
    tx.commit().await?;
    Ok(())
}

/// The newest version this build knows.
pub(super) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
