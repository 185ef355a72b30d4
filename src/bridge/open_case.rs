//! A customer opens a case: Zendesk ticket → record → IM group with the customer → greeting.
//!
//! The steps run in that order so an IM group never exists for a ticket that was not created.
//! Each IM step is recorded when done, and is harmless to repeat (the group id is derived from
//! the ticket, the greeting's `Random` from the ticket id), so a case whose IM steps failed can
//! be finished later by running [`Bridge::finish_case`] again.

use sha2::{Digest, Sha256};

use super::{Bridge, BridgeError};
use crate::config::GreetingVia;
use crate::ids::{GroupId, ImUserId, TicketId};
use crate::im::types::{group_name, NewGroup, TextMessage};
use crate::store::TicketRecord;
use crate::zendesk::types::{NewComment, NewTicket, NewUser, TicketRequester};
use crate::zendesk::ZendeskError;

/// Tag put on every ticket the bridge opens.
pub const TICKET_TAG: &str = "tencent_im";
/// IM: the group id is taken by a group of someone else (10021) / of the caller (10025).
const GROUP_ID_IN_USE: i64 = 10021;
const GROUP_ID_IN_USE_BY_CALLER: i64 = 10025;

/// A validated case from `/createticket`.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub user: ImUserId,
    pub subject: String,
    pub description: String,
    pub name: String,
    pub email: Option<String>,
    /// Return the user's unfinished ticket instead of opening a new one, if there is one.
    pub reuse: bool,
}

/// The ticket and group a case lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub ticket_id: TicketId,
    pub group_id: GroupId,
    pub reused: bool,
}

impl Bridge {
    #[tracing::instrument(skip_all, fields(user_id = %case.user, ticket_id))]
    pub async fn open_case(&self, case: &NewCase) -> Result<CaseOutcome, BridgeError> {
        if case.reuse {
            if let Some(ticket_id) = self.reusable_ticket(&case.user).await? {
                tracing::Span::current().record("ticket_id", ticket_id.0);
                tracing::info!("reusing the customer's open ticket");
                return Ok(CaseOutcome {
                    ticket_id,
                    group_id: GroupId::for_ticket(ticket_id),
                    reused: true,
                });
            }
        }
        let ticket = self
            .zendesk
            .create_ticket(
                &NewTicket {
                    subject: case.subject.clone(),
                    comment: NewComment {
                        body: case.description.clone(),
                        public: true,
                        author_id: None,
                    },
                    requester: self.requester(case).await?,
                    tags: vec![TICKET_TAG.to_owned()],
                    external_id: Some(customer_external_id(&case.user)),
                },
                None,
            )
            .await
            .map_err(BridgeError::Zendesk)?;
        let ticket_id = TicketId(ticket.id);
        tracing::Span::current().record("ticket_id", ticket.id);
        tracing::info!("Zendesk ticket created");
        let record = self
            .store
            .insert_ticket(ticket_id, &case.user, &case.subject, &ticket.status)
            .await?;
        self.finish_case(&record).await?;
        Ok(CaseOutcome {
            ticket_id,
            group_id: GroupId::for_ticket(ticket_id),
            reused: false,
        })
    }

    /// The ticket's requester: by email when the customer gave one (Zendesk finds or creates
    /// that user), otherwise the Zendesk user whose `external_id` is the customer's IM UserID,
    /// created on first contact, so all of one customer's cases share one requester.
    async fn requester(&self, case: &NewCase) -> Result<TicketRequester, BridgeError> {
        if let Some(email) = &case.email {
            return Ok(TicketRequester::New {
                name: case.name.clone(),
                email: email.clone(),
            });
        }
        let external_id = customer_external_id(&case.user);
        let find = || async {
            self.zendesk
                .find_users_by_external_id(&external_id)
                .await
                .map(|users| users.first().map(|u| u.id))
                .map_err(BridgeError::Zendesk)
        };
        if let Some(id) = find().await? {
            return Ok(TicketRequester::Existing(id));
        }
        let created = self
            .zendesk
            .create_user(&NewUser {
                name: case.name.clone(),
                external_id: external_id.clone(),
                role: "end-user".into(),
            })
            .await;
        match created {
            Ok(user) => Ok(TicketRequester::Existing(user.id)),
            // Another request created the same customer a moment ago.
            Err(ZendeskError::Rejected { status: 422, .. }) => find()
                .await?
                .map(TicketRequester::Existing)
                .ok_or_else(|| BridgeError::Zendesk(ZendeskError::NotFound)),
            Err(e) => Err(BridgeError::Zendesk(e)),
        }
    }

