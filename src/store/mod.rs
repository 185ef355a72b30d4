//! The bridge's own state: which tickets it opened, for whom, and how far each case got.
//!
//! One code path for SQLite (the default, a file) and PostgreSQL: queries go through sqlx's
//! `Any` driver and use only SQL both accept (`$n` parameters in order, `BIGINT`/`TEXT`,
//! `ON CONFLICT`). Times are Unix milliseconds.

mod migrations;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::ids::{GroupId, ImUserId, TicketId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A case the bridge opened, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub ticket_id: TicketId,
    pub group_id: String,
    pub user_id: String,
    pub subject: String,
    /// Zendesk status as last seen (new/open/pending/hold/solved/closed).
    pub status: String,
    pub created_at: i64,
    /// When the IM group was made (with the customer in it); `None` = not yet.
    pub group_created_at: Option<i64>,
    /// When the greeting was posted; `None` = not yet.
    pub greeted_at: Option<i64>,
}

/// The database behind the bridge.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
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
                        // failing when two requests write at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Self { pool };
        migrations::run(&store.pool).await?;
        Ok(store)
    }

    /// Whether the database answers (for `/readyz`-style checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records a ticket just created in Zendesk and returns the record; recording the same
    /// ticket twice keeps the first record.
    pub async fn insert_ticket(
        &self,
        ticket: TicketId,
        user: &ImUserId,
        subject: &str,
        status: &str,
    ) -> Result<TicketRecord> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO tickets (ticket_id, group_id, user_id, subject, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (ticket_id) DO NOTHING",
        )
        .bind(ticket.0 as i64)
        .bind(GroupId::for_ticket(ticket).as_str().to_owned())
        .bind(user.as_str().to_owned())
        .bind(subject.to_owned())
        .bind(status.to_owned())
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.ticket(ticket)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    pub async fn ticket(&self, ticket: TicketId) -> Result<Option<TicketRecord>> {
        let row = sqlx::query(&format!("{SELECT_TICKET} WHERE ticket_id = $1"))
            .bind(ticket.0 as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| ticket_from_row(&r)).transpose()
    }

    /// The user's tickets that were not solved or closed when last seen, newest first.
    pub async fn open_tickets_of(&self, user: &ImUserId) -> Result<Vec<TicketRecord>> {
        let rows = sqlx::query(&format!(
            "{SELECT_TICKET} WHERE user_id = $1 AND status NOT IN ('solved', 'closed')
             ORDER BY created_at DESC, ticket_id DESC"
        ))
        .bind(user.as_str().to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    pub async fn set_status(&self, ticket: TicketId, status: &str) -> Result<()> {
        sqlx::query("UPDATE tickets SET status = $1, updated_at = $2 WHERE ticket_id = $3")
            .bind(status.to_owned())
            .bind(now_ms())
            .bind(ticket.0 as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_group_created(&self, ticket: TicketId) -> Result<()> {
        self.mark(ticket, "group_created_at").await
    }

    pub async fn mark_greeted(&self, ticket: TicketId) -> Result<()> {
        self.mark(ticket, "greeted_at").await
    }

    /// Sets a step's timestamp once; a step already marked keeps its first time.
    async fn mark(&self, ticket: TicketId, column: &'static str) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE tickets SET {column} = COALESCE({column}, $1), updated_at = $2 WHERE ticket_id = $3"
        ))
        .bind(now_ms())
        .bind(now_ms())
        .bind(ticket.0 as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

const SELECT_TICKET: &str = "SELECT ticket_id, group_id, user_id, subject, status, created_at, \
     group_created_at, greeted_at FROM tickets";

fn ticket_from_row(r: &AnyRow) -> Result<TicketRecord> {
    Ok(TicketRecord {
        ticket_id: TicketId(r.try_get::<i64, _>("ticket_id")? as u64),
        group_id: r.try_get("group_id")?,
        user_id: r.try_get("user_id")?,
        subject: r.try_get("subject")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        group_created_at: r.try_get("group_created_at")?,
        greeted_at: r.try_get("greeted_at")?,
    })
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
