//! IM messages into the conversation: from their callback, or from the group's history when a
//! callback was lost. Each is recorded once (ticket + `MsgSeq`); the bridge's own posts are
//! recognised by their `Random` and never mirrored back.

use serde_json::Value;

use super::{Bridge, BridgeError};
use crate::bridge::open_case::HISTORY_PAGES;
use crate::ids::GroupId;
use crate::im::callback::SentGroupMessage;
use crate::im::elements;
use crate::im::types::HistoryMessage;
use crate::store::{Cursor, MessageState, NewMessage, Origin, Role, StoreError, TicketRecord};

/// An IM group message, from a callback or the history.
#[derive(Debug, Clone, PartialEq)]
pub struct ImMessage {
    pub seq: u64,
    pub random: u32,
    pub from: String,
    /// Unix seconds.
    pub time: u64,
    pub body: Vec<Value>,
    /// A group tip or system notice (a member joined, …): takes a seq, says nothing.
    pub system: bool,
}

impl From<SentGroupMessage> for ImMessage {
    fn from(m: SentGroupMessage) -> Self {
        Self {
            seq: m.seq,
            // `Random` is a uint32 in IM's API; wider values come only from a broken sender.
            random: m.random as u32,
            from: m.from,
            time: m.time,
            body: m.body,
            system: false,
        }
    }
}

impl From<&HistoryMessage> for ImMessage {
    fn from(m: &HistoryMessage) -> Self {
        let body = m.body.as_array().cloned().unwrap_or_default();
        let tip = body
            .iter()
            .any(|e| e.get("MsgType").and_then(Value::as_str) == Some("TIMGroupTipElem"));
        Self {
            seq: m.seq,
            random: m.random as u32,
            from: m.from.clone(),
            time: m.time,
            body,
            system: m.is_system != 0 || tip,
        }
    }
}

impl Bridge {
    /// Records a message IM reported (callback) and asks for the chat → ticket job if it is to
    /// be mirrored. Returns whether it was new.
    pub async fn chat_message_arrived(
        &self,
        rec: &TicketRecord,
        msg: ImMessage,
    ) -> Result<bool, StoreError> {
        let Some(new) = self.classify(rec, &msg).await? else {
            return Ok(false);
        };
        let job = (new.state == MessageState::Pending).then(|| {
            crate::jobs::mirror_chat_job(
                rec.ticket_id,
                false,
                crate::store::now_ms() + self.conversation.batch_window_ms,
            )
        });
        self.store.record_message(&new, job.as_ref()).await
    }

    /// What an IM message is to the conversation; `None` when there is nothing to record (a
    /// group tip, or a post of the bridge's that is already recorded).
    async fn classify(
        &self,
        rec: &TicketRecord,
        m: &ImMessage,
    ) -> Result<Option<NewMessage>, StoreError> {
        if m.system {
            return Ok(None);
        }
        let admin = self.im.admin();
        // The bridge posts as the admin (greeting, notices, replies) and as assignees
        // (mirrored comments), each with a `Random` it recorded first.
        if m.from == admin || self.agent_of(&m.from).is_some() {
            if let Some(own) = self
                .store
                .message_by_random(rec.ticket_id, m.random, &m.from)
                .await?
            {
                if own.im_seq.is_none() {
                    self.store.post_seen(&own.id, m.seq).await?;
                }
                return Ok(None);
            }
        }
        let (role, name, state) = if m.from == admin {
            // Another post of the admin account (the greeting, a notice): in the transcript,
            // never mirrored.
            (Role::Bridge, "Support".to_owned(), MessageState::Skipped)
        } else if let Some(agent) = self.agent_of(&m.from) {
            let name = match (&rec.agent_name, rec.agent_id) {
                (Some(name), Some(id)) if id == agent => name.clone(),
                _ => m.from.clone(),
            };
            (Role::Agent, name, MessageState::Pending)
        } else if m.from == rec.user_id {
            (
                Role::Customer,
                Self::customer_name(rec),
                MessageState::Pending,
            )
        } else {
            // Someone else who joined the (public) group: kept in the transcript, but never
            // put on the ticket in the customer's name.
            tracing::warn!(ticket_id = rec.ticket_id.0, from = %m.from, "message from a member who is neither the customer nor an agent; not mirrored");
            (Role::Customer, m.from.clone(), MessageState::Skipped)
        };
        Ok(Some(NewMessage {
            ticket: rec.ticket_id,
            origin: Origin::Im,
            role,
            sender: m.from.clone(),
            name,
            text: elements::describe(&m.body),
            elements: Value::Array(m.body.clone()),
            im_seq: Some(m.seq),
            im_random: Some(m.random),
            comment_id: None,
            state,
            time: (m.time as i64).saturating_mul(1000),
        }))
    }

    /// Makes sure every IM message up to the newest one known is recorded: moves the cursor
    /// over seqs recorded without a hole, and reads the group's history when there is a hole
    /// (a lost callback, or a seq taken by a tip or a post) or when `force`d (a sweep: a lost
    /// callback of the newest message leaves no hole to see). Returns the seq up to which
    /// every message is now known: lines after it (recorded meanwhile, behind a hole this
    /// check did not see) wait for the next run.
    pub(super) async fn catch_up_im(
        &self,
        rec: &TicketRecord,
        force: bool,
    ) -> Result<u64, BridgeError> {
        let ticket = rec.ticket_id;
        let seqs = self.store.im_seqs_after(ticket, rec.im_cursor).await?;
        let mut cursor = rec.im_cursor;
        for s in &seqs {
            if *s == cursor + 1 {
                cursor = *s;
            } else {
                break;
            }
        }
        let hole = seqs.last().is_some_and(|last| *last > cursor);
        if !hole && !force {
            if cursor > rec.im_cursor {
                self.store
                    .advance_cursor(ticket, Cursor::Im(cursor))
                    .await?;
            }
            return Ok(cursor);
        }
        let group = GroupId::for_ticket(ticket);
        let im_err = |source| BridgeError::Im { ticket, source };
        let mut read: Vec<ImMessage> = Vec::new();
        let mut before = None;
        for _ in 0..HISTORY_PAGES {
            let page = self
                .im
                .group_msg_get_simple(group.as_str(), 20, before)
                .await
                .map_err(im_err)?;
            let oldest = page.messages.iter().map(|m| m.seq).min();
            read.extend(
                page.messages
                    .iter()
                    .filter(|m| m.seq > cursor)
                    .map(ImMessage::from),
            );
            match oldest {
                Some(oldest) if oldest > cursor + 1 && oldest > 1 => before = Some(oldest - 1),
                _ => break,
            }
        }
        read.sort_by_key(|m| m.seq);
        // Everything up to the newest message read (or recorded: an online-only message is
        // never in the history) is now known.
        let newest = read
            .iter()
            .map(|m| m.seq)
            .chain(seqs.last().copied())
            .max()
            .unwrap_or(cursor)
            .max(cursor);
        let mut found = Vec::new();
        for m in &read {
            if let Some(new) = self.classify(rec, m).await? {
                found.push(new);
            }
        }
        let added = self
            .store
            .record_messages(ticket, &found, Cursor::Im(newest))
            .await?;
        if added > 0 {
            tracing::info!(
                ticket_id = ticket.0,
                recovered = added,
                "recorded IM messages whose callbacks never came"
            );
        }
        Ok(newest)
    }
}
