//! What the operations endpoints read: whether the schema is current (`/readyz`) and the job
//! queue's shape (`/metrics`). Both are single cheap queries.

use super::{migrations, query, Result, Store};

/// The queue of one job kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueueStats {
    pub kind: String,
    /// Waiting or running.
    pub queued: i64,
    /// How long the job due first has been due (0 when none is due yet).
    pub oldest_due_ms: i64,
    /// Failed for good, waiting for an operator.
    pub failed: i64,
}

impl Store {
    /// Whether every migration this build knows is applied.
    pub async fn migrations_current(&self) -> Result<bool> {
        let applied: Option<i64> = query("SELECT MAX(version) FROM schema_migrations")
            .scalar(&self.db)
            .await?;
        Ok(applied.is_some_and(|v| v >= migrations::latest()))
    }

    /// The queued and failed jobs of each kind at `now` (Unix ms).
    pub async fn job_queue_stats(&self, now: i64) -> Result<Vec<JobQueueStats>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = query(
            "SELECT kind, status, COUNT(*), MIN(run_at) FROM jobs
             WHERE status IN ('queued', 'failed') GROUP BY kind, status",
        )
        .tuples(&self.db)
        .await?;
        let mut out: Vec<JobQueueStats> = Vec::new();
        for (kind, status, count, first_run_at) in rows {
            let i = match out.iter().position(|s| s.kind == kind) {
                Some(i) => i,
                None => {
                    out.push(JobQueueStats {
                        kind,
                        queued: 0,
                        oldest_due_ms: 0,
                        failed: 0,
                    });
                    out.len() - 1
                }
            };
            if status == "queued" {
                out[i].queued = count;
                // The earliest run_at is the oldest due job's, if any is due.
                out[i].oldest_due_ms = first_run_at.map_or(0, |at| (now - at).max(0));
            } else {
                out[i].failed = count;
            }
        }
        Ok(out)
    }
}
