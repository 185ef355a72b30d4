//! `messages` and `comment_batches`: the conversation of each ticket, and the chat lines on
//! their way into Zendesk comments.
//!
//! The unique keys make every message count once: an IM message is its ticket and `MsgSeq`, a
//! Zendesk comment its id. What is left to mirror is what is still `pending`.

use super::db::Row;
use super::jobs::{request_run_by, JobDone, NewJob};
use super::{now_ms, query, Result, Store, StoreError, Tx};
use crate::ids::TicketId;

/// Where a message was first written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// In the IM group (customer, agent with an IM client, the bridge's admin).
    Im,
    /// A Zendesk comment.
    Zendesk,
    /// Posted by the bridge itself (greeting, notices, command replies).
    Bridge,
}

/// Who wrote a message, as the transcript tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
    Bridge,
}

/// What is left to do for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// To be mirrored to the other side.
    Pending,
    Done,
    /// Not mirrored: an echo, a chat command, another member's message.
    Skipped,
    /// Written in the agents' sidebar app, not yet posted to the group.
    Outbox,
}

macro_rules! text_enum {
    ($t:ident { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }

            fn parse(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($t::$v),)*
                    other => Err(StoreError::Corrupt { what: stringify!($t), detail: other.to_owned() }),
                }
            }
        }
    };
}

text_enum!(Origin { Im = "im", Zendesk = "zendesk", Bridge = "bridge" });
text_enum!(Role { Customer = "customer", Agent = "agent", Bridge = "bridge" });
text_enum!(MessageState { Pending = "pending", Done = "done", Skipped = "skipped", Outbox = "outbox" });

/// A message to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub ticket: TicketId,
    pub origin: Origin,
    pub role: Role,
    /// IM UserID, or Zendesk user id for comments.
    pub sender: String,
    pub name: String,
    /// The readable form (what a comment or the transcript shows).
    pub text: String,
    /// IM's `MsgBody`, or a comment's attachments, as JSON.
    pub elements: serde_json::Value,
    pub im_seq: Option<u64>,
    pub im_random: Option<u32>,
    pub comment_id: Option<u64>,
    pub state: MessageState,
    /// When it was written, Unix ms.
    pub time: i64,
}

impl NewMessage {
    /// The row id: one per IM message, per comment, per bridge post.
    fn id(&self) -> String {
        let t = self.ticket;
        match (self.comment_id, self.im_seq, self.im_random) {
            (Some(c), _, _) => format!("{t}:zd:{c}"),
            (None, Some(seq), _) if self.origin == Origin::Im => format!("{t}:im:{seq}"),
            (None, _, Some(r)) => format!("{t}:post:{r}"),
            (None, seq, None) => format!("{t}:im:{}", seq.unwrap_or_default()),
        }
    }
}

/// A recorded message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: String,
    pub ticket: TicketId,
    pub origin: Origin,
    pub role: Role,
    pub sender: String,
    pub name: String,
    pub text: String,
    pub elements: serde_json::Value,
    pub im_seq: Option<u64>,
    pub im_random: Option<u32>,
    pub comment_id: Option<u64>,
    pub batch_id: Option<String>,
    pub state: MessageState,
    /// When the bridge first tried to post it to IM (IM's duplicate window runs from there).
    pub attempt_at: Option<i64>,
    pub time: i64,
    /// Its place in the ticket's record order (the agents' event stream resumes from it).
    pub pos: i64,
}

/// Chat lines to post as one comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    pub id: String,
    pub ticket: TicketId,
    pub author_id: u64,
    pub body: String,
    /// Also set the ticket to solved (the customer's `/close`).
    pub solve: bool,
    /// The messages it carries.
    pub messages: Vec<String>,
}

/// A batch that was written; `comment_id` once its comment is known to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: String,
    pub ticket: TicketId,
    pub author_id: u64,
    pub body: String,
    pub solve: bool,
    pub comment_id: Option<u64>,
    /// When its update was last sent.
    pub attempt_at: Option<i64>,
}

