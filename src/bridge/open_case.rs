//! A customer's case, as resumable steps: Zendesk ticket → record → IM group with the
//! customer → greeting.
//!
//! Every step is idempotent and recorded when done, so a crash between any two steps resumes
//! without repeating an effect:
//! - the ticket is created with an `Idempotency-Key` derived from the case, so a lost answer
//!   does not open a second ticket; the case id is also the ticket's `external_id`, so after
//!   Zendesk's two-hour key window the ticket is found by it instead of created again;
//! - an IM group that already exists and is ours (10025, or 10021 with our introduction)
//!   counts as created; a customer already in it counts as added;
//! - the greeting carries a `Random` derived from the ticket, which IM's five-minute duplicate
//!   window covers; after that window the group's history is checked before sending again.
//!
//! Steps run in this order, so an IM group never exists for a ticket that was not created.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Bridge, BridgeError};
use crate::config::GreetingVia;
use crate::ids::{GroupId, ImUserId, TicketId};
use crate::im::types::{group_name, NewGroup, TextMessage};
use crate::store::{now_ms, CaseRecord, JobDone, NewTicketRecord, StoreError, TicketRecord};
use crate::zendesk::types::{NewComment, NewTicket, NewUser, Ticket, TicketRequester};
use crate::zendesk::ZendeskError;

/// Tag put on every ticket the bridge opens.
pub const TICKET_TAG: &str = "tencent_im";
/// IM: the group id is taken by a group of someone else (10021) / of the caller (10025).
const GROUP_ID_IN_USE: i64 = 10021;
const GROUP_ID_IN_USE_BY_CALLER: i64 = 10025;
/// IM drops a repeated `Random` for five minutes; past four (clocks differ) the history is
/// checked instead of relying on it.
pub(super) const IM_DUPLICATE_WINDOW: Duration = Duration::from_secs(4 * 60);
/// Zendesk keeps idempotency keys for two hours; past 100 minutes the ticket is looked up by
/// `external_id` before a create is sent again.
const ZENDESK_KEY_WINDOW: Duration = Duration::from_secs(100 * 60);
/// How far back the greeting is searched for (pages of 20 messages).
pub(super) const HISTORY_PAGES: usize = 50;

/// A validated case from `/createticket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCase {
    pub user: ImUserId,
    pub subject: String,
    pub description: String,
    pub name: String,
    pub email: Option<String>,
    /// Return the user's unfinished ticket instead of opening a new one, if there is one.
    pub reuse: bool,
}

impl NewCase {
    /// Fingerprint of the request, to tell a client's retry from a different request sent
    /// under the same `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        crate::hex::lower(&Sha256::digest(json))
    }
}

/// A case with its ticket, group and greeting all done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseDone {
    pub ticket: TicketId,
    /// The ticket was the customer's open one, not a new one.
    pub reused: bool,
}

impl Bridge {
    /// Runs the steps of a recorded case that are not done yet. `known`: the case as it was
    /// just recorded, by the caller holding its job (else it is read). `job`: the job running
    /// it, completed with the greeting's record when the greeting is posted now; whether it
    /// was (and was still held) comes back with the case.
    #[tracing::instrument(skip(self, known, job), fields(ticket_id))]
    pub async fn run_case(
        &self,
        case_id: &str,
        known: Option<CaseRecord>,
        job: Option<JobDone<'_>>,
    ) -> Result<(CaseDone, Option<bool>), BridgeError> {
        let case = match known.filter(|c| c.case_id == case_id) {
            Some(case) => case,
            None => self
                .store
                .case(case_id)
                .await?
                .ok_or_else(|| corrupt("case", format!("no case {case_id}")))?,
        };
        let request: NewCase = serde_json::from_str(&case.request)
            .map_err(|e| corrupt("case request", e.to_string()))?;
        // The customer's IM account is made sure of while Zendesk makes the ticket: off the
        // critical path (the group needs it, the ticket does not).
        let (made, imported) = match case.ticket_id {
            Some(t) => (Ok((t, case.reused, None)), false),
            None => {
                let (made, imported) = tokio::join!(
                    self.make_ticket(&case, &request),
                    self.im.account_import(request.user.as_str(), None)
                );
                (made, imported.is_ok())
            }
        };
        let (ticket_id, reused, written) = made?;
        tracing::Span::current().record("ticket_id", ticket_id.0);
        let rec = match written {
            Some(rec) => rec,
            None => self
                .store
                .ticket(ticket_id)
                .await?
                .ok_or_else(|| corrupt("ticket", format!("no record of ticket {ticket_id}")))?,
        };
        let done = CaseDone {
            ticket: ticket_id,
            reused,
        };
        let attempt_marked = self.make_group(&rec, imported).await?;
        // The client can open the chat now; the greeting follows.
        self.case_waiters.ready(case_id, done);
        let completed = match rec.greeted_at {
            None => self.greet(&rec, attempt_marked, job).await?,
            Some(_) => None,
        };
        Ok((done, completed))
    }

