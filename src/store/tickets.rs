//! `tickets`: the Zendesk tickets the bridge opened, and which IM steps are done for each.

use super::db::{Arg, Row};
use super::{now_ms, query, Result, Store, StoreError, Tx};
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
    /// The Zendesk agent the bridge put in the group (and announced).
    pub agent_id: Option<u64>,
    /// Join notices posted so far.
    pub joins: i64,
    /// The last status announced in the group (solved/closed), if any.
    pub notified_status: Option<String>,
    /// Status notices posted so far.
    pub status_notices: i64,
    pub muted: bool,
    /// Every IM message up to this seq is recorded (or known not to matter).
    pub im_cursor: u64,
    /// Every Zendesk comment up to this id was looked at.
    pub comment_cursor: u64,
    /// The name of the agent in `agent_id`.
    pub agent_name: Option<String>,
    /// The name the customer gave when the ticket was opened.
    pub customer_name: Option<String>,
}

impl TicketRecord {
    /// The ticket and its group with the customer exist: the customer can open the chat.
    pub fn chat_ready(&self) -> bool {
        self.group_created_at.is_some()
    }
}

const SELECT_TICKET: &str = "SELECT ticket_id, group_id, user_id, subject, status, created_at, \
     group_created_at, greet_attempt_at, greeted_at, agent_id, joins, notified_status, \
     status_notices, muted, im_cursor, comment_cursor, agent_name, customer_name FROM tickets";

impl Store {
    pub async fn ticket(&self, ticket: TicketId) -> Result<Option<TicketRecord>> {
        let row = query(&format!("{SELECT_TICKET} WHERE ticket_id = $1"))
            .bind(ticket.0 as i64)
            .fetch_optional(&self.db)
            .await?;
        row.map(|r| ticket_from_row(&r)).transpose()
    }

