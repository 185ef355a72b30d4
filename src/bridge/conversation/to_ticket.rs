//! Chat → ticket: the per-ticket job that turns pending chat lines into public comments.
//!
//! - Lines are taken in `MsgSeq` order once every seq up to them is known (a hole is filled
//!   from the group's history first), so the ticket reads in the order the chat was written.
//! - Consecutive lines of one sender become one comment (one line each, with time and sender),
//!   authored by the requester for the customer and by the agent for an agent's IM account.
//! - Before each update the bridge's own budget is checked: at most
//!   `ZENDESK_TICKET_UPDATES_PER_10MIN` on one ticket and `ZENDESK_TICKET_UPDATES_PER_MIN`
//!   across the account (Zendesk allows 30 and about 100). Over it, the job waits and the lines
//!   keep gathering into the next comment: nothing is lost and Zendesk never has to say 429.
//! - A batch is written (with its lines) before its update is sent, and the update carries the
//!   batch id in its audit metadata. A ticket update has no idempotency key, so when the answer
//!   is lost the next try first waits out Zendesk's processing time, then looks for the marker
//!   among the ticket's newest comments, and sends again only if it is not there.

use serde_json::json;

use super::commands::{self, Command};
use super::{Bridge, BridgeError, Step, BATCH_MARKER};
use crate::ids::TicketId;
use crate::metrics::Direction;
use crate::store::{now_ms, BatchRecord, MessageRecord, NewBatch, Origin, Role, TicketRecord};
use crate::zendesk::types::{CommentUpdate, NewComment};
use crate::zendesk::ZendeskError;

const TEN_MINUTES_MS: i64 = 10 * 60 * 1000;
const MINUTE_MS: i64 = 60 * 1000;
/// Zendesk truncates comment bodies at 64 kB; a batch stays well under it.
const MAX_BODY_BYTES: usize = 60 * 1024;
/// Pages of 100 newest comments searched for a batch whose answer was lost.
const MARKER_PAGES: usize = 3;