    /// The ticket step: reuse the customer's open ticket when asked and there is one,
    /// otherwise create the ticket exactly once. Records the outcome on the case. Returns the
    /// ticket, whether it was reused, and its record when it was written now.
    async fn make_ticket(
        &self,
        case: &CaseRecord,
        request: &NewCase,
    ) -> Result<(TicketId, bool, Option<TicketRecord>), BridgeError> {
        // Once a create was sent, a retry must finish that create (its answer may have been
        // lost), never reuse another ticket instead.
        if request.reuse && case.create_started_at.is_none() {
            if let Some(ticket) = self.reusable_ticket(&request.user).await? {
                self.store
                    .set_case_ticket(&case.case_id, ticket, true, None, None)
                    .await?;
                tracing::info!(ticket_id = ticket.0, "reusing the customer's open ticket");
                return Ok((ticket, true, None));
            }
        }
        let (ticket, new_customer) = self.create_ticket_once(case, request).await?;
        let ticket_id = TicketId(ticket.id);
        let written = self
            .store
            .set_case_ticket(
                &case.case_id,
                ticket_id,
                false,
                Some(&NewTicketRecord {
                    user: &request.user,
                    subject: &request.subject,
                    status: &ticket.status,
                    customer_name: &request.name,
                }),
                new_customer,
            )
            .await?;
        tracing::info!(ticket_id = ticket.id, "Zendesk ticket created");
        Ok((ticket_id, false, written))
    }

    /// Creates the case's ticket (or finds the one created before). Returns it, and the
    /// customer's Zendesk user when it is not remembered yet (it is, with the ticket).
    async fn create_ticket_once(
        &self,
        case: &CaseRecord,
        request: &NewCase,
    ) -> Result<(Ticket, Option<u64>), BridgeError> {
        let marker = case_marker(&case.case_id);
        let age = Duration::from_millis(now_ms().saturating_sub(case.created_at).max(0) as u64);
        if age > ZENDESK_KEY_WINDOW {
            let found = self
                .zendesk
                .find_tickets_by_external_id(&marker)
                .await
                .map_err(BridgeError::Zendesk)?;
            if let Some(t) = found.into_iter().min_by_key(|t| t.id) {
                tracing::info!(ticket_id = t.id, "found the case's ticket by external_id");
                return Ok((t, None));
            }
        }
        let (customer, remembered) = self.customer(request).await?;
        // The key covers the whole request, so it names the requester too: Zendesk refuses a
        // key reused with another body, and a create refused with one requester is retried
        // with another.
        let key = |customer: u64| format!("ticket-bridge-{}-{customer}", case.case_id);
        // Only a case that may reuse a ticket asks later whether a create was sent.
        if request.reuse {
            self.store.mark_create_started(&case.case_id).await?;
        }
        let mut ticket = NewTicket {
            subject: request.subject.clone(),
            comment: NewComment {
                body: request.description.clone(),
                public: true,
                author_id: None,
            },
            requester: TicketRequester::Existing(customer),
            // The customer, not the bridge's agent account, wrote the description.
            submitter_id: Some(customer),
            tags: vec![TICKET_TAG.to_owned()],
            external_id: Some(marker),
        };
        match self
            .zendesk
            .create_ticket(&ticket, Some(&key(customer)))
            .await
        {
            // A remembered user that Zendesk no longer knows (deleted, merged): look again.
            Err(ZendeskError::Rejected { status: 422, .. }) if remembered => {
                tracing::info!(
                    "the remembered Zendesk user was refused; resolving the customer again"
                );
                self.store.forget_customer(&request.user).await?;
                let (customer, _) = self.customer(request).await?;
                ticket.requester = TicketRequester::Existing(customer);
                ticket.submitter_id = Some(customer);
                self.zendesk
                    .create_ticket(&ticket, Some(&key(customer)))
                    .await
                    .map(|t| (t, Some(customer)))
                    .map_err(BridgeError::Zendesk)
            }
            Ok(t) => Ok((t, (!remembered).then_some(customer))),
            Err(e) => {
                // Remembered now, so that the retry does not look the customer up again.
                if !remembered {
                    self.store
                        .remember_customer(&request.user, customer)
                        .await?;
                }
                Err(BridgeError::Zendesk(e))
            }
        }
    }

