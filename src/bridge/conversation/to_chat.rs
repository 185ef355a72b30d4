//! Ticket → chat: public comments added in Zendesk reach the IM group.
//!
//! A `ticket.comment_added` webhook (or a sweep, or `reconcile`) is only a hint: the job reads
//! the ticket's comments newer than its cursor from the Comments API, which is authoritative
//! (a lost webhook is caught up, and each comment's visibility, channel, attachments and audit
//! metadata are known), records the ones that go to the chat and posts them, each once:
//!
//! - internal notes never reach the chat;
//! - the bridge's own comments (they carry its batch marker) are not mirrored back;
//! - a public comment by the assignee is posted from their own IM account; by another agent,
//!   from the admin with their name; by the requester outside the chat (an email reply), from
//!   the admin and marked as such. The requester's comments through the API (the description
//!   the bridge wrote, other integrations) are not.

use serde_json::{json, Value};

use super::{Bridge, BridgeError, Step, BATCH_MARKER};
use crate::ids::TicketId;
use crate::metrics::Direction;
use crate::store::{Cursor, MessageRecord, MessageState, NewMessage, Origin, Role, TicketRecord};
use crate::zendesk::types::Comment;
use crate::zendesk::webhook::parse_utc;
use crate::zendesk::ZendeskError;

/// IM refuses messages over 8 KB (with the JSON around the text): longer comments are cut.
const MAX_IM_TEXT_BYTES: usize = 6 * 1024;

impl Bridge {
    /// Reads the ticket's new comments and posts the public ones to the group.
    #[tracing::instrument(skip(self), fields(ticket_id = ticket.0))]
    pub async fn mirror_comments(&self, ticket: TicketId) -> Result<Step, BridgeError> {
        let Some(rec) = self.store.ticket(ticket).await? else {
            return Ok(Step::Done);
        };
        if rec.group_created_at.is_none() {
            return Err(BridgeError::NotReady(format!(
                "the IM group of ticket {ticket} is not made yet"
            )));
        }
        self.read_new_comments(&rec).await?;
        for msg in self
            .store
            .pending_messages(ticket, Origin::Zendesk, u64::MAX)
            .await?
        {
            self.post_comment(&msg).await?;
        }
        Ok(Step::Done)
    }

    async fn read_new_comments(&self, rec: &TicketRecord) -> Result<(), BridgeError> {
        let cursor = rec.comment_cursor;
        let mut new: Vec<Comment> = match self
            .zendesk
            .comments_newest_first(rec.ticket_id.0, |page| page.iter().any(|c| c.id <= cursor))
            .await
        {
            Ok(all) => all.into_iter().filter(|c| c.id > cursor).collect(),
            Err(ZendeskError::NotFound) => return Ok(()),
            Err(e) => return Err(BridgeError::Zendesk(e)),
        };
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by_key(|c| c.id);
        let requester = self.requester_id(rec).await?;
        // Who the assignee is: the store knows once the assignment sync ran; until then (or
        // for a comment by another agent) Zendesk is asked, once.
        let mut assignee = rec.agent_id.filter(|_| rec.agent_name.is_some());
        let mut asked = false;
        let mut found = Vec::new();
        for c in &new {
            if c.author_id != requester && Some(c.author_id) != assignee && !asked {
                asked = true;
                assignee = self
                    .zendesk
                    .get_ticket(rec.ticket_id.0)
                    .await
                    .map_err(BridgeError::Zendesk)?
                    .assignee_id;
            }
            if let Some(m) = self.classify_comment(rec, requester, assignee, c).await? {
                found.push(m);
            }
        }
        let newest = new.iter().map(|c| c.id).max().unwrap_or(cursor);
        self.store
            .record_messages(rec.ticket_id, &found, Cursor::Comment(newest))
            .await?;
        Ok(())
    }

    /// The message a comment is in the chat; `None` for what never goes there.
    async fn classify_comment(
        &self,
        rec: &TicketRecord,
        requester: u64,
        assignee: Option<u64>,
        c: &Comment,
    ) -> Result<Option<NewMessage>, BridgeError> {
        if c.custom(BATCH_MARKER).is_some() || !c.public {
            return Ok(None);
        }
        let (role, name) = if c.author_id == requester {
            if c.channel() == "api" {
                return Ok(None);
            }
            (Role::Customer, Self::customer_name(rec))
        } else if Some(c.author_id) == rec.agent_id && rec.agent_name.is_some() {
            (Role::Agent, rec.agent_name.clone().unwrap_or_default())
        } else {
            let name = match self.zendesk.get_user(c.author_id).await {
                Ok(user) => user.name,
                Err(ZendeskError::NotFound) => "Support".to_owned(),
                Err(e) => return Err(BridgeError::Zendesk(e)),
            };
            (Role::Agent, name)
        };
        let text = c.plain_body.clone().unwrap_or_else(|| c.body.clone());
        let attachments: Vec<Value> = c
            .attachments
            .iter()
            .map(
                |a| json!({"file_name": a.file_name, "content_url": a.content_url, "size": a.size}),
            )
            .collect();
        Ok(Some(NewMessage {
            ticket: rec.ticket_id,
            origin: Origin::Zendesk,
            role,
            sender: c.author_id.to_string(),
            name,
            text: text.trim().to_owned(),
            elements: json!({
                "via": c.channel(),
                "attachments": attachments,
                "by_assignee": role == Role::Agent && Some(c.author_id) == assignee,
            }),
            im_seq: None,
            im_random: Some(crate::bridge::stable_random(&format!(
                "comment:{}:{}",
                rec.ticket_id, c.id
            ))),
            comment_id: Some(c.id),
            state: MessageState::Pending,
            time: c
                .created_at
                .as_deref()
                .and_then(parse_utc)
                .map_or_else(crate::store::now_ms, |s| s * 1000),
        }))
    }

    /// Posts a recorded comment: the assignee's from their own account, others' from the admin
    /// with the author's name.
    async fn post_comment(&self, msg: &MessageRecord) -> Result<(), BridgeError> {
        let mut body = msg.text.clone();
        for a in msg.elements["attachments"].as_array().into_iter().flatten() {
            let name = a["file_name"].as_str().unwrap_or("file");
            let url = a["content_url"].as_str().unwrap_or_default();
            body.push_str(&format!("\n[Attachment: {name}] {url}"));
        }
        let body = cut(&body);
        let assignee = msg
            .sender
            .parse::<u64>()
            .ok()
            .filter(|_| msg.elements["by_assignee"].as_bool() == Some(true));
        let posted = match assignee {
            Some(agent) => {
                let account = self.agent_im_id(agent);
                self.post_recorded(msg, Some((&account, &msg.name)), body)
                    .await
            }
            None if msg.role == Role::Customer => {
                let how = match msg.elements["via"].as_str().unwrap_or_default() {
                    "email" => "by email".to_owned(),
                    "web" => "on the web".to_owned(),
                    other => format!("via {other}"),
                };
                let text = format!("{} (replied {how}): {body}", msg.name);
                self.post_recorded(msg, None, text).await
            }
            None => {
                let text = format!("{}: {body}", msg.name);
                self.post_recorded(msg, None, text).await
            }
        };
        posted?;
        self.metrics.mirrored(Direction::TicketToChat, 1);
        Ok(())
    }
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_IM_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_IM_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (the rest is on the ticket)", &text[..end])
}
