//! The customer's chat commands: `/status` (the bridge answers with the ticket's status and
//! assignee), `/close` (the ticket is solved, with a comment saying so) and `/help`. The prefix
//! is a setting; unknown words after it are ordinary text.

use serde_json::json;

use super::{Bridge, BridgeError, Step};
use crate::store::{
    now_ms, MessageRecord, MessageState, NewBatch, NewMessage, Origin, Role, TicketRecord,
};

/// A chat command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command {
    Status,
    Close,
    Help,
}

/// The comment a `/close` adds.
const CLOSED_FROM_CHAT: &str = "The customer closed this case from the chat.";

/// The command a chat line is, if it is exactly one (surrounding spaces aside).
pub(super) fn parse(prefix: &str, text: &str) -> Option<Command> {
    let word = text.trim().strip_prefix(prefix)?;
    match word.to_ascii_lowercase().as_str() {
        "status" => Some(Command::Status),
        "close" => Some(Command::Close),
        "help" => Some(Command::Help),
        _ => None,
    }
}

impl Bridge {
    /// Carries out a customer's command. `/close` is a ticket update, so it waits for the
    /// update budget like any comment.
    pub(super) async fn run_command(
        &self,
        rec: &TicketRecord,
        command: Command,
        msg: &MessageRecord,
    ) -> Result<Step, BridgeError> {
        let p = &self.conversation.command_prefix;
        match command {
            Command::Help => {
                let text = format!(
                    "You can type:\n{p}status to see where your case stands\n{p}close to close your case\n{p}help for this list"
                );
                self.reply(rec, msg, text).await?;
            }
            Command::Status => {
                let text = self.status_text(rec).await?;
                self.reply(rec, msg, text).await?;
            }
            Command::Close => {
                if let Some(at) = self.update_budget(rec.ticket_id).await? {
                    return Ok(Step::Later(at));
                }
                let batch = NewBatch {
                    id: crate::store::new_id(),
                    ticket: rec.ticket_id,
                    author_id: self.requester_id(rec).await?,
                    body: CLOSED_FROM_CHAT.to_owned(),
                    solve: true,
                    messages: vec![msg.id.clone()],
                };
                self.store.start_batch(&batch).await?;
                self.send_batch(rec, &batch.into()).await?;
                tracing::info!(
                    ticket_id = rec.ticket_id.0,
                    "the customer closed the case from the chat"
                );
                return Ok(Step::Done);
            }
        }
        self.store
            .set_message_state(std::slice::from_ref(&msg.id), MessageState::Skipped)
            .await?;
        Ok(Step::Done)
    }

    async fn status_text(&self, rec: &TicketRecord) -> Result<String, BridgeError> {
        let ticket = self
            .zendesk
            .get_ticket(rec.ticket_id.0)
            .await
            .map_err(BridgeError::Zendesk)?;
        let status = match ticket.status.as_str() {
            "new" => "new, waiting for an agent",
            "open" => "open, an agent is working on it",
            "pending" => "waiting for your reply",
            "hold" => "on hold while we check something",
            "solved" => "solved",
            "closed" => "closed",
            _ => "open",
        };
        let assignee = match ticket.assignee_id {
            None => None,
            Some(id) if Some(id) == rec.agent_id && rec.agent_name.is_some() => {
                rec.agent_name.clone()
            }
            Some(id) => Some(
                self.zendesk
                    .get_user(id)
                    .await
                    .map_err(BridgeError::Zendesk)?
                    .name,
            ),
        };
        let who = assignee.map_or_else(
            || "No agent is assigned yet.".to_owned(),
            |name| format!("{name} is handling it."),
        );
        Ok(format!("Case #{} is {status}. {who}", rec.ticket_id))
    }

    /// Answers a command in the group, once: the reply is recorded (its `Random` derives from
    /// the command's seq) before it is posted.
    async fn reply(
        &self,
        rec: &TicketRecord,
        command: &MessageRecord,
        text: String,
    ) -> Result<(), BridgeError> {
        let ticket = rec.ticket_id;
        let admin = self.im.admin().to_owned();
        let label = format!("reply:{ticket}:{}", command.im_seq.unwrap_or_default());
        let random = crate::bridge::stable_random(&label);
        let reply = NewMessage {
            ticket,
            origin: Origin::Bridge,
            role: Role::Bridge,
            sender: admin.clone(),
            name: "Support".into(),
            text: text.clone(),
            elements: json!([]),
            im_seq: None,
            im_random: Some(random),
            comment_id: None,
            state: MessageState::Pending,
            time: now_ms(),
        };
        self.store.record_message(&reply, None).await?;
        let recorded = self.store.message_by_random(ticket, random, &admin).await?;
        match recorded {
            Some(r) if r.state == MessageState::Pending => self.post_recorded(&r, None, text).await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_known_words_are_commands() {
        assert_eq!(parse("/", "/status"), Some(Command::Status));
        assert_eq!(parse("/", "  /CLOSE \n"), Some(Command::Close));
        assert_eq!(parse("/", "/help"), Some(Command::Help));
        assert_eq!(parse("!", "!help"), Some(Command::Help));
        for text in [
            "/statuses",
            "/status please",
            "status",
            "/",
            "/shrug",
            "!help",
        ] {
            assert_eq!(parse("/", text), None, "{text}");
        }
    }
}