    /// The customer's Zendesk user, and whether it was remembered: the one remembered for this
    /// IM user, else the one whose `external_id` is their IM UserID (which the caller proved
    /// with its UserSig), created on first contact (and remembered with the ticket).
    ///
    /// The email in a request is the caller's unverified claim: it is given to a new user only,
    /// and only when no other user has it. Finding the user by email would let anyone open
    /// tickets (and receive Zendesk's mail) as whoever owns an address.
    async fn customer(&self, case: &NewCase) -> Result<(u64, bool), BridgeError> {
        if let Some(id) = self.store.customer(&case.user).await? {
            return Ok((id, true));
        }
        let external_id = customer_external_id(&case.user);
        let mut user = NewUser {
            name: case.name.clone(),
            external_id: external_id.clone(),
            email: case.email.clone(),
            role: "end-user".into(),
            skip_verify_email: true,
        };
        // Create first: a new customer costs one call; an existing one answers 422 and is
        // looked up.
        let id = loop {
            match self.zendesk.create_user(&user).await {
                Ok(created) => break created.id,
                Err(e @ ZendeskError::Rejected { status: 422, .. }) => {
                    if let Some(id) = self.find_customer(&external_id).await? {
                        break id;
                    }
                    // Not ours: the email belongs to someone else. Do without it.
                    if user.email.take().is_none() {
                        return Err(BridgeError::Zendesk(e));
                    }
                    tracing::info!(
                        "the email given is another user's; the customer's user gets none"
                    );
                }
                Err(e) => return Err(BridgeError::Zendesk(e)),
            }
        };
        Ok((id, false))
    }

    async fn find_customer(&self, external_id: &str) -> Result<Option<u64>, BridgeError> {
        self.zendesk
            .find_users_by_external_id(external_id)
            .await
            .map(|users| users.iter().map(|u| u.id).min())
            .map_err(BridgeError::Zendesk)
    }

    /// The IM steps of a recorded ticket that are not done yet: the group with the customer
    /// in it, then the greeting.
    async fn finish_ticket(&self, rec: &TicketRecord) -> Result<(), BridgeError> {
        let attempt_marked = self.make_group(rec, false).await?;
        if rec.greeted_at.is_none() {
            self.greet(rec, attempt_marked, None).await?;
        }
        Ok(())
    }

