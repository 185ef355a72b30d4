//! Pruning what the bridge no longer needs: old webhook deliveries, finished jobs, and the
//! `Idempotency-Key`s of finished cases. Tickets, cases, customers and the conversation are
//! never deleted.
//!
//! Each call removes at most `batch` rows in one short statement (`… WHERE id IN (SELECT … LIMIT
//! n)`, which SQLite and PostgreSQL both accept), so a large backlog never holds a long lock;
//! the caller repeats it until less than a batch is left. The outer `WHERE` repeats the
//! conditions, so a row another replica changed since the subquery read it (a done job asked
//! to run again) is left alone: PostgreSQL re-checks them on the row it deletes.

use super::{query, Result, Store};

impl Store {
    /// Deletes up to `batch` webhook deliveries received before `before` (Unix ms).
    pub async fn prune_inbound(&self, before: i64, batch: i64) -> Result<u64> {
        self.prune_batch(
            "DELETE FROM inbound_events
             WHERE id IN (SELECT id FROM inbound_events WHERE received_at < $1 LIMIT $2)
               AND received_at < $3",
            before,
            batch,
        )
        .await
    }

    /// Deletes up to `batch` jobs done before `before`. Jobs that failed for good stay for the
    /// operator; a job's dedupe key is free again afterwards, which is safe: a case's job is
    /// only done once the case is finished (a retry answers from the case), and per-ticket jobs
    /// are added again when asked for.
    pub async fn prune_done_jobs(&self, before: i64, batch: i64) -> Result<u64> {
        self.prune_batch(
            "DELETE FROM jobs
             WHERE id IN (SELECT id FROM jobs WHERE status = 'done' AND updated_at < $1 LIMIT $2)
               AND status = 'done' AND updated_at < $3",
            before,
            batch,
        )
        .await
    }

    /// Forgets the `Idempotency-Key` of up to `batch` cases created before `before` whose
    /// ticket, group and greeting are all done (the case itself stays). A case that is not
    /// finished keeps its key, so a client's retry still finds it.
    pub async fn prune_idempotency_keys(&self, before: i64, batch: i64) -> Result<u64> {
        self.prune_batch(
            "UPDATE cases SET idem_key = NULL
             WHERE case_id IN (
                 SELECT c.case_id FROM cases c JOIN tickets t ON t.ticket_id = c.ticket_id
                 WHERE c.idem_key IS NOT NULL AND c.created_at < $1
                   AND t.group_created_at IS NOT NULL AND t.greeted_at IS NOT NULL
                 LIMIT $2)
               AND idem_key IS NOT NULL AND created_at < $3",
            before,
            batch,
        )
        .await
    }

    /// Runs one pruning statement whose parameters are the cut-off, the batch size and the
    /// cut-off again; returns the rows it changed.
    async fn prune_batch(&self, sql: &str, before: i64, batch: i64) -> Result<u64> {
        let done = query(sql)
            .bind(before)
            .bind(batch)
            .bind(before)
            .execute(&self.db)
            .await?;
        Ok(done)
    }
}
