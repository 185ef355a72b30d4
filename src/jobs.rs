//! Runs the durable jobs of the store: every multi-step flow is a job, so whatever fails or
//! crashes, the flow is finished later.
//!
//! - A job is run under a lease that a heartbeat extends while it runs; a crashed process's
//!   jobs are claimed again once their lease runs out, and a stopping process hands its jobs
//!   back at once.
//! - A retryable failure is retried with exponential backoff and jitter; a permanent one (or
//!   one that keeps failing for [`MAX_ATTEMPTS`] tries) stops the job, which is kept, logged
//!   with its ticket id and listed by `ticket-bridge jobs`.

use std::sync::Arc;
use std::time::Duration;

use crate::ratelimit::jittered_backoff;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

use crate::bridge::assignment::AgentHint;
use crate::bridge::conversation::Step;
use crate::bridge::{Bridge, BridgeError, CaseDone};
use crate::ids::TicketId;
use crate::store::{now_ms, CaseRecord, Job, JobDone, NewJob, Store, StoreError};

/// The job that opens a case (`/createticket`).
pub const OPEN_CASE: &str = "open_case";
/// The job that converges a ticket's IM group to Zendesk (webhooks ask for it).
pub const SYNC_TICKET: &str = "sync_ticket";
/// The job that mirrors a ticket's pending chat lines to the ticket (one per ticket).
pub const MIRROR_CHAT: &str = "mirror_chat";
/// The job that mirrors a ticket's new public comments to the chat (one per ticket).
pub const MIRROR_COMMENTS: &str = "mirror_comments";
/// Every kind of job, for the queue's metrics.
pub const KINDS: [&str; 4] = [OPEN_CASE, SYNC_TICKET, MIRROR_CHAT, MIRROR_COMMENTS];
/// After this many tries a retryable failure is given up too.
pub const MAX_ATTEMPTS: i64 = 25;
const BACKOFF_BASE: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(10 * 60);
/// Tickets with conversation in this window are swept for lost callbacks.
const SWEEP_ACTIVE_MS: i64 = 24 * 3600 * 1000;
/// The shortest idle sleep, so a job due but held by a busy worker is not spun on.
const MIN_NAP_MS: i64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct OpenCasePayload {
    case_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncTicketPayload {
    ticket_id: u64,
    #[serde(default)]
    agent: Option<AgentHint>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MirrorPayload {
    ticket_id: u64,
    /// Read the group's history even without a visible hole (a sweep asked).
    #[serde(default)]
    catch_up: bool,
}

/// The job that mirrors `ticket`'s chat to the ticket, due by `run_at` (Unix ms).
pub fn mirror_chat_job(ticket: TicketId, catch_up: bool, run_at: i64) -> NewJob {
    mirror_job(MIRROR_CHAT, ticket, catch_up, run_at)
}

/// The job that mirrors `ticket`'s new comments to the chat, due now.
pub fn mirror_comments_job(ticket: TicketId) -> NewJob {
    mirror_job(MIRROR_COMMENTS, ticket, false, now_ms())
}

fn mirror_job(kind: &str, ticket: TicketId, catch_up: bool, run_at: i64) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        payload: serde_json::json!(MirrorPayload {
            ticket_id: ticket.0,
            catch_up,
        })
        .to_string(),
        dedupe_key: format!("{kind}:{ticket}"),
        run_at,
        lease: None,
    }
}

/// The job that opens `case_id`, with an optional claim (token, until).
pub fn open_case_job(case_id: &str, lease: Option<(String, i64)>) -> NewJob {
    NewJob {
        kind: OPEN_CASE.to_owned(),
        payload: serde_json::json!(OpenCasePayload {
            case_id: case_id.to_owned(),
        })
        .to_string(),
        dedupe_key: open_case_key(case_id),
        run_at: now_ms(),
        lease,
    }
}

/// The job that syncs `ticket`; `request_run` it (level-triggered: one per ticket, re-armed).
pub fn sync_ticket_job(ticket: TicketId, agent: Option<AgentHint>) -> NewJob {
    NewJob {
        kind: SYNC_TICKET.to_owned(),
        payload: serde_json::json!(SyncTicketPayload {
            ticket_id: ticket.0,
            agent,
        })
        .to_string(),
        dedupe_key: format!("{SYNC_TICKET}:{ticket}"),
        run_at: now_ms(),
        lease: None,
    }
}

