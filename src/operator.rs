//! Operator commands that work on the store directly: `reconcile` and `jobs`. Both are safe
//! to run while `serve` runs (claims are exclusive; see `store::jobs`).

use std::fmt::Write;

use crate::jobs::{open_case_key, Jobs};
use crate::store::{now_ms, JobStatus, NewJob, Store, StoreError};

/// What `reconcile` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Unfinished cases found.
    pub unfinished: usize,
    pub done: usize,
    /// Failed again for now; their jobs retry later by themselves.
    pub retrying: usize,
    pub failed: usize,
}

/// Finds every case whose ticket, group or greeting is not done, makes its job due now
/// (a job that had failed for good included) and runs due jobs until none is left.
pub async fn reconcile(store: &Store, jobs: &Jobs) -> Result<ReconcileReport, StoreError> {
    let unfinished = store.unfinished_case_ids().await?;
    for case_id in &unfinished {
        let key = open_case_key(case_id);
        if !store.rearm_job(&key).await? && store.job_by_key(&key).await?.is_none() {
            // Cannot happen (a case and its job are written together), but repair it if so.
            store
                .enqueue(&NewJob {
                    kind: crate::jobs::OPEN_CASE.to_owned(),
                    payload: serde_json::json!({ "case_id": case_id }).to_string(),
                    dedupe_key: key,
                    run_at: now_ms(),
                    lease: None,
                })
                .await?;
        }
    }
    let (done, retrying, failed) = jobs.drain().await?;
    jobs.release().await;
    Ok(ReconcileReport {
        unfinished: unfinished.len(),
        done,
        retrying,
        failed,
    })
}

/// A listing of the job queue: counts by status, then every job that failed for good.
pub async fn jobs_report(store: &Store) -> Result<String, StoreError> {
    let mut out = String::new();
    let failed = store.jobs_with_status(JobStatus::Failed).await?;
    for status in [JobStatus::Queued, JobStatus::Done, JobStatus::Failed] {
        let n = store.jobs_with_status(status).await?.len();
        let _ = writeln!(out, "{:<7} {n}", status.as_str());
    }
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
