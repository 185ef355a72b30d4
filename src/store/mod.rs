//! The bridge's own state: the cases it accepted, the tickets they became and how far each
//! got, and the durable job queue that finishes them.
//!
//! One code path for SQLite (the default, a file) and PostgreSQL: queries go through sqlx's
//! `Any` driver and use only SQL both accept (`$n` parameters in order of appearance,
//! `BIGINT`/`TEXT`, `ON CONFLICT`, `RETURNING`). Times are Unix milliseconds. The database is
//! the arbiter of "did this already happen": unique keys on case keys, ticket ids and job
//! dedupe keys.

mod cases;
mod conversation;
mod inbound;
mod jobs;
mod migrations;
mod ops;
mod retention;
mod tickets;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

pub use cases::{CaseRecord, NewCaseRecord};
pub use conversation::{
    BatchRecord, Cursor, MessageRecord, MessageState, NewBatch, NewMessage, Origin, Role,
};
pub use inbound::InboundEvent;
pub(crate) use jobs::new_id;
pub use jobs::{Job, JobStatus, NewJob};
pub use ops::JobQueueStats;
pub use tickets::{NewTicketRecord, TicketRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database behind the bridge.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Woken when a message is recorded or a ticket's status or agent changes, so this
    /// process's event streams see it at once (other replicas' streams poll the store).
    changed: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Connects (creating a SQLite file if it does not exist) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 10 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if is_sqlite {
                        // WAL lets readers run beside the writer; wait for locks instead of
                        // failing when two requests (or two processes) write at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Self {
            pool,
            changed: std::sync::Arc::default(),
        };
        migrations::run(&store.pool).await?;
        Ok(store)
    }

    /// What wakes at the next change of a conversation: create its `notified()` future before
    /// reading, so a change in between is not missed.
    pub fn changes(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