/// The dedupe key of the job that opens `case_id`.
pub fn open_case_key(case_id: &str) -> String {
    format!("{OPEN_CASE}:{case_id}")
}

/// What running a job came to.
#[derive(Debug)]
pub enum Outcome {
    /// Done; for a case, its ticket.
    Done(Option<CaseDone>),
    /// Failed for now; it runs again later.
    Retrying(BridgeError),
    /// Failed for good.
    Failed(BridgeError),
    /// Work is left that must wait (a rate budget); it runs again at this Unix ms.
    Deferred(i64),
    /// Another worker took the job over (this one's lease ran out); nothing was recorded.
    LeaseLost,
}

/// What a job's run came to, before it is recorded.
enum Ran {
    Done(Option<CaseDone>),
    /// Done, and the job's completion recorded with the last step; whether it was held.
    Completed(CaseDone, bool),
    Later(i64),
}

impl From<Step> for Ran {
    fn from(step: Step) -> Self {
        match step {
            Step::Done => Ran::Done(None),
            Step::Later(at) => Ran::Later(at),
        }
    }
}

/// Runs jobs for this process, under one worker identity.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    bridge: Arc<Bridge>,
    worker: Arc<str>,
    /// How long a claim lasts without a heartbeat: how soon a crashed process's jobs resume.
    lease: Duration,
    /// One permit per running execution (the workers' and those requests started), so a
    /// stop can wait for them before handing their jobs back.
    running: Arc<Semaphore>,
}

/// More executions than could ever run at once.
const MAX_RUNNING: u32 = 1 << 20;

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("worker", &self.worker)
            .finish()
    }
}

