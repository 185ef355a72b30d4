//! The conversation, both ways (DESIGN §1.3): what is said in a ticket's IM group becomes
//! public comments on the ticket, and public comments added in Zendesk reach the group.
//!
//! - **In**: every IM message of a `ZENDESK#<id>` group (from its callback, or read from the
//!   group's history when a callback was lost) is recorded once, by `MsgSeq`
//!   ([`chat_in`]). Every public comment is recorded once, by id, when the ticket's comments
//!   are read after a `ticket.comment_added` webhook or a sweep ([`to_chat`]).
//! - **Out**: a per-ticket job turns pending chat lines into comments, coalescing lines that
//!   arrive together and staying within Zendesk's update limits ([`to_ticket`]); another posts
//!   pending comments to the group ([`to_chat`]). Each post is written down before it is sent
//!   and carries a marker (a comment's audit metadata, an IM message's deterministic
//!   `Random`), so a retry whose answer was lost finds what landed instead of posting twice.
//! - **No echo**: the bridge's IM posts fire no callbacks (`ForbidCallbackControl`) and are
//!   recognised by their `Random` when one comes anyway; its comments carry the batch marker.

mod chat_in;
mod commands;
mod post;
mod to_chat;
mod to_ticket;

use crate::ids::ImUserId;
use crate::store::{StoreError, TicketRecord};

use super::{Bridge, BridgeError};

pub use chat_in::ImMessage;

/// The audit metadata key that marks a comment as the bridge's: its batch id.
pub const BATCH_MARKER: &str = "ticket_bridge_batch";

/// What the conversation settings say (see `config::ConversationConfig`).
#[derive(Debug, Clone)]
pub struct ConversationRules {
    /// Chat lines within this many ms of the first become one comment.
    pub batch_window_ms: i64,
    pub ticket_updates_per_10min: u32,
    pub account_updates_per_min: u32,
    pub command_prefix: String,
}

/// How a job that has work left ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing left to do.
    Done,
    /// Work is left that must wait (a rate budget) until this Unix ms.
    Later(i64),
}

impl Bridge {
    /// The name the customer gave, or their IM UserID.
    fn customer_name(rec: &TicketRecord) -> String {
        rec.customer_name
            .clone()
            .unwrap_or_else(|| rec.user_id.clone())
    }

    /// The Zendesk user of the ticket's customer (the requester).
    async fn requester_id(&self, rec: &TicketRecord) -> Result<u64, BridgeError> {
        let user = ImUserId::parse(&rec.user_id).map_err(|e| {
            BridgeError::Store(StoreError::Corrupt {
                what: "ticket user",
                detail: e.to_string(),
            })
        })?;
        if let Some(id) = self.store.customer(&user).await? {
            return Ok(id);
        }
        let ticket = self
            .zendesk
            .get_ticket(rec.ticket_id.0)
            .await
            .map_err(BridgeError::Zendesk)?;
        ticket.requester_id.ok_or_else(|| {
            BridgeError::Store(StoreError::Corrupt {
                what: "ticket",
                detail: format!("ticket {} has no requester", rec.ticket_id),
            })
        })
    }

    /// Puts a post of the bridge's own (a notice) in the transcript, so the sidebar shows it
    /// at once. Best effort: if this fails, the group's history brings it in at the next
    /// catch-up.
    pub(crate) async fn record_bridge_post(
        &self,
        ticket: crate::ids::TicketId,
        random: u32,
        text: &str,
        seq: Option<u64>,
    ) {
        let post = self.bridge_post(ticket, random, text, seq);
        if let Err(e) = self.store.record_message(&post, None).await {
            tracing::warn!(error = %e, ticket_id = ticket.0, "could not put a notice in the transcript");
        }
    }

    /// A post of the bridge's own (the greeting, a notice), as the transcript records it.
    pub(crate) fn bridge_post(
        &self,
        ticket: crate::ids::TicketId,
        random: u32,
        text: &str,
        seq: Option<u64>,
    ) -> crate::store::NewMessage {
        crate::store::NewMessage {
            ticket,
            origin: crate::store::Origin::Bridge,
            role: crate::store::Role::Bridge,
            sender: self.im.admin().to_owned(),
            name: "Support".to_owned(),
            text: text.to_owned(),
            elements: serde_json::json!([]),
            im_seq: seq,
            im_random: Some(random),
            comment_id: None,
            state: crate::store::MessageState::Done,
            time: crate::store::now_ms(),
        }
    }

    /// The Zendesk user id of an agent's IM account (`AGENT_IM_PREFIX` + digits).
    pub(crate) fn agent_of(&self, im_id: &str) -> Option<u64> {
        im_id
            .strip_prefix(&self.assignment.agent_prefix)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|id| id.parse().ok())
    }
}
