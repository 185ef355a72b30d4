//! Posting a recorded message to the IM group exactly once.
//!
//! The message was recorded with a `Random` derived from what it is, before the first try. A
//! resend within IM's five-minute duplicate window is dropped by IM; after it, the group's
//! history is searched for the `Random` first.

use super::{Bridge, BridgeError};
use crate::bridge::open_case::{HISTORY_PAGES, IM_DUPLICATE_WINDOW};
use crate::ids::GroupId;
use crate::im::types::TextMessage;
use crate::im::ImError;
use crate::store::{now_ms, MessageRecord, MessageState};

/// IM: the sender account does not exist (10019) / is not a member of the group (10007).
const NO_ACCOUNT: i64 = 10019;
const NOT_A_MEMBER: i64 = 10007;

impl Bridge {
    /// Posts `text` for the recorded message `msg`, from `from` (an agent's IM account, which
    /// is imported with `nick` and added to the group if need be) or the admin.
    pub(super) async fn post_recorded(
        &self,
        msg: &MessageRecord,
        from: Option<(&str, &str)>,
        text: String,
    ) -> Result<(), BridgeError> {
        let ticket = msg.ticket;
        let im_err = |source| BridgeError::Im { ticket, source };
        let group = GroupId::for_ticket(ticket);
        let random = msg.im_random.ok_or_else(|| {
            BridgeError::Store(crate::store::StoreError::Corrupt {
                what: "message",
                detail: format!("post {} has no Random", msg.id),
            })
        })?;
        let sender = from
            .map_or(self.im.admin(), |(account, _)| account)
            .to_owned();
        let window = IM_DUPLICATE_WINDOW.as_millis() as i64;
        if msg
            .attempt_at
            .is_some_and(|at| now_ms().saturating_sub(at) > window)
        {
            if let Some(seq) = self
                .posted(&group, &sender, random, Some(HISTORY_PAGES))
                .await
                .map_err(im_err)?
            {
                self.store
                    .post_delivered(&msg.id, Some(seq), after_post(msg))
                    .await?;
                return Ok(());
            }
        }
        self.store.mark_post_attempt(&msg.id).await?;
        let message = TextMessage {
            group_id: group.to_string(),
            from: from.map(|(account, _)| account.to_owned()),
            random,
            text,
            cloud_custom_data: None,
        };
        let sent = match self.im.send_group_msg(&message).await {
            Err(e) if from.is_some() && matches!(e.code(), Some(NO_ACCOUNT | NOT_A_MEMBER)) => {
                // The assignee's account or membership is not there yet (the assignment sync
                // may not have run): make it so, then post.
                let (account, nick) = from.unwrap_or_default();
                self.im
                    .account_import(account, Some(nick))
                    .await
                    .map_err(im_err)?;
                let added = self
                    .im
                    .add_group_member(group.as_str(), &[account], true)
                    .await
                    .map_err(im_err)?;
                if added.iter().any(|m| !matches!(m.result, 1 | 2)) {
                    return Err(im_err(ImError::NotAdded {
                        account: account.to_owned(),
                    }));
                }
                self.im.send_group_msg(&message).await
            }
            other => other,
        }
        .map_err(im_err)?;
        self.store
            .post_delivered(&msg.id, sent.msg_seq, after_post(msg))
            .await?;
        Ok(())
    }
}

/// A sidebar message goes on to the ticket once it is in the group; any other post is done.
fn after_post(msg: &MessageRecord) -> MessageState {
    if msg.state == MessageState::Outbox {
        MessageState::Pending
    } else {
        MessageState::Done
    }
}