/// What the pending lines come to, in order.
enum Unit<'a> {
    /// Consecutive lines of one sender.
    Lines(Vec<&'a MessageRecord>),
    Command(Command, &'a MessageRecord),
}

impl Bridge {
    /// Mirrors what is pending in the ticket's chat to the ticket. `catch_up` reads the
    /// group's history even without a visible hole (a sweep).
    #[tracing::instrument(skip(self), fields(ticket_id = ticket.0))]
    pub async fn mirror_chat(&self, ticket: TicketId, catch_up: bool) -> Result<Step, BridgeError> {
        let Some(rec) = self.store.ticket(ticket).await? else {
            return Ok(Step::Done);
        };
        if rec.group_created_at.is_none() {
            return Ok(Step::Done);
        }
        // Messages agents wrote in the sidebar go into the group first (then on, like any line).
        for msg in self.store.outbox(ticket).await? {
            self.post_recorded(&msg, Some((&msg.sender, &msg.name)), msg.text.clone())
                .await?;
        }
        if let Some(open) = self.store.open_batch(ticket).await? {
            if let Step::Later(at) = self.resolve_batch(&rec, &open).await? {
                return Ok(Step::Later(at));
            }
        }
        let known = self.catch_up_im(&rec, catch_up).await?;
        let pending = self
            .store
            .pending_messages(ticket, Origin::Im, known)
            .await?;
        for unit in units(&pending, &self.conversation.command_prefix) {
            let step = match unit {
                Unit::Lines(lines) => self.post_lines(&rec, &lines).await?,
                Unit::Command(command, msg) => self.run_command(&rec, command, msg).await?,
            };
            if let Step::Later(at) = step {
                tracing::info!(
                    wait_ms = at.saturating_sub(now_ms()),
                    "ticket update budget spent; chat lines wait for the next comment"
                );
                return Ok(step);
            }
        }
        Ok(Step::Done)
    }

    /// Posts consecutive lines of one sender as one comment (or a few, if very long).
    async fn post_lines(
        &self,
        rec: &TicketRecord,
        lines: &[&MessageRecord],
    ) -> Result<Step, BridgeError> {
        let Some(first) = lines.first() else {
            return Ok(Step::Done);
        };
        let author = match first.role {
            Role::Agent => self.agent_of(&first.sender).ok_or_else(|| {
                BridgeError::NotReady(format!("{} is not an agent account", first.sender))
            })?,
            _ => self.requester_id(rec).await?,
        };
        for chunk in chunks(lines) {
            if let Some(at) = self.update_budget(rec.ticket_id).await? {
                return Ok(Step::Later(at));
            }
            let batch = NewBatch {
                id: crate::store::new_id(),
                ticket: rec.ticket_id,
                author_id: author,
                body: comment_body(&chunk),
                solve: false,
                messages: chunk.iter().map(|m| m.id.clone()).collect(),
            };
            self.store.start_batch(&batch).await?;
            self.send_batch(rec, &batch.into()).await?;
        }
        Ok(Step::Done)
    }

    /// When the next ticket update fits in the bridge's budget: `None` = now.
    pub(super) async fn update_budget(
        &self,
        ticket: TicketId,
    ) -> Result<Option<i64>, crate::store::StoreError> {
        let now = now_ms();
        let rules = &self.conversation;
        let (on_ticket, oldest) = self
            .store
            .updates_since(Some(ticket), now - TEN_MINUTES_MS)
            .await?;
        if on_ticket >= i64::from(rules.ticket_updates_per_10min) {
            return Ok(Some(oldest.unwrap_or(now) + TEN_MINUTES_MS + 1));
        }
        let (on_account, oldest) = self.store.updates_since(None, now - MINUTE_MS).await?;
        if on_account >= i64::from(rules.account_updates_per_min) {
            return Ok(Some(oldest.unwrap_or(now) + MINUTE_MS + 1));
        }
        Ok(None)
    }

    /// Sends a written batch's update. A closed ticket refuses it for good: its lines stay in
    /// the transcript only.
    pub(super) async fn send_batch(
        &self,
        rec: &TicketRecord,
        batch: &BatchRecord,
    ) -> Result<(), BridgeError> {
        self.store.mark_batch_attempt(&batch.id).await?;
        let update = CommentUpdate {
            comment: NewComment {
                body: batch.body.clone(),
                public: true,
                author_id: Some(batch.author_id),
            },
            status: batch.solve.then(|| "solved".to_owned()),
            metadata: json!({ BATCH_MARKER: batch.id }),
        };
        match self.zendesk.add_comment(rec.ticket_id.0, &update).await {
            Ok(comment) => {
                let lines = self.store.batch_sent(&batch.id, comment).await?;
                self.metrics.mirrored(Direction::ChatToTicket, lines);
                tracing::info!(ticket_id = rec.ticket_id.0, comment_id = ?comment, "chat lines added to the ticket");
                Ok(())
            }
            Err(ZendeskError::Rejected {
                status: 422,
                message,
            }) if message.contains("closed") => {
                tracing::warn!(
                    ticket_id = rec.ticket_id.0,
                    "the ticket is closed: chat lines stay in the transcript only"
                );
                self.store.batch_refused(&batch.id).await?;
                Ok(())
            }
            Err(e) => Err(BridgeError::Zendesk(e)),
        }
    }

    /// Finishes a batch written by an earlier try: sends it if it was never sent; if its answer
    /// was lost, waits until Zendesk must have finished with it, then looks for its marker and
    /// sends again only if the comment is not there.
    async fn resolve_batch(
        &self,
        rec: &TicketRecord,
        batch: &BatchRecord,
    ) -> Result<Step, BridgeError> {
        let Some(sent_at) = batch.attempt_at else {
            self.send_batch(rec, batch).await?;
            return Ok(Step::Done);
        };
        let settled = sent_at + self.zendesk.timeout().as_millis() as i64;
        if now_ms() < settled {
            return Ok(Step::Later(settled));
        }
        let mut pages = 0;
        let found = self
            .zendesk
            .comments_newest_first(rec.ticket_id.0, |page| {
                pages += 1;
                pages >= MARKER_PAGES || page.iter().any(|c| is_batch(c, &batch.id))
            })
            .await
            .map_err(BridgeError::Zendesk)?
            .into_iter()
            .find(|c| is_batch(c, &batch.id));
        match found {
            Some(comment) => {
                tracing::info!(
                    ticket_id = rec.ticket_id.0,
                    comment_id = comment.id,
                    "a comment whose answer was lost had landed"
                );
                let lines = self.store.batch_sent(&batch.id, Some(comment.id)).await?;
                self.metrics.mirrored(Direction::ChatToTicket, lines);
            }
            None => self.send_batch(rec, batch).await?,
        }
        Ok(Step::Done)
    }
}

fn is_batch(c: &crate::zendesk::types::Comment, id: &str) -> bool {
    c.custom(BATCH_MARKER).and_then(|v| v.as_str()) == Some(id)
}

/// Pending lines as runs of one sender, with each command on its own.
fn units<'a>(pending: &'a [MessageRecord], prefix: &str) -> Vec<Unit<'a>> {
    let mut out: Vec<Unit<'a>> = Vec::new();
    for m in pending {
        let command = (m.role == Role::Customer)
            .then(|| crate::im::elements::plain_text(m.elements.as_array()?.as_slice()))
            .flatten()
            .and_then(|text| commands::parse(prefix, text));
        match (command, out.last_mut()) {
            (Some(c), _) => out.push(Unit::Command(c, m)),
            (None, Some(Unit::Lines(run))) if run.last().is_some_and(|l| l.sender == m.sender) => {
                run.push(m)
            }
            (None, _) => out.push(Unit::Lines(vec![m])),
        }
    }
    out
}

