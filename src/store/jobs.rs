//! `jobs`: the durable job queue.
//!
//! A job is claimed with a lease (`locked_by` = a token of that one claim, `locked_until`); a
//! worker that crashes simply lets its lease run out and the job is claimed again, and a claim
//! that lost its lease can no longer extend, complete or fail the job. Claims are one `UPDATE … RETURNING`
//! whose conditions are checked again on the row it updates, so two workers (or two
//! processes sharing the database) never hold the same job; on PostgreSQL the row is picked
//! with `FOR UPDATE SKIP LOCKED`, so concurrent claims take different jobs.

use super::db::{On, Query, Row};
use super::{now_ms, query, Result, Store, StoreError, Topic, Tx};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for `run_at`, or running under a lease.
    Queued,
    Done,
    /// Failed for good: kept for the operator (`ticket-bridge jobs`).
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(JobStatus::Queued),
            "done" => Ok(JobStatus::Done),
            "failed" => Ok(JobStatus::Failed),
            other => Err(StoreError::Corrupt {
                what: "job status",
                detail: other.to_owned(),
            }),
        }
    }
}

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    /// At most one job per dedupe key, ever.
    pub dedupe_key: String,
    pub run_at: i64,
    /// Added already claimed by this worker until this time (the caller runs it at once).
    pub lease: Option<(String, i64)>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub dedupe_key: String,
    pub status: JobStatus,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, kind, payload, dedupe_key, status, attempts, run_at, locked_by, \
     locked_until, last_error, created_at, updated_at";

