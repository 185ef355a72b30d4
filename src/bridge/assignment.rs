//! Assignment and lifecycle, level-triggered: a webhook is only a hint that a ticket changed.
//! The sync re-reads the ticket from Zendesk and converges its IM group to it, comparing with
//! what the store says was already done — so duplicated, late or reordered deliveries all end
//! in the same state, with every notice posted once.
//!
//! - the current assignee gets an IM account (`AGENT_IM_PREFIX` + Zendesk user id, nickname =
//!   the agent's name), is added to the group and announced; the previous one is removed
//!   (`REMOVE_PREVIOUS_ASSIGNEE`); unassigned → nobody is added;
//! - solved → a notice; closed → a notice and the group muted (`MUTE_CLOSED_GROUPS`);
//!   reopened → unmuted;
//! - a ticket whose group does not exist yet waits for it: the job retries, and the case asks
//!   for a sync as soon as its group exists if events arrived meanwhile.
//!
//! Each notice's `Random` derives from the ticket, the kind of notice and how many of its kind
//! were posted before, and the newest messages are checked before sending, so a notice is
//! never posted twice even when a crash hits between posting it and recording it.

use serde::{Deserialize, Serialize};

use super::{Bridge, BridgeError};
use crate::ids::{GroupId, TicketId};
use crate::im::types::TextMessage;
use crate::im::ImError;
use crate::store::TicketRecord;
use crate::zendesk::ZendeskError;

/// Pages of 20 newest messages searched for a notice before it is posted.
const NOTICE_PAGES: usize = 2;

/// What the assignment settings say (see `config::AssignmentConfig`).
#[derive(Debug, Clone)]
pub struct AssignmentRules {
    pub agent_prefix: String,
    pub remove_previous_assignee: bool,
    pub mute_closed_groups: bool,
    pub join_notice: String,
    pub solved_notice: String,
    pub closed_notice: String,
}

/// An agent's name as an event carried it (trigger bodies do), saving a Users API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHint {
    pub id: u64,
    pub name: String,
}

impl Bridge {
    /// Converges the IM side of `ticket` to what Zendesk says now.
    #[tracing::instrument(skip(self, hint), fields(ticket_id = ticket.0))]
    pub async fn sync_ticket(
        &self,
        ticket: TicketId,
        hint: Option<&AgentHint>,
    ) -> Result<(), BridgeError> {
        let Some(rec) = self.store.ticket(ticket).await? else {
            tracing::debug!("not a ticket of the bridge; ignored");
            return Ok(());
        };
        if rec.group_created_at.is_none() {
            return Err(BridgeError::NotReady(format!(
                "the IM group of ticket {ticket} is not made yet"
            )));
        }
        let current = match self.zendesk.get_ticket(ticket.0).await {
            Ok(t) => t,
            // Deleted in Zendesk: nothing to converge to.
            Err(ZendeskError::NotFound) => {
                self.store.set_status(ticket, "deleted").await?;
                return Ok(());
            }
            Err(e) => return Err(BridgeError::Zendesk(e)),
        };
        if current.status != rec.status {
            self.store.set_status(ticket, &current.status).await?;
        }
        self.converge_assignee(&rec, current.assignee_id, hint)
            .await?;
        self.converge_status(&rec, &current.status).await
    }