impl Jobs {
    pub fn new(store: Store, bridge: Arc<Bridge>, lease: Duration) -> Self {
        Self {
            store,
            bridge,
            worker: format!("{:016x}", rand::random::<u64>()).into(),
            lease,
            running: Arc::new(Semaphore::new(MAX_RUNNING as usize)),
        }
    }

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }

    /// A token for one claim: this worker's id, so `release` finds it, and a random part, so
    /// two claims of one job in this process never pass for each other.
    fn new_token(&self) -> String {
        format!("{}:{:016x}", self.worker, rand::random::<u64>())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn bridge(&self) -> &Bridge {
        &self.bridge
    }

    /// The job that opens `case_id`, already claimed by this worker (the caller runs it now).
    pub fn claimed_open_case_job(&self, case_id: &str) -> NewJob {
        open_case_job(
            case_id,
            Some((self.new_token(), now_ms() + self.lease_ms())),
        )
    }

    /// Claims the job with `dedupe_key` for this worker now, if nobody holds it and it is not
    /// done; a failed job is re-armed (a client retrying says: try again).
    pub async fn claim(&self, dedupe_key: &str) -> Result<Option<Job>, StoreError> {
        self.store
            .claim_by_key(dedupe_key, &self.new_token(), self.lease_ms(), true)
            .await
    }

    /// Runs a job this worker holds and records how it went.
    pub async fn execute(&self, job: &Job) -> Result<Outcome, StoreError> {
        self.execute_case(job, None).await
    }

    /// [`Jobs::execute`], with the case of an `open_case` job when the caller has just
    /// recorded it (so it is not read back).
    #[tracing::instrument(skip_all, fields(job = %job.dedupe_key, attempt = job.attempts))]
    pub async fn execute_case(
        &self,
        job: &Job,
        case: Option<CaseRecord>,
    ) -> Result<Outcome, StoreError> {
        let _running = self.running.acquire().await;
        let token = job.locked_by.clone().unwrap_or_default();
        let run = self.run(job, case);
        let heartbeat = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                match self
                    .store
                    .extend_lease(&job.id, &token, self.lease_ms())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, "could not extend the job's lease"),
                }
            }
        };
        let result = tokio::select! {
            r = run => r,
            () = heartbeat => return Ok(Outcome::LeaseLost),
        };
        self.record(job, &token, result).await
    }

    async fn run(&self, job: &Job, case: Option<CaseRecord>) -> Result<Ran, BridgeError> {
        fn payload<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T, BridgeError> {
            serde_json::from_str(&job.payload).map_err(|e| {
                BridgeError::Store(StoreError::Corrupt {
                    what: "job payload",
                    detail: e.to_string(),
                })
            })
        }
        match job.kind.as_str() {
            OPEN_CASE => {
                let p: OpenCasePayload = payload(job)?;
                let running = JobDone {
                    id: &job.id,
                    token: job.locked_by.as_deref().unwrap_or_default(),
                };
                self.bridge
                    .run_case(&p.case_id, case, Some(running))
                    .await
                    .map(|(done, completed)| match completed {
                        Some(held) => Ran::Completed(done, held),
                        None => Ran::Done(Some(done)),
                    })
            }
            SYNC_TICKET => {
                let p: SyncTicketPayload = payload(job)?;
                self.bridge
                    .sync_ticket(TicketId(p.ticket_id), p.agent.as_ref())
                    .await
                    .map(|()| Ran::Done(None))
            }
            MIRROR_CHAT => {
                let p: MirrorPayload = payload(job)?;
                self.bridge
                    .mirror_chat(TicketId(p.ticket_id), p.catch_up)
                    .await
                    .map(Ran::from)
            }
            MIRROR_COMMENTS => {
                let p: MirrorPayload = payload(job)?;
                self.bridge
                    .mirror_comments(TicketId(p.ticket_id))
                    .await
                    .map(Ran::from)
            }
            other => Err(BridgeError::Store(StoreError::Corrupt {
                what: "job kind",
                detail: other.to_owned(),
            })),
        }
    }

    async fn record(
        &self,
        job: &Job,
        token: &str,
        result: Result<Ran, BridgeError>,
    ) -> Result<Outcome, StoreError> {
        let (held, outcome) = match result {
            Ok(Ran::Done(done)) => (
                self.store.complete_job(&job.id, token).await?,
                Outcome::Done(done),
            ),
            Ok(Ran::Completed(done, held)) => (held, Outcome::Done(Some(done))),
            Ok(Ran::Later(at)) => (
                self.store.defer_job(&job.id, token, at).await?,
                Outcome::Deferred(at),
            ),
            Err(e) if e.is_retryable() && job.attempts < MAX_ATTEMPTS => {
                let wait = e.retry_after().unwrap_or_else(|| backoff(job.attempts));
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "job failed; will retry");
                let run_at = now_ms() + wait.as_millis() as i64;
                (
                    self.store
                        .retry_job(&job.id, token, run_at, &e.to_string())
                        .await?,
                    Outcome::Retrying(e),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, ticket_id = ?ticket_of(&e), attempts = job.attempts,
                    "job failed for good; see `ticket-bridge jobs`");
                self.bridge.metrics.job_failed_for_good(&job.kind);
                (
                    self.store.fail_job(&job.id, token, &e.to_string()).await?,
                    Outcome::Failed(e),
                )
            }
        };
        if held {
            Ok(outcome)
        } else {
            tracing::warn!("job was taken over by another worker before it finished");
            Ok(Outcome::LeaseLost)
        }
    }

    /// Wakes idle workers, of this process and of the other replicas (a job was added).
    pub fn wake(&self) {
        self.store.wake_workers();
    }

    /// Claims and runs due jobs with `concurrency` workers until `stop` turns true; then
    /// waits up to `grace` for the workers' running jobs (see [`Jobs::stop`] for the rest).
    pub async fn run_workers(
        self,
        concurrency: usize,
        mut stop: watch::Receiver<bool>,
        grace: Duration,
    ) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let jobs = self.clone();
            let stop = stop.clone();
            tasks.spawn(async move { jobs.worker_loop(stop).await });
        }
        let _ = stop.wait_for(|s| *s).await;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tasks.abort_all();
        }
    }

    /// Waits up to `grace` for every running execution (those requests started included) to
    /// finish, then hands back whatever this worker still holds.
    pub async fn stop(&self, grace: Duration) {
        if tokio::time::timeout(grace, self.running.acquire_many(MAX_RUNNING))
            .await
            .is_err()
        {
            tracing::warn!("jobs still running at the end of the grace period; handing them back");
        }
        self.release().await;
    }

    /// Hands back every job this worker holds so the next start runs them at once.
    pub async fn release(&self) {
        match self.store.release_jobs(&self.worker).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "handed back unfinished jobs"),
            Err(e) => {
                tracing::error!(error = %e, "could not hand back jobs; they resume when their lease runs out")
            }
        }
    }

    async fn worker_loop(&self, mut stop: watch::Receiver<bool>) {
        let work = self.store.work();
        while !*stop.borrow() {
            // Subscribed before the claim, so work recorded while it runs is not missed.
            let woken = work.notified();
            match self
                .store
                .claim_next(&self.new_token(), self.lease_ms())
                .await
            {
                Ok(Some(job)) => {
                    if let Err(e) = self.execute(&job).await {
                        tracing::error!(error = %e, "could not record a job's outcome");
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not claim a job"),
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(self.idle_nap().await) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Every `interval`, asks for the conversation of each recently active ticket to be checked
    /// for messages whose callback never came (IM does not retry them): the IM side of the
    /// tickets active in the last day at every round (IM calls are cheap), their Zendesk
    /// comments (for lost webhooks) at every tenth round, to spare the API budget.
    pub async fn sweep(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut round: u64 = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
            round += 1;
            let since = now_ms() - SWEEP_ACTIVE_MS;
            match self
                .request_conversation_checks(Some(since), round.is_multiple_of(10))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::debug!(tickets = n, "conversation sweep"),
                Err(e) => tracing::warn!(error = %e, "conversation sweep failed"),
            }
        }
    }

    /// Asks for the conversation of every ticket active since `since` (all open ones: `None`)
    /// to be caught up: the IM side, and the Zendesk side too with `comments`. Returns how
    /// many tickets.
    pub async fn request_conversation_checks(
        &self,
        since: Option<i64>,
        comments: bool,
    ) -> Result<usize, StoreError> {
        let tickets = self.store.conversation_tickets(since).await?;
        for ticket in &tickets {
            self.store
                .request_run(&mirror_chat_job(*ticket, true, now_ms()))
                .await?;
            if comments {
                self.store
                    .request_run(&mirror_comments_job(*ticket))
                    .await?;
            }
        }
        if !tickets.is_empty() {
            self.wake();
        }
        Ok(tickets.len())
    }

    /// How long an idle worker sleeps: until the next job becomes claimable (a batch window
    /// or a deferral ending), at most the store's poll interval (the fallback for another
    /// process's new jobs when no notification woke it).
    async fn idle_nap(&self) -> Duration {
        let poll = self.store.poll_interval();
        match self.store.next_claimable_at().await {
            Ok(Some(at)) => {
                let wait = at
                    .saturating_sub(now_ms())
                    .clamp(MIN_NAP_MS, (poll.as_millis() as i64).max(MIN_NAP_MS));
                Duration::from_millis(wait as u64)
            }
            _ => poll,
        }
    }

    /// Runs due jobs until none is left (for `reconcile`); returns (done, retrying, failed).
    pub async fn drain(&self) -> Result<(usize, usize, usize), StoreError> {
        let (mut done, mut retrying, mut failed) = (0, 0, 0);
        while let Some(job) = self
            .store
            .claim_next(&self.new_token(), self.lease_ms())
            .await?
        {
            match self.execute(&job).await? {
                Outcome::Done(_) => done += 1,
                Outcome::Retrying(_) | Outcome::Deferred(_) => retrying += 1,
                Outcome::Failed(_) => failed += 1,
                Outcome::LeaseLost => {}
            }
        }
        Ok((done, retrying, failed))
    }
}

fn ticket_of(e: &BridgeError) -> Option<u64> {
    match e {
        BridgeError::Im { ticket, .. } => Some(ticket.0),
        _ => None,
    }
}

/// Uniform in [base, min(max, base·2^(attempt-1))].
fn backoff(attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    jittered_backoff(BACKOFF_BASE, BACKOFF_MAX, exponent, BACKOFF_BASE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap() {
        assert!(backoff(1) <= BACKOFF_BASE);
        for attempt in 1..60 {
            let b = backoff(attempt);
            assert!(b >= BACKOFF_BASE && b <= BACKOFF_MAX, "{attempt}: {b:?}");
        }
    }
}