impl Store {
    /// Adds a job unless one with its dedupe key exists; returns whether it was added.
    pub async fn enqueue(&self, job: &NewJob) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let added = insert_job(&mut tx, job).await?.is_some();
        tx.commit().await?;
        Ok(added)
    }

    /// Asks for a job to run (level-triggered work such as syncing a ticket): added if new;
    /// a done or failed one is re-armed; a waiting one is made due now; a running one runs once
    /// more when it finishes. The payload is replaced (it carries the latest hints).
    pub async fn request_run(&self, job: &NewJob) -> Result<()> {
        let mut tx = self.db.begin().await?;
        request_run(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Like [`Store::request_run`], but new work joins a run already due sooner, and a job that
    /// failed for good stays failed: a periodic check must not re-arm what needs an operator
    /// (`reconcile` does that).
    pub async fn request_check(&self, job: &NewJob) -> Result<()> {
        upsert_request(&self.db, job, RunRequest::Check).await
    }

    /// Claims the runnable job that is due first, for `lease_ms`. On PostgreSQL a job another
    /// claim is taking at this moment is skipped (`FOR UPDATE SKIP LOCKED`), so workers of
    /// several replicas claiming together each get a different job instead of queueing on one
    /// row and coming back empty; SQLite runs one writer at a time anyway.
    pub async fn claim_next(&self, token: &str, lease_ms: i64) -> Result<Option<Job>> {
        let now = now_ms();
        let skip_locked = if self.postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let row = query(&format!(
            "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1, rerun = 0,
                    updated_at = $3
             WHERE id = (SELECT id FROM jobs
                         WHERE status = 'queued' AND run_at <= $4
                           AND (locked_until IS NULL OR locked_until < $5)
                         ORDER BY run_at, created_at LIMIT 1 {skip_locked})
               AND status = 'queued' AND (locked_until IS NULL OR locked_until < $6)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(token.to_owned())
        .bind(now + lease_ms)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// Claims the job with `dedupe_key` now, whatever its `run_at`, unless another worker holds
    /// it or it is done. A failed job is claimed again (and re-armed) only if `rearm_failed`.
    pub async fn claim_by_key(
        &self,
        dedupe_key: &str,
        token: &str,
        lease_ms: i64,
        rearm_failed: bool,
    ) -> Result<Option<Job>> {
        let now = now_ms();
        let statuses = if rearm_failed {
            "('queued', 'failed')"
        } else {
            "('queued')"
        };
        let row = query(&format!(
            "UPDATE jobs SET locked_by = $1, locked_until = $2,
                    attempts = CASE WHEN status = 'failed' THEN 1 ELSE attempts + 1 END,
                    status = 'queued', rerun = 0, updated_at = $3
             WHERE dedupe_key = $4 AND status IN {statuses}
               AND (locked_until IS NULL OR locked_until < $5)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(token.to_owned())
        .bind(now + lease_ms)
        .bind(now)
        .bind(dedupe_key.to_owned())
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// When the next queued job can be claimed (its `run_at`, or the end of its lease while
    /// another worker holds it), so an idle worker sleeps exactly until then.
    pub async fn next_claimable_at(&self) -> Result<Option<i64>> {
        let at: Option<i64> = query(
            "SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > run_at
                             THEN locked_until ELSE run_at END)
             FROM jobs WHERE status = 'queued'",
        )
        .scalar(&self.db)
        .await?;
        Ok(at)
    }

    /// Extends a held lease; false if the lease was lost.
    pub async fn extend_lease(&self, id: &str, token: &str, lease_ms: i64) -> Result<bool> {
        let q = query(
            "UPDATE jobs SET locked_until = $1, updated_at = $2 WHERE id = $3 AND locked_by = $4",
        )
        .bind(now_ms() + lease_ms)
        .bind(now_ms());
        held(&self.db, q, id, token).await
    }

    /// The job succeeded; false if this worker no longer held it. A job asked to run again
    /// while it ran ([`Store::request_run`]) is queued once more instead of done: at once, or
    /// when the request asked for (a batch window).
    pub async fn complete_job(&self, id: &str, token: &str) -> Result<bool> {
        held(&self.db, completion(), id, token).await
    }

    /// The job failed for now: run it again at `run_at` — or at once if a run was asked for
    /// while it ran.
    pub async fn retry_job(&self, id: &str, token: &str, run_at: i64, error: &str) -> Result<bool> {
        let q = query(
            "UPDATE jobs SET run_at = CASE WHEN rerun = 1 THEN $1 ELSE $2 END, rerun = 0,
                    last_error = $3, locked_by = NULL, locked_until = NULL, updated_at = $4
             WHERE id = $5 AND locked_by = $6",
        )
        .bind(now_ms())
        .bind(run_at)
        .bind(error.to_owned())
        .bind(now_ms());
        held(&self.db, q, id, token).await
    }

    /// The job has work left that must wait (a rate budget): run it again at `run_at`, as a
    /// fresh job (waiting is not a failure and spends no attempt).
    pub async fn defer_job(&self, id: &str, token: &str, run_at: i64) -> Result<bool> {
        let q = query(
            "UPDATE jobs SET run_at = $1, rerun = 0, attempts = 0, locked_by = NULL,
                    locked_until = NULL, updated_at = $2
             WHERE id = $3 AND locked_by = $4",
        )
        .bind(run_at)
        .bind(now_ms());
        held(&self.db, q, id, token).await
    }

    /// The job failed for good; it is kept, visible, and not run again by itself — unless a
    /// run was asked for while it ran (new information may change the outcome).
    pub async fn fail_job(&self, id: &str, token: &str, error: &str) -> Result<bool> {
        let q = query(
            "UPDATE jobs SET status = CASE WHEN rerun = 1 THEN 'queued' ELSE 'failed' END,
                    attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
                    run_at = $1, rerun = 0, last_error = $2, locked_by = NULL,
                    locked_until = NULL, updated_at = $3
             WHERE id = $4 AND locked_by = $5",
        )
        .bind(now_ms())
        .bind(error.to_owned())
        .bind(now_ms());
        held(&self.db, q, id, token).await
    }

    /// Hands back every job whose claim token starts with `worker` and a colon, to be run
    /// again at once (on shutdown): the other replicas are told before this returns.
    pub async fn release_jobs(&self, worker: &str) -> Result<u64> {
        let done = query(
            "UPDATE jobs SET locked_by = NULL, locked_until = NULL, updated_at = $1
             WHERE locked_by LIKE $2 AND status = 'queued'",
        )
        .bind(now_ms())
        .bind(format!("{worker}:%"))
        .execute(&self.db)
        .await?;
        if done > 0 {
            self.signals.raise_now(&self.db, Topic::Jobs).await;
        }
        Ok(done)
    }

    pub async fn job_by_key(&self, dedupe_key: &str) -> Result<Option<Job>> {
        let row = query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE dedupe_key = $1"
        ))
        .bind(dedupe_key.to_owned())
        .fetch_optional(&self.db)
        .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// How many jobs there are in each status.
    pub async fn job_counts(&self) -> Result<Vec<(JobStatus, i64)>> {
        let rows: Vec<(String, i64)> = query("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .tuples(&self.db)
            .await?;
        rows.into_iter()
            .map(|(s, n)| Ok((JobStatus::parse(&s)?, n)))
            .collect()
    }

    /// Jobs with `status`, oldest first.
    pub async fn jobs_with_status(&self, status: JobStatus) -> Result<Vec<Job>> {
        let rows = query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = $1 ORDER BY created_at"
        ))
        .bind(status.as_str().to_owned())
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Re-arms a job (failed or waiting) to run now; false if it is done or unknown.
    pub async fn rearm_job(&self, dedupe_key: &str) -> Result<bool> {
        let done = query(
            "UPDATE jobs SET attempts = CASE WHEN status = 'failed' THEN 0 ELSE attempts END,
                    status = 'queued', run_at = $1, updated_at = $2
             WHERE dedupe_key = $3 AND status IN ('queued', 'failed')",
        )
        .bind(now_ms())
        .bind(now_ms())
        .bind(dedupe_key.to_owned())
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }
}

/// Runs `query` (whose last two parameters are the job id and the claim token) and says
/// whether it changed the job, i.e. whether that claim still held it.
async fn held<'c>(on: impl Into<On<'c>>, query: Query<'_>, id: &str, token: &str) -> Result<bool> {
    let done = query.bind(id).bind(token).execute(on).await?;
    Ok(done > 0)
}

/// Marks a job done (or queued again, if a run was asked for while it ran), unless
/// another worker has taken it over; see [`Store::complete_job`].
fn completion() -> Query<'static> {
    query(
        "UPDATE jobs SET status = CASE WHEN rerun = 1 THEN 'queued' ELSE 'done' END,
                run_at = CASE WHEN rerun = 1 AND run_at > $1 THEN run_at ELSE $2 END,
                rerun = 0, attempts = 0, locked_by = NULL, locked_until = NULL,
                last_error = NULL, updated_at = $3
         WHERE id = $4 AND locked_by = $5",
    )
    .bind(now_ms())
    .bind(now_ms())
    .bind(now_ms())
}

/// A running job, as the work that finishes it names it so that its completion is recorded
/// in the same transaction as the work's last step.
#[derive(Debug, Clone, Copy)]
pub struct JobDone<'a> {
    pub id: &'a str,
    pub token: &'a str,
}

/// [`Store::complete_job`] inside `tx`; whether the job was still held.
pub(super) async fn complete_in(tx: &mut Tx, job: JobDone<'_>) -> Result<bool> {
    held(tx, completion(), job.id, job.token).await
}

pub(super) async fn request_run(tx: &mut Tx, job: &NewJob) -> Result<()> {
    upsert_request(tx, job, RunRequest::Now).await
}

/// Like [`request_run`], but a job already waiting keeps an earlier `run_at`: new work joins
/// the run that is due first (chat lines arriving within a batch window ride together).
pub(super) async fn request_run_by(tx: &mut Tx, job: &NewJob) -> Result<()> {
    upsert_request(tx, job, RunRequest::JoinEarlier).await
}

/// How a request to run a job treats the job already there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunRequest {
    /// Due at the new `run_at`; a done or failed job is re-armed.
    Now,
    /// Due at the earlier of the two; a done or failed job is re-armed.
    JoinEarlier,
    /// Due at the earlier of the two; a failed job is left alone.
    Check,
}

/// Adds the job, or asks the existing one to run (again): queued, its payload replaced (it
/// carries the latest hints), run once more if it is running (`rerun`).
async fn upsert_request<'c>(on: impl Into<On<'c>>, job: &NewJob, mode: RunRequest) -> Result<()> {
    // A job waiting for a later time keeps an earlier one; a running (or due) job takes the
    // new time for its next run, so work arriving while it runs still gets its batch window.
    let run_at = if mode == RunRequest::Now {
        "excluded.run_at"
    } else {
        "CASE WHEN jobs.status = 'queued' AND jobs.run_at > $8 AND jobs.run_at < excluded.run_at
              THEN jobs.run_at ELSE excluded.run_at END"
    };
    let only = if mode == RunRequest::Check {
        "WHERE jobs.status <> 'failed'"
    } else {
        ""
    };
    let now = now_ms();
    let sql = format!(
        "INSERT INTO jobs (id, kind, payload, dedupe_key, status, attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7)
         ON CONFLICT (dedupe_key) DO UPDATE SET
             payload = excluded.payload,
             attempts = CASE WHEN jobs.status = 'queued' THEN jobs.attempts ELSE 0 END,
             run_at = {run_at},
             status = 'queued',
             rerun = 1,
             updated_at = excluded.updated_at
         {only}"
    );
    let query = query(&sql)
        .bind(new_id())
        .bind(job.kind.clone())
        .bind(job.payload.clone())
        .bind(job.dedupe_key.clone())
        .bind(job.run_at)
        .bind(now)
        .bind(now);
    let query = if mode == RunRequest::Now {
        query
    } else {
        query.bind(now)
    };
    query.execute(on).await?;
    Ok(())
}