    async fn converge_assignee(
        &self,
        rec: &TicketRecord,
        current: Option<u64>,
        hint: Option<&AgentHint>,
    ) -> Result<(), BridgeError> {
        if rec.agent_id == current {
            return Ok(());
        }
        let ticket = rec.ticket_id;
        let group = GroupId::for_ticket(ticket);
        let im_err = |source| BridgeError::Im { ticket, source };
        let rules = &self.assignment;
        let mut joined = None;
        if let Some(agent) = current {
            let name = match hint.filter(|h| h.id == agent) {
                Some(h) => h.name.clone(),
                None => {
                    self.zendesk
                        .get_user(agent)
                        .await
                        .map_err(BridgeError::Zendesk)?
                        .name
                }
            };
            let im_id = self.agent_im_id(agent);
            self.im
                .account_import(&im_id, Some(&name))
                .await
                .map_err(im_err)?;
            let added = self
                .im
                .add_group_member(group.as_str(), &[im_id.as_str()], true)
                .await
                .map_err(im_err)?;
            // 1 added, 2 already a member; 0 failed, 3 awaiting confirmation.
            if added
                .iter()
                .any(|m| m.account == im_id && !matches!(m.result, 1 | 2))
            {
                return Err(im_err(ImError::NotAdded { account: im_id }));
            }
            let text = rules.join_notice.replace("{agent}", &name);
            let random = notice_random(ticket, "join", agent, rec.joins);
            self.post_notice(&group, random, text)
                .await
                .map_err(im_err)?;
            tracing::info!(agent_id = agent, "agent joined the group");
            joined = Some(name);
        }
        if rules.remove_previous_assignee {
            // From IM's member list, not from the record: an agent added by an attempt that
            // crashed before recording it is removed too.
            let keep = current.map(|a| self.agent_im_id(a));
            let stale: Vec<String> = self
                .im
                .get_group_info(&[group.as_str()])
                .await
                .map_err(im_err)?
                .into_iter()
                .flat_map(|g| g.member_list)
                .map(|m| m.account)
                .filter(|m| Some(m) != keep.as_ref() && *m != rec.user_id && self.is_agent_im_id(m))
                .collect();
            if !stale.is_empty() {
                let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
                self.im
                    .delete_group_member(group.as_str(), &stale, Some("reassigned"), true)
                    .await
                    .map_err(im_err)?;
                tracing::info!(removed = ?stale, "previous assignee removed");
            }
        }
        match (current, joined) {
            (Some(agent), Some(name)) => {
                self.store.agent_joined(ticket, agent, &name).await?;
                if rec.joins == 0 {
                    // The ticket's record is made with its case: this is the customer's wait.
                    let waited = crate::store::now_ms().saturating_sub(rec.created_at).max(0);
                    self.metrics
                        .agent_joined(std::time::Duration::from_millis(waited as u64));
                }
            }
            _ => self.store.agent_left(ticket).await?,
        }
        Ok(())
    }

    async fn converge_status(&self, rec: &TicketRecord, status: &str) -> Result<(), BridgeError> {
        let ticket = rec.ticket_id;
        let group = GroupId::for_ticket(ticket);
        let im_err = |source| BridgeError::Im { ticket, source };
        let rules = &self.assignment;
        match status {
            "solved" | "closed" => {
                if rec.notified_status.as_deref() != Some(status) {
                    let text = if status == "solved" {
                        &rules.solved_notice
                    } else {
                        &rules.closed_notice
                    };
                    let random = notice_random(ticket, status, 0, rec.status_notices);
                    self.post_notice(&group, random, text.clone())
                        .await
                        .map_err(im_err)?;
                    self.store.status_announced(ticket, status).await?;
                    tracing::info!(status, "status announced in the group");
                }
                if status == "closed" && rules.mute_closed_groups && !rec.muted {
                    self.im
                        .mute_all(group.as_str(), true)
                        .await
                        .map_err(im_err)?;
                    self.store.set_muted(ticket, true).await?;
                    tracing::info!("group muted");
                }
            }
            _ => {
                if rec.muted {
                    self.im
                        .mute_all(group.as_str(), false)
                        .await
                        .map_err(im_err)?;
                    self.store.set_muted(ticket, false).await?;
                    tracing::info!("group unmuted: the ticket is open again");
                }
                if rec.notified_status.is_some() {
                    self.store.status_reopened(ticket).await?;
                }
            }
        }
        Ok(())
    }

    /// Posts a notice from the admin unless one with `random` is among the newest messages.
    async fn post_notice(&self, group: &GroupId, random: u32, text: String) -> Result<(), ImError> {
        if self.admin_posted(group, random, Some(NOTICE_PAGES)).await? {
            return Ok(());
        }
        let sent = self
            .im
            .send_group_msg(&TextMessage {
                group_id: group.to_string(),
                from: None,
                random,
                text: text.clone(),
                cloud_custom_data: None,
            })
            .await?;
        if let Some(ticket) = GroupId::ticket_of(group.as_str()) {
            self.record_bridge_post(ticket, random, &text, sent.msg_seq)
                .await;
        }
        Ok(())
    }

    /// The IM UserID of a Zendesk agent.
    pub fn agent_im_id(&self, zendesk_user: u64) -> String {
        format!("{}{zendesk_user}", self.assignment.agent_prefix)
    }

    /// Whether an IM UserID is one the bridge gives agents (the prefix and digits).
    fn is_agent_im_id(&self, im_id: &str) -> bool {
        self.agent_of(im_id).is_some()
    }
}

/// A notice's `Random`: the same for every attempt at the same notice, different for the next
/// notice of its kind.
fn notice_random(ticket: TicketId, kind: &str, who: u64, before: i64) -> u32 {
    super::stable_random(&format!("{kind}:{ticket}:{who}:{before}"))
}
