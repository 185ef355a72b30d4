//! What one caller may make the bridge do (`LimitsConfig`): the refusals the limits give, the
//! one place every refusal is recorded, and the per-agent count of open event streams.
//!
//! Where each limit is enforced: connections and header/body timeouts in `http::serve` and
//! `http::guard`, requests per client address in `http::guard`, cases and open tickets per
//! user in `bridge::intake`, event streams per agent in `http::agent`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `REQUESTS_PER_IP_PER_SEC`.
    RequestsPerIp,
    /// `CASES_PER_USER_PER_HOUR`.
    CasesPerUser,
    /// `OPEN_TICKETS_PER_USER`.
    OpenTickets,
    /// `STREAMS_PER_AGENT`.
    StreamsPerAgent,
    /// `MAX_CONNECTIONS`.
    Connections,
    /// `HEADER_TIMEOUT_SECS`: cut off by hyper, so never answered through [`Refusal`].
    HeaderTimeout,
    /// `BODY_TIMEOUT_SECS`.
    BodyTimeout,
}

impl Limit {
    /// The name used in logs (and for a metric's label).
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::RequestsPerIp => "requests_per_ip",
            Limit::CasesPerUser => "cases_per_user",
            Limit::OpenTickets => "open_tickets",
            Limit::StreamsPerAgent => "streams_per_agent",
            Limit::Connections => "connections",
            Limit::HeaderTimeout => "header_timeout",
            Limit::BodyTimeout => "body_timeout",
        }
    }
}

/// A request refused by a limit, and when the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    pub retry_after: Duration,
}

impl Refusal {
    /// Records the refusal (see [`refused`]) and returns it.
    pub fn new(limit: Limit, retry_after: Duration) -> Self {
        refused(limit);
        Self { limit, retry_after }
    }
}

/// Every refusal by a limit passes here once: the place to count them.
pub fn refused(limit: Limit) {
    // Debug level: a flood would otherwise flood the logs too.
    tracing::debug!(limit = limit.as_str(), "refused by a limit");
}

/// Open event streams per agent, bounded by `STREAMS_PER_AGENT` (per process).
#[derive(Debug, Clone)]
pub struct StreamSlots {
    max: Option<u32>,
    open: Arc<Mutex<HashMap<u64, u32>>>,
}

/// One open stream; dropping it (the stream ended) frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    agent: u64,
    open: Arc<Mutex<HashMap<u64, u32>>>,
}

/// How soon an agent over the limit should try again (streams end when a tab closes).
const STREAM_RETRY: Duration = Duration::from_secs(5);

impl StreamSlots {
    pub fn new(max: Option<u32>) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more stream of `agent`, or the refusal.
    pub fn open(&self, agent: u64) -> Result<StreamSlot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(agent).or_insert(0);
        if self.max.is_some_and(|max| *n >= max) {
            return Err(Refusal::new(Limit::StreamsPerAgent, STREAM_RETRY));
        }
        *n += 1;
        Ok(StreamSlot {
            agent,
            open: self.open.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.agent) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.agent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_slots_are_per_agent_and_freed_on_drop() {
        let slots = StreamSlots::new(Some(2));
        let a1 = slots.open(1).unwrap();
        let _a2 = slots.open(1).unwrap();
        assert_eq!(
            slots.open(1).unwrap_err().limit,
            Limit::StreamsPerAgent,
            "a third stream"
        );
        let _b = slots.open(2).expect("another agent has slots of their own");
        drop(a1);
        let _a3 = slots.open(1).expect("a slot was freed");
        assert!(StreamSlots::new(None).open(1).is_ok());
    }
}