/// Inserts a job unless its dedupe key exists; returns the job added, if it was.
pub(super) async fn insert_job(tx: &mut Tx, job: &NewJob) -> Result<Option<Job>> {
    let now = now_ms();
    let id = new_id();
    let (locked_by, locked_until, attempts) = match &job.lease {
        Some((worker, until)) => (Some(worker.clone()), Some(*until), 1i64),
        None => (None, None, 0),
    };
    let added = query(
        "INSERT INTO jobs (id, kind, payload, dedupe_key, status, attempts, run_at, locked_by,
                           locked_until, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(id.clone())
    .bind(job.kind.clone())
    .bind(job.payload.clone())
    .bind(job.dedupe_key.clone())
    .bind(attempts)
    .bind(job.run_at)
    .bind(locked_by.clone())
    .bind(locked_until)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok((added > 0).then(|| Job {
        id,
        kind: job.kind.clone(),
        payload: job.payload.clone(),
        dedupe_key: job.dedupe_key.clone(),
        status: JobStatus::Queued,
        attempts,
        run_at: job.run_at,
        locked_by,
        locked_until,
        last_error: None,
        created_at: now,
        updated_at: now,
    }))
}

/// A 128-bit id, hex: the time in ms (48 bits), then 80 random bits. Time first, so a new
/// row's id lands at the end of its index: one page is written, where a random id would dirty
/// a different page of the index at every insert (more to write to SQLite's log, and to read).
pub(crate) fn new_id() -> String {
    let random = rand::random::<u128>() & ((1 << 80) - 1);
    format!("{:012x}{random:020x}", now_ms() & 0xffff_ffff_ffff)
}

fn job_from_row(r: &Row) -> Result<Job> {
    Ok(Job {
        id: r.get("id")?,
        kind: r.get("kind")?,
        payload: r.get("payload")?,
        dedupe_key: r.get("dedupe_key")?,
        status: JobStatus::parse(&r.get::<String>("status")?)?,
        attempts: r.get("attempts")?,
        run_at: r.get("run_at")?,
        locked_by: r.get("locked_by")?,
        locked_until: r.get("locked_until")?,
        last_error: r.get("last_error")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_hex_unique_and_ordered_by_time() {
        let first = new_id();
        assert_eq!(first.len(), 32);
        assert!(first
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Same millisecond: the random tail still tells them apart.
        assert_ne!(new_id(), new_id());
        // The time prefix orders ids made in later milliseconds after earlier ones.
        let start = std::time::Instant::now();
        let mut later = new_id();
        while later[..12] == first[..12] && start.elapsed() < std::time::Duration::from_secs(1) {
            later = new_id();
        }
        assert!(later > first, "{later} should sort after {first}");
    }
}
