//! The bridge's own state: the cases it accepted, the tickets they became and how far each
//! got, and the durable job queue that finishes them.
//!
//! One code path for SQLite (the default, a file) and PostgreSQL: queries go through sqlx's
//! `Any` driver and use only SQL both accept (`$n` parameters in order of appearance,
//! `BIGINT`/`TEXT`, `ON CONFLICT`, `RETURNING`). Times are Unix milliseconds. The database is
//! the arbiter of "did this already happen": unique keys on case keys, ticket ids and job
//! dedupe keys.
//!
//! Several processes may share one PostgreSQL database (replicas behind a load balancer): jobs
//! are claimed with `FOR UPDATE SKIP LOCKED`, migrations run under an advisory lock, and work
//! and conversation changes are signalled to the other replicas with `NOTIFY` (`signals.rs`).

mod cases;
mod checkpoints;
mod conversation;
mod db;
mod inbound;
mod jobs;
mod migrations;
mod ops;
mod retention;
mod signals;
mod tickets;
mod wal_writes;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;
use tokio::sync::Notify;

use crate::config::DatabaseConfig;
use db::{query, Db, DbError, Tx};
use signals::{Signals, Topic};

pub use cases::{CaseInsert, CaseLoad, CaseRecord, NewCaseRecord};
pub use conversation::{
    BatchRecord, Cursor, MessageRecord, MessageState, NewBatch, NewMessage, Origin, Role,
};
pub use inbound::InboundEvent;
pub(crate) use jobs::new_id;
pub use jobs::{Job, JobDone, JobStatus, NewJob};
pub use ops::JobQueueStats;
pub use tickets::{NewTicketRecord, TicketRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] DbError),
    #[error("database migration {version} failed: {source}")]
    Migration { version: i64, source: DbError },
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database behind the bridge.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// PostgreSQL (else SQLite): the engine decides how jobs are claimed.
    postgres: bool,
    /// Wakes job workers and event streams, in this process and (PostgreSQL) the others.
    signals: Signals,
    poll_interval: Duration,
}

impl Store {
    /// [`Store::connect_with`] the default settings.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &DatabaseConfig::default()).await
    }

    /// Connects (creating a SQLite file if it does not exist) and applies pending migrations.
    pub async fn connect_with(url: &str, settings: &DatabaseConfig) -> Result<Self> {
        let timeout = settings.statement_timeout;
        if url.starts_with("sqlite:") {
            let db = Db::Sqlite(Arc::new(db::Sqlite::open(url, timeout)?));
            migrations::run(&db).await?;
            return Ok(Self {
                db,
                postgres: false,
                signals: Signals::local(),
                poll_interval: settings.poll_interval,
            });
        }
        let timeout_ms = timeout.as_millis();
        let pool = PgPoolOptions::new()
            // A ping before every statement (sqlx's default) is a round trip of its own: a
            // broken connection shows as the statement's error instead.
            .test_before_acquire(false)
            .max_connections(settings.max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(&*format!("SET statement_timeout = {timeout_ms}"))
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(DbError::from)?;
        let db = Db::Postgres(pool.clone());
        migrations::run(&db).await?;
        Ok(Self {
            signals: Signals::shared(&pool),
            db,
            postgres: true,
            poll_interval: settings.poll_interval,
        })
    }

    /// Wakes this process's idle workers at the other replicas' signals (PostgreSQL; nothing
    /// to do on SQLite). `url` is the same database's.
    pub async fn listen(&self, url: &str) {
        if self.postgres {
            self.signals.listen(url).await;
        }
    }

    /// How often idle workers and event streams look at the store when nothing woke them.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// What wakes at the next change of a conversation: create its `notified()` future before
    /// reading, so a change in between is not missed.
    pub fn changes(&self) -> Arc<Notify> {
        self.signals.waiters(Topic::Changes).clone()
    }

    fn notify_changed(&self) {
        self.signals.raise(Topic::Changes);
    }

    /// What wakes at the next job recorded for the workers (here or on another replica).
    pub fn work(&self) -> Arc<Notify> {
        self.signals.waiters(Topic::Jobs).clone()
    }

    /// Wakes idle workers, here and on the other replicas: a job was recorded.
    pub fn wake_workers(&self) {
        self.signals.raise(Topic::Jobs);
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
