//! Operator commands: `reconcile`, `jobs` and `setup-zendesk`. The first two work on the store
//! and are safe to run while `serve` runs (claims are exclusive; see `store::jobs`).

use std::fmt::Write;

use crate::ids::TicketId;
use crate::jobs::{open_case_job, open_case_key, sync_ticket_job, Jobs};
use crate::secret::Secret;
use crate::store::{JobStatus, Store, StoreError};
use crate::zendesk::types::Webhook;
use crate::zendesk::webhook::{ASSIGNMENT_CHANGED, COMMENT_ADDED, STATUS_CHANGED};
use crate::zendesk::{ZendeskClient, ZendeskError};

/// What `reconcile` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Unfinished cases found.
    pub unfinished: usize,
    /// Open tickets whose groups were checked against Zendesk (for missed webhooks).
    pub tickets_checked: usize,
    /// Conversations caught up from IM's history and the tickets' comments (for missed
    /// callbacks and webhooks).
    pub conversations_checked: usize,
    pub done: usize,
    /// Failed again for now; their jobs retry later by themselves.
    pub retrying: usize,
    pub failed: usize,
}

/// Finds every case whose ticket, group or greeting is not done, makes its job due now, asks
/// for every open ticket to be synced with Zendesk (webhooks may have been missed), re-arms
/// every job that had failed for good, asks for every open conversation to be caught up with
/// IM's history and the ticket's comments (callbacks and webhooks may have been missed), and
/// runs due jobs until none is left.
pub async fn reconcile(store: &Store, jobs: &Jobs) -> Result<ReconcileReport, StoreError> {
    for job in store.jobs_with_status(JobStatus::Failed).await? {
        store.rearm_job(&job.dedupe_key).await?;
    }
    let open = store.syncable_tickets().await?;
    for ticket in &open {
        store
            .request_run(&sync_ticket_job(TicketId(ticket.0), None))
            .await?;
    }
    let conversations = jobs.request_conversation_checks(None, true).await?;
    let unfinished = store.unfinished_case_ids().await?;
    for case_id in &unfinished {
        let key = open_case_key(case_id);
        if !store.rearm_job(&key).await? && store.job_by_key(&key).await?.is_none() {
            // Cannot happen (a case and its job are written together), but repair it if so.
            store.enqueue(&open_case_job(case_id, None)).await?;
        }
    }
    let (done, retrying, failed) = jobs.drain().await?;
    jobs.release().await;
    Ok(ReconcileReport {
        unfinished: unfinished.len(),
        tickets_checked: open.len(),
        conversations_checked: conversations,
        done,
        retrying,
        failed,
    })
}

/// A listing of the job queue: counts by status, then every job that failed for good.
pub async fn jobs_report(store: &Store) -> Result<String, StoreError> {
    let mut out = String::new();
    let counts = store.job_counts().await?;
    for status in [JobStatus::Queued, JobStatus::Done, JobStatus::Failed] {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "{:<7} {n}", status.as_str());
    }
    let failed = store.jobs_with_status(JobStatus::Failed).await?;
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "\nfailed jobs (run `ticket-bridge reconcile` to try them again):"
        );
        for j in failed {
            let _ = writeln!(
                out,
                "  {}  attempts={}  {}",
                j.dedupe_key,
                j.attempts,
                j.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(out)
}

/// The name `setup-zendesk` gives (and finds) the bridge's webhook by.
pub const WEBHOOK_NAME: &str = "ticket-bridge";

/// What `setup-zendesk` did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupAction {
    Created,
    Updated,
    Unchanged,
    WouldCreate,
    WouldUpdate,
}

#[derive(Debug)]
pub struct SetupReport {
    pub action: SetupAction,
    pub webhook: Webhook,
    /// The signing secret (not known for a webhook a dry run would create).
    pub secret: Option<Secret>,
}

/// The webhook the bridge needs: Zendesk's ticket events, to `<bridge_url>/webhooks/zendesk`.
pub fn desired_webhook(bridge_url: &str) -> Webhook {
    Webhook {
        id: String::new(),
        name: WEBHOOK_NAME.to_owned(),
        endpoint: format!("{}/webhooks/zendesk", bridge_url.trim_end_matches('/')),
        http_method: "POST".into(),
        request_format: "json".into(),
        status: "active".into(),
        subscriptions: [ASSIGNMENT_CHANGED, STATUS_CHANGED, COMMENT_ADDED]
            .map(str::to_owned)
            .to_vec(),
    }
}

/// Creates the bridge's webhook, or updates the one found by name to what the bridge needs;
/// changes nothing when it is already right. Reads its signing secret.
pub async fn setup_zendesk(
    zendesk: &ZendeskClient,
    bridge_url: &str,
    dry_run: bool,
) -> Result<SetupReport, ZendeskError> {
    let desired = desired_webhook(bridge_url);
    let existing = zendesk
        .find_webhooks(WEBHOOK_NAME)
        .await?
        .into_iter()
        .find(|w| w.name == WEBHOOK_NAME);
    let (action, webhook) = match existing {
        None if dry_run => (SetupAction::WouldCreate, desired),
        None => (
            SetupAction::Created,
            zendesk.create_webhook(&desired).await?,
        ),
        Some(found) if same_webhook(&found, &desired) => (SetupAction::Unchanged, found),
        Some(found) if dry_run => (
            SetupAction::WouldUpdate,
            Webhook {
                id: found.id,
                ..desired
            },
        ),
        Some(found) => {
            zendesk.update_webhook(&found.id, &desired).await?;
            (
                SetupAction::Updated,
                Webhook {
                    id: found.id,
                    ..desired
                },
            )
        }
    };
    let secret = if webhook.id.is_empty() {
        None
    } else {
        Some(zendesk.webhook_signing_secret(&webhook.id).await?)
    };
    Ok(SetupReport {
        action,
        webhook,
        secret,
    })
}

fn same_webhook(a: &Webhook, b: &Webhook) -> bool {
    let subs = |w: &Webhook| {
        let mut s = w.subscriptions.clone();
        s.sort();
        s
    };
    a.endpoint == b.endpoint
        && a.http_method == b.http_method
        && a.request_format == b.request_format
        && a.status == b.status
        && subs(a) == subs(b)
}