impl From<NewBatch> for BatchRecord {
    fn from(b: NewBatch) -> Self {
        Self {
            id: b.id,
            ticket: b.ticket,
            author_id: b.author_id,
            body: b.body,
            solve: b.solve,
            comment_id: None,
            attempt_at: None,
        }
    }
}

const MESSAGE_COLUMNS: &str = "id, ticket_id, origin, role, sender, name, text, elements, im_seq, \
     im_random, comment_id, batch_id, state, attempt_at, created_at, pos";
const BATCH_COLUMNS: &str = "id, ticket_id, author_id, body, solve, comment_id, attempt_at";

impl Store {
    /// Records a message unless it was recorded before (same IM seq, same comment, same post);
    /// a pending one asks for `job` to run by `run_at` (sooner if it was due sooner already).
    /// Returns whether it was new.
    pub async fn record_message(&self, msg: &NewMessage, job: Option<&NewJob>) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let added = insert_message(&mut tx, msg).await?;
        if added {
            if let Some(job) = job {
                request_run_by(&mut tx, job).await?;
            }
        }
        tx.commit().await?;
        if added {
            self.notify_changed();
        }
        Ok(added)
    }

    /// The ticket's greeting was posted: marked, with its post put in the transcript (when it
    /// was a message) and the job that posted it completed (when given), in one transaction.
    /// Returns whether that job was still held (`None` without one).
    pub async fn greeted(
        &self,
        ticket: TicketId,
        post: Option<&NewMessage>,
        job: Option<JobDone<'_>>,
    ) -> Result<Option<bool>> {
        let mut tx = self.db.begin().await?;
        let added = match post {
            Some(post) => insert_message(&mut tx, post).await?,
            None => false,
        };
        let now = now_ms();
        query(
            "UPDATE tickets SET greeted_at = COALESCE(greeted_at, $1), updated_at = $2
             WHERE ticket_id = $3",
        )
        .bind(now)
        .bind(now)
        .bind(ticket.0 as i64)
        .execute(&mut tx)
        .await?;
        let held = match job {
            Some(job) => Some(super::jobs::complete_in(&mut tx, job).await?),
            None => None,
        };
        tx.commit().await?;
        if added {
            self.notify_changed();
        }
        Ok(held)
    }

    /// Records several messages and moves a cursor in one transaction (a page of history or
    /// of comments read at once).
    pub async fn record_messages(
        &self,
        ticket: TicketId,
        msgs: &[NewMessage],
        cursor: Cursor,
    ) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let mut added = 0;
        for m in msgs {
            added += usize::from(insert_message(&mut tx, m).await?);
        }
        advance_cursor(&mut tx, ticket, cursor).await?;
        tx.commit().await?;
        if added > 0 {
            self.notify_changed();
        }
        Ok(added)
    }

    /// Moves a cursor forward (never back).
    pub async fn advance_cursor(&self, ticket: TicketId, cursor: Cursor) -> Result<()> {
        let mut tx = self.db.begin().await?;
        advance_cursor(&mut tx, ticket, cursor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The message with this `Random` by this sender: the bridge's own post (a notice, a
    /// mirrored comment, an agent's message from the sidebar), or an IM message seen before.
    pub async fn message_by_random(
        &self,
        ticket: TicketId,
        random: u32,
        sender: &str,
    ) -> Result<Option<MessageRecord>> {
        let row = query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE ticket_id = $1 AND im_random = $2 AND sender = $3"
        ))
        .bind(ticket.0 as i64)
        .bind(i64::from(random))
        .bind(sender.to_owned())
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| message_from_row(&r)).transpose()
    }

    /// IM seqs recorded for the ticket above `after`, ascending.
    pub async fn im_seqs_after(&self, ticket: TicketId, after: u64) -> Result<Vec<u64>> {
        let seqs: Vec<i64> = query(
            "SELECT im_seq FROM messages WHERE ticket_id = $1 AND im_seq > $2 ORDER BY im_seq",
        )
        .bind(ticket.0 as i64)
        .bind(after as i64)
        .scalars(&self.db)
        .await?;
        Ok(seqs.into_iter().map(|s| s as u64).collect())
    }

    /// Messages of the ticket from `origin` still to mirror, in the order they were written;
    /// IM messages only up to seq `up_to` (the ones known to have no unknown message before
    /// them).
    pub async fn pending_messages(
        &self,
        ticket: TicketId,
        origin: Origin,
        up_to: u64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE ticket_id = $1 AND origin = $2 AND state = 'pending' AND batch_id IS NULL
               AND (im_seq IS NULL OR im_seq <= $3)
             ORDER BY im_seq, comment_id, created_at"
        ))
        .bind(ticket.0 as i64)
        .bind(origin.as_str().to_owned())
        .bind(i64::try_from(up_to).unwrap_or(i64::MAX))
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Up to `limit` messages of the ticket recorded after position `after`, in record order.
    pub async fn messages_after(
        &self,
        ticket: TicketId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND pos > $2
             ORDER BY pos LIMIT $3"
        ))
        .bind(ticket.0 as i64)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Sidebar messages of the ticket not yet posted to the group, oldest first.
    pub async fn outbox(&self, ticket: TicketId) -> Result<Vec<MessageRecord>> {
        let rows = query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = $1 AND state = 'outbox'
             ORDER BY pos"
        ))
        .bind(ticket.0 as i64)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The message with this id.
    pub async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        let row = query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| message_from_row(&r)).transpose()
    }

    /// Sets what is left to do for messages (a command handled, an echo recognised).
    pub async fn set_message_state(&self, ids: &[String], state: MessageState) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for id in ids {
            query("UPDATE messages SET state = $1 WHERE id = $2")
                .bind(state.as_str().to_owned())
                .bind(id.clone())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An IM post is about to be sent (first time only): IM's duplicate window starts here.
    pub async fn mark_post_attempt(&self, id: &str) -> Result<()> {
        query("UPDATE messages SET attempt_at = COALESCE(attempt_at, $1) WHERE id = $2")
            .bind(now_ms())
            .bind(id.to_owned())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// A post reached the IM group as `seq` (unknown when IM dropped it as a resend); what is
    /// left to do for it is `then` (done; or pending, for a sidebar message that goes on to the
    /// ticket).
    pub async fn post_delivered(
        &self,
        id: &str,
        seq: Option<u64>,
        then: MessageState,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query("UPDATE messages SET state = $1, sent_at = $2 WHERE id = $3")
            .bind(then.as_str().to_owned())
            .bind(now_ms())
            .bind(id.to_owned())
            .execute(&mut tx)
            .await?;
        if let Some(seq) = seq {
            set_seq(&mut tx, id, seq).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that a post of the bridge was seen in IM as `seq` (its callback or history).
    pub async fn post_seen(&self, id: &str, seq: u64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        set_seq(&mut tx, id, seq).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a batch and ties its messages to it, before its update is sent.
    pub async fn start_batch(&self, batch: &NewBatch) -> Result<()> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        query(
            "INSERT INTO comment_batches (id, ticket_id, author_id, body, solve, state, created_at)
             VALUES ($1, $2, $3, $4, $5, 'sending', $6)",
        )
        .bind(batch.id.clone())
        .bind(batch.ticket.0 as i64)
        .bind(batch.author_id as i64)
        .bind(batch.body.clone())
        .bind(i64::from(batch.solve))
        .bind(now)
        .execute(&mut tx)
        .await?;
        for id in &batch.messages {
            query("UPDATE messages SET batch_id = $1 WHERE id = $2 AND batch_id IS NULL")
                .bind(batch.id.clone())
                .bind(id.clone())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The ticket's batch whose comment is not known to exist yet, if any.
    pub async fn open_batch(&self, ticket: TicketId) -> Result<Option<BatchRecord>> {
        let row = query(&format!(
            "SELECT {BATCH_COLUMNS} FROM comment_batches
             WHERE ticket_id = $1 AND state = 'sending' ORDER BY created_at LIMIT 1"
        ))
        .bind(ticket.0 as i64)
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| batch_from_row(&r)).transpose()
    }

    /// The batch's update is being sent (again).
    pub async fn mark_batch_attempt(&self, id: &str) -> Result<()> {
        query("UPDATE comment_batches SET attempt_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id.to_owned())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The batch's comment exists: the batch and its messages are done. Returns how many
    /// messages (chat lines) it carried.
    pub async fn batch_sent(&self, id: &str, comment_id: Option<u64>) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        query(
            "UPDATE comment_batches SET state = 'sent', comment_id = $1,
                    sent_at = COALESCE(sent_at, $2)
             WHERE id = $3",
        )
        .bind(comment_id.map(|c| c as i64))
        .bind(now)
        .bind(id.to_owned())
        .execute(&mut tx)
        .await?;
        let lines = query("UPDATE messages SET state = 'done', sent_at = $1 WHERE batch_id = $2")
            .bind(now)
            .bind(id.to_owned())
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(lines)
    }

    /// Whether the comment is one the bridge added (a batch of chat lines).
    pub async fn is_bridge_comment(&self, comment_id: u64) -> Result<bool> {
        let found: Option<String> = query("SELECT id FROM comment_batches WHERE comment_id = $1")
            .bind(comment_id as i64)
            .optional_scalar(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Zendesk refused the batch for good (the ticket is closed): its lines stay in the
    /// transcript only.
    pub async fn batch_refused(&self, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query("UPDATE comment_batches SET state = 'refused' WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut tx)
            .await?;
        query("UPDATE messages SET state = 'skipped' WHERE batch_id = $1")
            .bind(id.to_owned())
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ticket updates the bridge sent since `since` (Unix ms): for one ticket, or all. Returns
    /// how many, and when the oldest of them was sent.
    pub async fn updates_since(
        &self,
        ticket: Option<TicketId>,
        since: i64,
    ) -> Result<(i64, Option<i64>)> {
        let (count, oldest): (i64, Option<i64>) = match ticket {
            Some(t) => {
                query(
                    "SELECT COUNT(*), MIN(attempt_at) FROM comment_batches
                     WHERE ticket_id = $1 AND attempt_at > $2",
                )
                .bind(t.0 as i64)
                .bind(since)
                .tuple(&self.db)
                .await?
            }
            None => {
                query("SELECT COUNT(*), MIN(attempt_at) FROM comment_batches WHERE attempt_at > $1")
                    .bind(since)
                    .tuple(&self.db)
                    .await?
            }
        };
        Ok((count, oldest))
    }

    /// Tickets whose conversation may still move: group made, not closed, with something
    /// recorded since `since` (Unix ms; `None` = any).
    pub async fn conversation_tickets(&self, since: Option<i64>) -> Result<Vec<TicketId>> {
        let ids: Vec<i64> = query(
            "SELECT ticket_id FROM tickets
             WHERE status NOT IN ('closed', 'deleted') AND group_created_at IS NOT NULL
               AND COALESCE(last_activity_at, created_at) >= $1
             ORDER BY ticket_id",
        )
        .bind(since.unwrap_or(i64::MIN))
        .scalars(&self.db)
        .await?;
        Ok(ids.into_iter().map(|i| TicketId(i as u64)).collect())
    }
}

/// Which side's cursor to move, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    None,
    /// Every IM seq up to this one is known.
    Im(u64),
    /// Every Zendesk comment up to this id was looked at.
    Comment(u64),
}

async fn advance_cursor(tx: &mut Tx, ticket: TicketId, c: Cursor) -> Result<()> {
    let (column, value) = match c {
        Cursor::None => return Ok(()),
        Cursor::Im(seq) => ("im_cursor", seq),
        Cursor::Comment(id) => ("comment_cursor", id),
    };
    query(&format!(
        "UPDATE tickets SET {column} = $1 WHERE ticket_id = $2 AND {column} < $3"
    ))
    .bind(value as i64)
    .bind(ticket.0 as i64)
    .bind(value as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Gives a post its seq, unless another row already has it (then that one stands).
async fn set_seq(tx: &mut Tx, id: &str, seq: u64) -> Result<()> {
    let (ticket, taken): (i64, Option<String>) = query(
        "SELECT m.ticket_id, (SELECT o.id FROM messages o
                              WHERE o.ticket_id = m.ticket_id AND o.im_seq = $1)
         FROM messages m WHERE m.id = $2",
    )
    .bind(seq as i64)
    .bind(id.to_owned())
    .optional_tuple(&mut *tx)
    .await?
    .unwrap_or((0, None));
    if taken.is_none() && ticket != 0 {
        query("UPDATE messages SET im_seq = $1 WHERE id = $2 AND im_seq IS NULL")
            .bind(seq as i64)
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn insert_message(tx: &mut Tx, m: &NewMessage) -> Result<bool> {
    // The ticket's counter, taken in the transaction (a row lock on PostgreSQL): positions are
    // unique and increasing; a duplicate leaves a gap, which readers do not mind. The same
    // statement marks the conversation active (for the sweep).
    let pos: i64 = query(
        "UPDATE tickets SET msg_pos = msg_pos + 1, last_activity_at = $1 WHERE ticket_id = $2
         RETURNING msg_pos",
    )
    .bind(now_ms())
    .bind(m.ticket.0 as i64)
    .optional_scalar(&mut *tx)
    .await?
    .unwrap_or(0);
    // No conflict target: a clash on the id, the (ticket, seq) or the comment id all mean
    // "already recorded".
    let added = query(
        "INSERT INTO messages (id, ticket_id, origin, role, sender, name, text, elements, im_seq,
                               im_random, comment_id, state, created_at, recorded_at, pos)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT DO NOTHING",
    )
    .bind(m.id())
    .bind(m.ticket.0 as i64)
    .bind(m.origin.as_str().to_owned())
    .bind(m.role.as_str().to_owned())
    .bind(m.sender.clone())
    .bind(m.name.clone())
    .bind(m.text.clone())
    .bind(m.elements.to_string())
    .bind(m.im_seq.map(|s| s as i64))
    .bind(m.im_random.map(i64::from))
    .bind(m.comment_id.map(|c| c as i64))
    .bind(m.state.as_str().to_owned())
    .bind(m.time)
    .bind(now_ms())
    .bind(pos)
    .execute(&mut *tx)
    .await?;
    Ok(added > 0)
}

fn message_from_row(r: &Row) -> Result<MessageRecord> {
    let elements: String = r.get("elements")?;
    Ok(MessageRecord {
        id: r.get("id")?,
        ticket: TicketId(r.get::<i64>("ticket_id")? as u64),
        origin: Origin::parse(&r.get::<String>("origin")?)?,
        role: Role::parse(&r.get::<String>("role")?)?,
        sender: r.get("sender")?,
        name: r.get("name")?,
        text: r.get("text")?,
        elements: serde_json::from_str(&elements).map_err(|e| StoreError::Corrupt {
            what: "message elements",
            detail: e.to_string(),
        })?,
        im_seq: r.get::<Option<i64>>("im_seq")?.map(|s| s as u64),
        im_random: r.get::<Option<i64>>("im_random")?.map(|s| s as u32),
        comment_id: r.get::<Option<i64>>("comment_id")?.map(|c| c as u64),
        batch_id: r.get("batch_id")?,
        state: MessageState::parse(&r.get::<String>("state")?)?,
        attempt_at: r.get("attempt_at")?,
        time: r.get("created_at")?,
        pos: r.get("pos")?,
    })
}

fn batch_from_row(r: &Row) -> Result<BatchRecord> {
    Ok(BatchRecord {
        id: r.get("id")?,
        ticket: TicketId(r.get::<i64>("ticket_id")? as u64),
        author_id: r.get::<i64>("author_id")? as u64,
        body: r.get("body")?,
        solve: r.get::<i64>("solve")? != 0,
        comment_id: r.get::<Option<i64>>("comment_id")?.map(|c| c as u64),
        attempt_at: r.get("attempt_at")?,
    })
}
