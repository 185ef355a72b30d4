//! Retention: a periodic background task deletes what the bridge no longer needs, in small
//! batches (see [`crate::store`]'s `prune_*`). Safe while replicas run: each batch is one
//! statement that re-checks its conditions, and two replicas pruning at once only split the
//! work.

use std::time::Duration;

use tokio::sync::watch;

use crate::store::{now_ms, Store, StoreError};

/// How long each kind of record is kept, and how pruning runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Zendesk webhook deliveries (their invocation ids are what dedupes redeliveries).
    pub inbound: Duration,
    /// Jobs that are done (failed ones stay for the operator).
    pub done_jobs: Duration,
    /// The `Idempotency-Key`s of finished cases.
    pub idempotency_keys: Duration,
    /// How often a pruning round runs.
    pub interval: Duration,
    /// Rows per delete statement.
    pub batch: u32,
}

/// What one pruning round removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub inbound: u64,
    pub done_jobs: u64,
    pub idempotency_keys: u64,
    /// Statements run.
    pub batches: u64,
}

/// One round: everything older than the policy's periods, batch by batch, until less than a
/// batch is left of each.
pub async fn prune(store: &Store, policy: &RetentionPolicy) -> Result<Pruned, StoreError> {
    let now = now_ms();
    let before = |keep: Duration| now - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let batch = i64::from(policy.batch.max(1));
    let mut batches = 0;
    let inbound = in_batches(batch, &mut batches, || {
        store.prune_inbound(before(policy.inbound), batch)
    })
    .await?;
    let done_jobs = in_batches(batch, &mut batches, || {
        store.prune_done_jobs(before(policy.done_jobs), batch)
    })
    .await?;
    let idempotency_keys = in_batches(batch, &mut batches, || {
        store.prune_idempotency_keys(before(policy.idempotency_keys), batch)
    })
    .await?;
    Ok(Pruned {
        inbound,
        done_jobs,
        idempotency_keys,
        batches,
    })
}

/// Runs `step` (which removes at most `batch` rows) until it removes fewer; returns the total.
async fn in_batches<F, Fut>(batch: i64, batches: &mut u64, mut step: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        *batches += 1;
        if n < batch.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// Runs [`prune`] every `policy.interval` until `stop` turns true.
pub async fn run(store: Store, policy: RetentionPolicy, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(policy.interval) => {}
            _ = stop.changed() => return,
        }
        match prune(&store, &policy).await {
            Ok(p) if p.inbound + p.done_jobs + p.idempotency_keys > 0 => tracing::info!(
                inbound = p.inbound,
                done_jobs = p.done_jobs,
                idempotency_keys = p.idempotency_keys,
                "pruned old records"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "pruning old records failed; trying again next round")
            }
        }
    }
}