/// Splits a run so that no comment body outgrows [`MAX_BODY_BYTES`].
fn chunks<'a>(lines: &[&'a MessageRecord]) -> Vec<Vec<&'a MessageRecord>> {
    let mut out: Vec<Vec<&'a MessageRecord>> = Vec::new();
    let mut size = 0;
    for line in lines {
        let len = line.text.len() + line.name.len() + 16;
        match out.last_mut() {
            Some(chunk) if size + len <= MAX_BODY_BYTES => chunk.push(line),
            _ => {
                out.push(vec![line]);
                size = 0;
            }
        }
        size += len;
    }
    out
}

/// One line alone is the comment; several are one line each: `[hh:mm:ss UTC] Name: text`.
fn comment_body(lines: &[&MessageRecord]) -> String {
    match lines {
        [one] => one.text.clone(),
        many => many
            .iter()
            .map(|m| format!("[{} UTC] {}: {}", clock(m.time), m.name, m.text))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// `hh:mm:ss` of a Unix ms time, UTC.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageState;

    fn line(seq: u64, sender: &str, role: Role, text: &str) -> MessageRecord {
        MessageRecord {
            id: format!("1:im:{seq}"),
            ticket: TicketId(1),
            origin: Origin::Im,
            role,
            sender: sender.into(),
            name: sender.to_uppercase(),
            text: text.into(),
            elements: json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]),
            im_seq: Some(seq),
            im_random: Some(1),
            comment_id: None,
            batch_id: None,
            state: MessageState::Pending,
            attempt_at: None,
            time: 1_700_000_000_000 + seq as i64 * 1000,
            pos: seq as i64,
        }
    }

    #[test]
    fn runs_split_by_sender_and_commands() {
        let pending = [
            line(1, "alice", Role::Customer, "hi"),
            line(2, "alice", Role::Customer, "order 42"),
            line(3, "zd_7", Role::Agent, "looking"),
            line(4, "alice", Role::Customer, "/status"),
            line(5, "alice", Role::Customer, "/statuses are odd"),
            line(6, "alice", Role::Customer, "thanks"),
        ];
        let shape: Vec<String> = units(&pending, "/")
            .iter()
            .map(|u| match u {
                Unit::Lines(l) => l
                    .iter()
                    .map(|m| m.im_seq.unwrap_or(0).to_string())
                    .collect(),
                Unit::Command(c, _) => format!("{c:?}"),
            })
            .collect();
        assert_eq!(shape, ["12", "3", "Status", "56"]);
    }

    #[test]
    fn bodies_are_the_text_or_timed_lines() {
        let a = line(1, "alice", Role::Customer, "hi");
        let b = line(2, "alice", Role::Customer, "order 42");
        assert_eq!(comment_body(&[&a]), "hi");
        assert_eq!(
            comment_body(&[&a, &b]),
            "[22:13:21 UTC] ALICE: hi\n[22:13:22 UTC] ALICE: order 42"
        );
        let big = line(3, "alice", Role::Customer, &"x".repeat(40_000));
        assert_eq!(chunks(&[&big, &big, &a]).len(), 2);
    }
}
