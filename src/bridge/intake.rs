//! Taking a case in: record it (with the client's `Idempotency-Key`) and its job durably
//! before anything else, run the job within the request's deadline, and answer from what is
//! recorded.
//!
//! - Same key, same request: the same case — its answer, or the rest of its work resumed.
//!   Never a second ticket.
//! - Same key, another request: [`IntakeError::KeyConflict`].
//! - Deadline reached, or an upstream failed for now: the job goes on in the background;
//!   the answer says how far it got ([`Answer::Pending`] with the ids once the ticket exists,
//!   [`Answer::Unavailable`] before).
//! - A new case over the user's limits (cases per hour, open tickets): refused before anything
//!   is recorded. A retry of a recorded key is never counted nor refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{BridgeError, NewCase};
use crate::ids::{ImUserId, TicketId};
use crate::jobs::{open_case_key, Jobs, Outcome};
use crate::limits::{Limit, Refusal};
use crate::store::{
    new_id, now_ms, CaseInsert, CaseLoad, CaseRecord, JobStatus, NewCaseRecord, StoreError,
};

/// What to tell the client when no upstream says more.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How often a request waiting on a case another worker runs looks at it again.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// How a submitted case stands when the request answers.
#[derive(Debug)]
pub enum Answer {
    /// The ticket and the group with the customer exist (the greeting follows).
    Done { ticket: TicketId, reused: bool },
    /// The ticket exists; its group is being made in the background.
    Pending { ticket: TicketId, reused: bool },
    /// The ticket could not be made yet; the case goes on in the background and a retry with
    /// the same key picks it up.
    Unavailable {
        retry_after: Duration,
        cause: String,
    },
    /// The case failed for good.
    Failed(BridgeError),
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("this Idempotency-Key was already used for a different request")]
    KeyConflict,
    #[error("refused by the limit {}", .0.limit.as_str())]
    Limited(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The window of `CASES_PER_USER_PER_HOUR`.
const HOUR_MS: i64 = 3_600_000;
/// What a user at `OPEN_TICKETS_PER_USER` is told to wait (a ticket is solved when it is).
const OPEN_TICKETS_RETRY: Duration = Duration::from_secs(60);

/// How many cases one user may open (`LimitsConfig`).
#[derive(Debug, Clone)]
pub struct CaseLimits {
    pub per_hour: Option<u32>,
    pub open_tickets: Option<u32>,
    /// One check-and-record at a time per user, so that concurrent requests cannot all pass
    /// the check before any is recorded (within this process).
    users: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl CaseLimits {
    pub fn new(per_hour: Option<u32>, open_tickets: Option<u32>) -> Self {
        Self {
            per_hour,
            open_tickets,
            users: Arc::default(),
        }
    }

    fn user_lock(&self, user: &ImUserId) -> Arc<tokio::sync::Mutex<()>> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the locks nobody holds, so the map stays as small as the requests in flight.
        users.retain(|_, lock| Arc::strong_count(lock) > 1);
        users.entry(user.as_str().to_owned()).or_default().clone()
    }

    /// Whether any limit is set.
    fn on(&self) -> bool {
        self.per_hour.is_some() || self.open_tickets.is_some()
    }

    /// Whether a new case of `case` fits the user's `load`.
    fn admits(&self, case: &NewCase, load: &CaseLoad) -> bool {
        let over_hour = self
            .per_hour
            .is_some_and(|max| load.cases >= u64::from(max));
        // A case that may reuse an open ticket opens none.
        let over_open = !case.reuse
            && self
                .open_tickets
                .is_some_and(|max| load.open_tickets >= u64::from(max));
        !over_hour && !over_open
    }

    /// The refusal of a case of `user` at `load` (which [`CaseLimits::admits`] refused).
    async fn refusal(
        &self,
        store: &crate::store::Store,
        user: &ImUserId,
        load: &CaseLoad,
        now: i64,
    ) -> Result<Refusal, IntakeError> {
        match self.per_hour.filter(|&max| load.cases >= u64::from(max)) {
            Some(max) => {
                // Free again once enough of them have left the hour.
                let times = store.case_times_since(user, now - HOUR_MS).await?;
                let frees_at = times
                    .len()
                    .checked_sub(max as usize)
                    .and_then(|i| times.get(i))
                    .map_or(now, |t| t + HOUR_MS);
                let wait = Duration::from_millis((frees_at - now).max(1000) as u64);
                Ok(Refusal::new(Limit::CasesPerUser, wait))
            }
            None => Ok(Refusal::new(Limit::OpenTickets, OPEN_TICKETS_RETRY)),
        }
    }
}

/// Records `case` (or finds the one already recorded under `key`) and drives it for at most
/// `deadline`.
#[tracing::instrument(skip_all, fields(user_id = %case.user, case_id))]
pub async fn submit(
    jobs: &Jobs,
    case: &NewCase,
    key: Option<&str>,
    deadline: Duration,
    limits: &CaseLimits,
) -> Result<Answer, IntakeError> {
    let until = Instant::now() + deadline;
    let fingerprint = case.fingerprint();
    let case_id = new_id();
    let record = NewCaseRecord {
        case_id: case_id.clone(),
        user: case.user.clone(),
        idem_key: key.map(str::to_owned),
        request_hash: fingerprint.clone(),
        request: serde_json::to_string(case).map_err(|e| StoreError::Corrupt {
            what: "case request",
            detail: e.to_string(),
        })?,
    };
    let store = jobs.store();
    let lock = limits.on().then(|| limits.user_lock(&case.user));
    let held = match &lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let now = now_ms();
    let inserted = store
        .insert_case(
            &record,
            &jobs.claimed_open_case_job(&case_id),
            held.is_some().then_some(now - HOUR_MS),
            |load| limits.admits(case, load),
        )
        .await?;
    drop(held);
    let (new, job) = match inserted {
        CaseInsert::Added(new, job) => {
            tracing::Span::current().record("case_id", new.case_id.as_str());
            (new, job)
        }
        CaseInsert::Existing(existing) => {
            tracing::Span::current().record("case_id", existing.case_id.as_str());
            if existing.request_hash != fingerprint {
                return Err(IntakeError::KeyConflict);
            }
            tracing::info!("retry of a known case");
            return resume(jobs, &existing, until).await;
        }
        CaseInsert::Refused(load) => {
            let refusal = limits.refusal(store, &case.user, &load, now).await?;
            return Err(IntakeError::Limited(refusal));
        }
    };
    run(jobs, &case_id, job, Some(new), until).await
}

/// A retried case: finished → its answer; otherwise run the rest now if nobody else is, or
/// wait for whoever is.
async fn resume(jobs: &Jobs, case: &CaseRecord, until: Instant) -> Result<Answer, IntakeError> {
    let key = open_case_key(&case.case_id);
    loop {
        if let Some(job) = jobs.claim(&key).await? {
            // Read again under the claim: the case may have moved on since.
            return run(jobs, &case.case_id, job, None, until).await;
        }
        let done = jobs
            .store()
            .job_by_key(&key)
            .await?
            .is_none_or(|j| j.status == JobStatus::Done);
        if done || Instant::now() + WAIT_POLL >= until {
            return answer_from_state(jobs, &case.case_id, None).await;
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// Runs a claimed job in its own task, so that it goes on when the request stops waiting, and
/// answers as soon as the client can open the chat: the ticket and the group with the customer
/// exist (the greeting follows in the same job, moments later). The job says so itself
/// ([`crate::bridge::CaseWaiters`]).
async fn run(
    jobs: &Jobs,
    case_id: &str,
    job: crate::store::Job,
    recorded: Option<CaseRecord>,
    until: Instant,
) -> Result<Answer, IntakeError> {
    // Waiting before the job starts, so its signal cannot come too early.
    let mut waiting = jobs.bridge().case_waiters.wait(case_id);
    let runner = jobs.clone();
    // Boxed: the case's future is tens of kilobytes (every upstream call's state inline), and
    // spawning moves a task's future several times; a box moves as a pointer.
    let mut task = tokio::spawn(Box::pin(async move {
        runner.execute_case(&job, recorded).await
    }));
    tokio::select! {
        Ok(done) = &mut waiting.ready => Ok(Answer::Done {
            ticket: done.ticket,
            reused: done.reused,
        }),
        finished = &mut task => match finished {
            Ok(outcome) => match outcome? {
                Outcome::Failed(e) => Ok(Answer::Failed(e)),
                Outcome::Retrying(e) => answer_from_state(jobs, case_id, Some(e)).await,
                Outcome::Done(Some(done)) => Ok(Answer::Done {
                    ticket: done.ticket,
                    reused: done.reused,
                }),
                Outcome::Done(None) | Outcome::Deferred(_) | Outcome::LeaseLost => {
                    answer_from_state(jobs, case_id, None).await
                }
            },
            Err(join) => Err(IntakeError::Store(StoreError::Corrupt {
                what: "job task",
                detail: join.to_string(),
            })),
        },
        () = tokio::time::sleep_until(until) => {
            tracing::info!("deadline reached; the case goes on in the background");
            answer_from_state(jobs, case_id, None).await
        }
    }
}

async fn answer_from_state(
    jobs: &Jobs,
    case_id: &str,
    cause: Option<BridgeError>,
) -> Result<Answer, IntakeError> {
    let store = jobs.store();
    let case = store.case(case_id).await?.ok_or(StoreError::Corrupt {
        what: "case",
        detail: format!("no case {case_id}"),
    })?;
    let Some(ticket) = case.ticket_id else {
        return Ok(Answer::Unavailable {
            retry_after: cause
                .as_ref()
                .and_then(BridgeError::retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER),
            cause: cause.map_or_else(
                || "the ticket is not created yet".to_owned(),
                |e| e.to_string(),
            ),
        });
    };
    let ready = store.ticket(ticket).await?.is_some_and(|t| t.chat_ready());
    Ok(if ready {
        Answer::Done {
            ticket,
            reused: case.reused,
        }
    } else {
        Answer::Pending {
            ticket,
            reused: case.reused,
        }
    })
}