    /// The user's tickets that were not solved or closed when last seen, newest first.
    pub async fn open_tickets_of(&self, user: &ImUserId) -> Result<Vec<TicketRecord>> {
        let rows = query(&format!(
            "{SELECT_TICKET} WHERE user_id = $1 AND status NOT IN ('solved', 'closed', 'deleted')
             ORDER BY created_at DESC, ticket_id DESC"
        ))
        .bind(user.as_str().to_owned())
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// Tickets whose group may still have to follow Zendesk (not closed or deleted).
    pub async fn syncable_tickets(&self) -> Result<Vec<TicketId>> {
        let ids: Vec<i64> = query(
            "SELECT ticket_id FROM tickets WHERE status NOT IN ('closed', 'deleted')
               AND group_created_at IS NOT NULL ORDER BY ticket_id",
        )
        .scalars(&self.db)
        .await?;
        Ok(ids.into_iter().map(|i| TicketId(i as u64)).collect())
    }

    pub async fn set_status(&self, ticket: TicketId, status: &str) -> Result<()> {
        self.update_ticket(ticket, "status = $1", status.into())
            .await?;
        self.notify_changed();
        Ok(())
    }

    /// The group exists with the customer in it, and the greeting goes out next: its first
    /// attempt counts from now (a bound on the safe side for IM's duplicate window). In the
    /// same statement: whether Zendesk reported an assignment or status change of the ticket
    /// while the group was being made (its sync waited for the group).
    pub async fn mark_group_created(&self, ticket: TicketId) -> Result<bool> {
        let now = now_ms();
        let events: Option<i64> = query(
            "UPDATE tickets SET group_created_at = COALESCE(group_created_at, $1),
                    greet_attempt_at = COALESCE(greet_attempt_at, $2), updated_at = $3
             WHERE ticket_id = $4
             RETURNING CAST(CASE WHEN EXISTS (SELECT 1 FROM inbound_events
                 WHERE ticket_id = $5 AND event_type <> $6) THEN 1 ELSE 0 END AS BIGINT)",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(ticket.0 as i64)
        .bind(ticket.0 as i64)
        .bind(crate::zendesk::webhook::COMMENT_ADDED.to_owned())
        .optional_scalar(&self.db)
        .await?;
        self.notify_changed();
        Ok(events.unwrap_or(0) != 0)
    }

    /// Recorded before the greeting is sent, so a later retry knows whether IM's five-minute
    /// duplicate window can still cover it.
    pub async fn mark_greet_attempt(&self, ticket: TicketId) -> Result<()> {
        self.mark(ticket, "greet_attempt_at").await
    }

    /// The agent is in the group and was announced.
    pub async fn agent_joined(&self, ticket: TicketId, agent: u64, name: &str) -> Result<()> {
        query(
            "UPDATE tickets SET agent_id = $1, agent_name = $2, joins = joins + 1, updated_at = $3
             WHERE ticket_id = $4",
        )
        .bind(agent as i64)
        .bind(name.to_owned())
        .bind(now_ms())
        .bind(ticket.0 as i64)
        .execute(&self.db)
        .await?;
        self.notify_changed();
        Ok(())
    }

    /// Nobody from support is in the group any more.
    pub async fn agent_left(&self, ticket: TicketId) -> Result<()> {
        self.clear_ticket_column(ticket, "agent_id").await?;
        self.notify_changed();
        Ok(())
    }

    /// A status notice was posted.
    pub async fn status_announced(&self, ticket: TicketId, status: &str) -> Result<()> {
        self.update_ticket(
            ticket,
            "notified_status = $1, status_notices = status_notices + 1",
            status.into(),
        )
        .await
    }

    /// The ticket left solved/closed: the next solve or close is announced again.
    pub async fn status_reopened(&self, ticket: TicketId) -> Result<()> {
        self.clear_ticket_column(ticket, "notified_status").await
    }

    async fn clear_ticket_column(&self, ticket: TicketId, column: &'static str) -> Result<()> {
        query(&format!(
            "UPDATE tickets SET {column} = NULL, updated_at = $1 WHERE ticket_id = $2"
        ))
        .bind(now_ms())
        .bind(ticket.0 as i64)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn set_muted(&self, ticket: TicketId, muted: bool) -> Result<()> {
        self.update_ticket(ticket, "muted = $1", i64::from(muted).into())
            .await
    }

    /// `UPDATE tickets SET {set}` where `set` uses `$1` = `value`.
    async fn update_ticket(&self, ticket: TicketId, set: &str, value: Arg<'_>) -> Result<()> {
        query(&format!(
            "UPDATE tickets SET {set}, updated_at = $2 WHERE ticket_id = $3"
        ))
        .bind(value)
        .bind(now_ms())
        .bind(ticket.0 as i64)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Sets a step's timestamp once; a step already marked keeps its first time.
    async fn mark(&self, ticket: TicketId, column: &'static str) -> Result<()> {
        let now = now_ms();
        query(&format!(
            "UPDATE tickets SET {column} = COALESCE({column}, $1), updated_at = $2 WHERE ticket_id = $3"
        ))
        .bind(now)
        .bind(now)
        .bind(ticket.0 as i64)
        .execute(&self.db)
        .await?;
        Ok(())
    }
}

/// A ticket just created in Zendesk, as the store records it.
#[derive(Debug, Clone, Copy)]
pub struct NewTicketRecord<'a> {
    pub user: &'a ImUserId,
    pub subject: &'a str,
    pub status: &'a str,
    /// The name the customer gave (the conversation names them with it).
    pub customer_name: &'a str,
}

/// Records a ticket just created in Zendesk; a ticket already recorded keeps its first record.
/// Returns the record when it was written now (it is then known without reading it back).
pub(super) async fn insert_ticket(
    tx: &mut Tx,
    ticket: TicketId,
    new: &NewTicketRecord<'_>,
) -> Result<Option<TicketRecord>> {
    let now = now_ms();
    let group_id = GroupId::for_ticket(ticket).as_str().to_owned();
    let added = query(
        "INSERT INTO tickets (ticket_id, group_id, user_id, subject, status, customer_name,
                              created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (ticket_id) DO NOTHING",
    )
    .bind(ticket.0 as i64)
    .bind(group_id.clone())
    .bind(new.user.as_str().to_owned())
    .bind(new.subject.to_owned())
    .bind(new.status.to_owned())
    .bind(new.customer_name.to_owned())
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The columns not written take their defaults (see the migrations).
    Ok((added > 0).then(|| TicketRecord {
        ticket_id: ticket,
        group_id,
        user_id: new.user.as_str().to_owned(),
        subject: new.subject.to_owned(),
        status: new.status.to_owned(),
        created_at: now,
        group_created_at: None,
        greet_attempt_at: None,
        greeted_at: None,
        agent_id: None,
        joins: 0,
        notified_status: None,
        status_notices: 0,
        muted: false,
        im_cursor: 0,
        comment_cursor: 0,
        agent_name: None,
        customer_name: Some(new.customer_name.to_owned()),
    }))
}

fn ticket_from_row(r: &Row) -> Result<TicketRecord> {
    let id: i64 = r.get("ticket_id")?;
    Ok(TicketRecord {
        ticket_id: TicketId(u64::try_from(id).map_err(|_| StoreError::Corrupt {
            what: "ticket id",
            detail: id.to_string(),
        })?),
        group_id: r.get("group_id")?,
        user_id: r.get("user_id")?,
        subject: r.get("subject")?,
        status: r.get("status")?,
        created_at: r.get("created_at")?,
        group_created_at: r.get("group_created_at")?,
        greet_attempt_at: r.get("greet_attempt_at")?,
        greeted_at: r.get("greeted_at")?,
        agent_id: r.get::<Option<i64>>("agent_id")?.map(|a| a as u64),
        joins: r.get("joins")?,
        notified_status: r.get("notified_status")?,
        status_notices: r.get("status_notices")?,
        muted: r.get::<i64>("muted")? != 0,
        im_cursor: r.get::<i64>("im_cursor")?.max(0) as u64,
        comment_cursor: r.get::<i64>("comment_cursor")?.max(0) as u64,
        agent_name: r.get("agent_name")?,
        customer_name: r.get("customer_name")?,
    })
}