    /// Runs the IM steps of a recorded case that are not done yet: the group with the customer
    /// in it, then the greeting.
    pub async fn finish_case(&self, rec: &TicketRecord) -> Result<(), BridgeError> {
        let ticket = rec.ticket_id;
        let im_err = |source| BridgeError::Im { ticket, source };
        let group_id = GroupId::for_ticket(ticket);
        if rec.group_created_at.is_none() {
            // The customer normally exists already (logging in with the SDK creates the
            // account); importing without a nickname makes sure, and leaves a profile alone.
            self.im
                .account_import(&rec.user_id, None)
                .await
                .map_err(im_err)?;
            let group = NewGroup {
                group_id: group_id.to_string(),
                name: group_name(&rec.subject),
                group_type: "Public".into(),
                apply_join_option: "FreeAccess".into(),
                introduction: Some(introduction(ticket)),
                members: vec![rec.user_id.clone()],
            };
            match self.im.create_group(&group).await {
                Ok(_) => {}
                Err(e) if e.code() == Some(GROUP_ID_IN_USE_BY_CALLER) => {}
                Err(e) if e.code() == Some(GROUP_ID_IN_USE) => {
                    self.check_group_is_ours(rec, &group_id, e).await?
                }
                Err(e) => return Err(im_err(e)),
            }
            self.store.mark_group_created(ticket).await?;
            tracing::info!(group_id = %group_id, "IM group created");
        }
        if rec.greeted_at.is_none() {
            let text = self
                .greeting
                .text
                .replace("{ticket_id}", &ticket.to_string());
            match self.greeting.via {
                GreetingVia::Message => self
                    .im
                    .send_group_msg(&TextMessage {
                        group_id: group_id.to_string(),
                        from: None,
                        random: greeting_random(ticket),
                        text,
                        cloud_custom_data: None,
                    })
                    .await
                    .map(drop),
                GreetingVia::SystemNotification => {
                    self.im
                        .send_group_system_notification(group_id.as_str(), &text)
                        .await
                }
            }
            .map_err(im_err)?;
            self.store.mark_greeted(ticket).await?;
            tracing::info!("greeting posted");
        }
        Ok(())
    }

    /// A group with the ticket's id exists already. It is ours (made by an earlier attempt
    /// whose answer was lost) if it carries our introduction and has the customer in it.
    async fn check_group_is_ours(
        &self,
        rec: &TicketRecord,
        group_id: &GroupId,
        in_use: crate::im::ImError,
    ) -> Result<(), BridgeError> {
        let ticket = rec.ticket_id;
        let infos = self
            .im
            .get_group_info(&[group_id.as_str()])
            .await
            .map_err(|source| BridgeError::Im { ticket, source })?;
        let ours = infos.iter().any(|g| {
            g.error_code == 0
                && g.introduction == introduction(ticket)
                && g.member_list.iter().any(|m| m.account == rec.user_id)
        });
        if ours {
            Ok(())
        } else {
            Err(BridgeError::Im {
                ticket,
                source: in_use,
            })
        }
    }

    /// The newest ticket of `user` that Zendesk says is not solved or closed, finishing its IM
    /// steps if an earlier attempt left them undone.
    async fn reusable_ticket(&self, user: &ImUserId) -> Result<Option<TicketId>, BridgeError> {
        for rec in self.store.open_tickets_of(user).await? {
            let status = match self.zendesk.get_ticket(rec.ticket_id.0).await {
                Ok(t) => t.status,
                // Deleted in Zendesk: nothing to reuse.
                Err(ZendeskError::NotFound) => "deleted".to_owned(),
                Err(e) => return Err(BridgeError::Zendesk(e)),
            };
            if status != rec.status {
                self.store.set_status(rec.ticket_id, &status).await?;
            }
            if matches!(status.as_str(), "solved" | "closed" | "deleted") {
                continue;
            }
            self.finish_case(&rec).await?;
            return Ok(Some(rec.ticket_id));
        }
        Ok(None)
    }
}

/// How the bridge names a customer in Zendesk's `external_id` fields.
///
/// IM UserIDs are case-sensitive but Zendesk compares `external_id` case-insensitively, so
/// `Bob` and `bob` must not map to the same value: an upper-case letter is written as `^` and
/// its lower-case form, and `^` itself as `^^` (`Bob` → `tencent_im:^bob`).
fn customer_external_id(user: &ImUserId) -> String {
    let mut out = String::from("tencent_im:");
    for c in user.as_str().chars() {
        match c {
            '^' => out.push_str("^^"),
            c if c.is_ascii_uppercase() => {
                out.push('^');
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
    out
}

/// The group introduction that marks a group as the bridge's own.
fn introduction(ticket: TicketId) -> String {
    format!("Zendesk ticket #{ticket}")
}

/// The greeting's `Random`: the same for every attempt on one ticket, so IM drops a repeat
/// sent within its 5-minute duplicate window.
fn greeting_random(ticket: TicketId) -> u32 {
    let digest = Sha256::digest(format!("greeting:{ticket}"));
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_stay_distinct_under_case_folding() {
        let ext = |u: &str| customer_external_id(&ImUserId::parse(u).unwrap());
        assert_eq!(ext("bob"), "tencent_im:bob");
        assert_eq!(ext("Bob"), "tencent_im:^bob");
        assert_eq!(ext("^bob"), "tencent_im:^^bob");
        let ids = ["bob", "Bob", "BOB", "^bob", "^Bob", "b^ob"].map(ext);
        let folded: std::collections::HashSet<_> = ids.iter().map(|i| i.to_lowercase()).collect();
        assert_eq!(folded.len(), ids.len(), "{ids:?}");
    }
}
