//! `tickets`: the Zendesk tickets the bridge opened, and which IM steps are done for each.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{now_ms, Result, Store, StoreError};
use crate::ids::{GroupId, ImUserId, TicketId};

/// A ticket the bridge opened, as recorded.
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
    /// When the greeting was first sent; `None` = never tried.
    pub greet_attempt_at: Option<i64>,
    /// When the greeting was known to be posted; `None` = not yet.
    pub greeted_at: Option<i64>,
}

impl TicketRecord {
    /// Group made and greeting posted: nothing left to do for the case.
    pub fn is_finished(&self) -> bool {
        self.group_created_at.is_some() && self.greeted_at.is_some()
    }
}

const SELECT_TICKET: &str = "SELECT ticket_id, group_id, user_id, subject, status, created_at, \
     group_created_at, greet_attempt_at, greeted_at FROM tickets";

impl Store {
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
            "{SELECT_TICKET} WHERE user_id = $1 AND status NOT IN ('solved', 'closed', 'deleted')
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

    /// Recorded before the greeting is sent, so a later retry knows whether IM's five-minute
    /// duplicate window can still cover it.
    pub async fn mark_greet_attempt(&self, ticket: TicketId) -> Result<()> {
        self.mark(ticket, "greet_attempt_at").await
    }

    pub async fn mark_greeted(&self, ticket: TicketId) -> Result<()> {
        self.mark(ticket, "greeted_at").await
    }

    /// Sets a step's timestamp once; a step already marked keeps its first time.
    async fn mark(&self, ticket: TicketId, column: &'static str) -> Result<()> {
        let now = now_ms();
        sqlx::query(&format!(
            "UPDATE tickets SET {column} = COALESCE({column}, $1), updated_at = $2 WHERE ticket_id = $3"
        ))
        .bind(now)
        .bind(now)
        .bind(ticket.0 as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Records a ticket just created in Zendesk; a ticket already recorded keeps its first record.
pub(super) async fn insert_ticket(
    tx: &mut Transaction<'_, Any>,
    ticket: TicketId,
    user: &ImUserId,
    subject: &str,
    status: &str,
) -> Result<()> {
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn ticket_from_row(r: &AnyRow) -> Result<TicketRecord> {
    let id: i64 = r.try_get("ticket_id")?;
    Ok(TicketRecord {
        ticket_id: TicketId(u64::try_from(id).map_err(|_| StoreError::Corrupt {
            what: "ticket id",
            detail: id.to_string(),
        })?),
        group_id: r.try_get("group_id")?,
        user_id: r.try_get("user_id")?,
        subject: r.try_get("subject")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        group_created_at: r.try_get("group_created_at")?,
        greet_attempt_at: r.try_get("greet_attempt_at")?,
        greeted_at: r.try_get("greeted_at")?,
    })
}