    /// The group with the customer in it, unless it is made already. `imported`: the
    /// customer's account was just made sure of. Returns whether it made the group now (and
    /// so recorded the greeting's first attempt: it follows at once).
    async fn make_group(&self, rec: &TicketRecord, imported: bool) -> Result<bool, BridgeError> {
        let ticket = rec.ticket_id;
        let im_err = |source| BridgeError::Im { ticket, source };
        let group_id = GroupId::for_ticket(ticket);
        if rec.group_created_at.is_some() {
            return Ok(false);
        }
        // The customer normally exists already (logging in with the SDK creates the
        // account); importing without a nickname makes sure, and leaves a profile alone.
        if !imported {
            self.im
                .account_import(&rec.user_id, None)
                .await
                .map_err(im_err)?;
        }
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
            Err(e) if e.code() == Some(GROUP_ID_IN_USE_BY_CALLER) => {
                self.ensure_member(rec, &group_id).await?
            }
            Err(e) if e.code() == Some(GROUP_ID_IN_USE) => {
                self.adopt_existing_group(rec, &group_id, e).await?
            }
            Err(e) => return Err(im_err(e)),
        }
        // An agent may have been assigned while the group was being made.
        if self.store.mark_group_created(ticket).await? {
            self.store
                .request_run(&crate::jobs::sync_ticket_job(ticket, None))
                .await?;
        }
        tracing::info!(group_id = %group_id, "IM group created");
        Ok(true)
    }

    /// Posts the greeting. `attempt_marked`: its first attempt is recorded already. `job`: the
    /// job to complete with its record; returns whether it was still held (`None` without).
    async fn greet(
        &self,
        rec: &TicketRecord,
        attempt_marked: bool,
        job: Option<JobDone<'_>>,
    ) -> Result<Option<bool>, BridgeError> {
        let ticket = rec.ticket_id;
        let group_id = &GroupId::for_ticket(ticket);
        let im_err = |source| BridgeError::Im { ticket, source };
        let random = greeting_random(ticket);
        let window_passed = rec
            .greet_attempt_at
            .is_some_and(|at| now_ms().saturating_sub(at) > IM_DUPLICATE_WINDOW.as_millis() as i64);
        if window_passed
            && self
                .admin_posted(group_id, random, None)
                .await
                .map_err(im_err)?
        {
            tracing::info!("greeting found in the group's history");
            return Ok(self.store.greeted(ticket, None, job).await?);
        }
        if rec.greet_attempt_at.is_none() && !attempt_marked {
            self.store.mark_greet_attempt(ticket).await?;
        }
        let text = self
            .greeting
            .text
            .replace("{ticket_id}", &ticket.to_string());
        let post = match self.greeting.via {
            GreetingVia::Message => {
                let sent = self
                    .im
                    .send_group_msg(&TextMessage {
                        group_id: group_id.to_string(),
                        from: None,
                        random,
                        text: text.clone(),
                        cloud_custom_data: None,
                    })
                    .await
                    .map_err(im_err)?;
                Some(self.bridge_post(ticket, random, &text, sent.msg_seq))
            }
            GreetingVia::SystemNotification => {
                self.im
                    .send_group_system_notification(group_id.as_str(), &text)
                    .await
                    .map_err(im_err)?;
                None
            }
        };
        let held = self.store.greeted(ticket, post.as_ref(), job).await?;
        tracing::info!("greeting posted");
        Ok(held)
    }

    /// Whether the admin already posted a message with `random` in the group, searching the
    /// newest `pages` pages of 20 (all of the history, up to [`HISTORY_PAGES`], when `None`).
    pub(super) async fn admin_posted(
        &self,
        group_id: &GroupId,
        random: u32,
        pages: Option<usize>,
    ) -> Result<bool, crate::im::ImError> {
        let admin = self.im.admin().to_owned();
        self.posted(group_id, &admin, random, pages)
            .await
            .map(|seq| seq.is_some())
    }

    /// The seq of a message `from` posted with `random` in the group, if it is among the newest
    /// `pages` pages of 20 (all of the history, up to [`HISTORY_PAGES`], when `None`).
    pub(super) async fn posted(
        &self,
        group_id: &GroupId,
        from: &str,
        random: u32,
        pages: Option<usize>,
    ) -> Result<Option<u64>, crate::im::ImError> {
        let mut before = None;
        for _ in 0..pages.unwrap_or(HISTORY_PAGES) {
            let page = self
                .im
                .group_msg_get_simple(group_id.as_str(), 20, before)
                .await?;
            if let Some(m) = page
                .messages
                .iter()
                .find(|m| m.random == u64::from(random) && m.from == from)
            {
                return Ok(Some(m.seq));
            }
            // Page backwards until the first message (seq 1) or an empty page.
            match page.messages.iter().map(|m| m.seq).min() {
                Some(oldest) if oldest > 1 => before = Some(oldest - 1),
                _ => break,
            }
        }
        Ok(None)
    }

    /// 10021: a group with the ticket's id exists but IM does not say it is ours. It is (an
    /// earlier attempt whose answer was lost) if it carries our introduction and has no owner:
    /// the bridge's groups are made by the admin without one, while a group a user made
    /// (anyone can guess the next ticket id) is owned by that user.
    async fn adopt_existing_group(
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
            g.error_code == 0 && g.introduction == introduction(ticket) && g.owner.is_empty()
        });
        if !ours {
            return Err(BridgeError::Im {
                ticket,
                source: in_use,
            });
        }
        self.ensure_member(rec, group_id).await
    }

    /// Adds the customer to an existing group; already a member counts as added.
    async fn ensure_member(
        &self,
        rec: &TicketRecord,
        group_id: &GroupId,
    ) -> Result<(), BridgeError> {
        let ticket = rec.ticket_id;
        self.im
            .add_group_member(group_id.as_str(), &[rec.user_id.as_str()], true)
            .await
            .map(drop)
            .map_err(|source| BridgeError::Im { ticket, source })
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
            self.finish_ticket(&rec).await?;
            return Ok(Some(rec.ticket_id));
        }
        Ok(None)
    }
}

fn corrupt(what: &'static str, detail: String) -> BridgeError {
    BridgeError::Store(StoreError::Corrupt { what, detail })
}

/// The ticket's `external_id`: which case it was made for.
pub fn case_marker(case_id: &str) -> String {
    format!("ticket-bridge:case:{case_id}")
}

/// How the bridge names a customer in Zendesk's user `external_id`.
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

/// The greeting's `Random`: the same for every attempt on one ticket.
fn greeting_random(ticket: TicketId) -> u32 {
    super::stable_random(&format!("greeting:{ticket}"))
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

    #[test]
    fn the_fingerprint_changes_with_any_field() {
        let a = NewCase {
            user: ImUserId::parse("alice").unwrap(),
            subject: "s".into(),
            description: "d".into(),
            name: "n".into(),
            email: None,
            reuse: false,
        };
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.reuse = true;
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
