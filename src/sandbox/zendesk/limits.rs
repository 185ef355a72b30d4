//! Rate limits (spec §3): the account's requests per minute, the Update Ticket endpoint's
//! per-account limit, and the 30 updates / 10 minutes per (user, ticket) limit.

use std::collections::{HashMap, VecDeque};

use super::errors::ApiError;

const MINUTE_MS: u64 = 60_000;

/// Update Ticket: 100 requests per minute per account (spec §3.2, production plans without
/// High Volume). Not configurable: it is Zendesk's, not the plan's.
const UPDATE_TICKET_PER_MINUTE: u32 = 100;
/// Update Ticket: 30 updates per 10 minutes per (user, ticket) (spec §3.2).
const UPDATES_PER_USER_TICKET: usize = 30;
const USER_TICKET_WINDOW_MS: u64 = 10 * MINUTE_MS;

/// Observed 429 body for the account limit (spec §3.3, C429).
const ACCOUNT_LIMIT_MESSAGE: &str = "Number of allowed API requests per minute exceeded";
// UNCONFIRMED: the 429 texts of the two Update Ticket limits; modelled on the observed ones.
const UPDATE_ENDPOINT_MESSAGE: &str =
    "Number of allowed ticket update requests per minute exceeded";
const USER_TICKET_MESSAGE: &str =
    "You have exceeded the rate limit for updating a single ticket. Please try again later";

/// A fixed one-minute window that opens with its first request.
///
/// Opening on the first request (rather than on the wall-clock minute) keeps tests
/// deterministic: a burst never straddles a window edge unless the test moves the clock.
#[derive(Debug)]
pub(super) struct MinuteWindow {
    limit: u32,
    start_ms: Option<u64>,
    used: u32,
}

/// The account limit's state after counting one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quota {
    pub limit: u32,
    pub remaining: u32,
}

impl MinuteWindow {
    pub(super) fn new(limit: u32) -> Self {
        Self {
            limit,
            start_ms: None,
            used: 0,
        }
    }

    /// Counts one request; `Err(retry_after_secs)` when it is over the limit.
    fn hit(&mut self, now_ms: u64) -> Result<Quota, u64> {
        let start = match self.start_ms {
            Some(s) if now_ms < s + MINUTE_MS => s,
            _ => {
                self.start_ms = Some(now_ms);
                self.used = 0;
                now_ms
            }
        };
        self.used = self.used.saturating_add(1);
        if self.used > self.limit {
            return Err(retry_after_secs(start + MINUTE_MS, now_ms));
        }
        Ok(Quota {
            limit: self.limit,
            remaining: self.limit - self.used,
        })
    }
}

/// Whole seconds until `reset_ms`, rounded up, at least 1.
fn retry_after_secs(reset_ms: u64, now_ms: u64) -> u64 {
    reset_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

#[derive(Debug)]
pub(super) struct Limits {
    /// `None` = unlimited (config value 0).
    account: Option<MinuteWindow>,
    update_endpoint: MinuteWindow,
    user_ticket: HashMap<(u64, u64), VecDeque<u64>>,
    /// 429s these limits answered (injected faults are not counted here).
    rejected: u64,
}

impl Limits {
    pub(super) fn new(account_per_minute: u32) -> Self {
        Self {
            account: (account_per_minute > 0).then(|| MinuteWindow::new(account_per_minute)),
            update_endpoint: MinuteWindow::new(UPDATE_TICKET_PER_MINUTE),
            user_ticket: HashMap::new(),
            rejected: 0,
        }
    }

    /// How many requests these limits refused with 429, all three limits together.
    pub(super) fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Counts one API request against the account. `Ok(None)` when the account is unlimited.
    pub(super) fn account_request(
        &mut self,
        now_ms: u64,
    ) -> Result<Option<Quota>, (ApiError, Quota)> {
        let Some(window) = self.account.as_mut() else {
            return Ok(None);
        };
        let limit = window.limit;
        let rejected = &mut self.rejected;
        window.hit(now_ms).map(Some).map_err(|retry_after| {
            *rejected += 1;
            (
                ApiError::RateLimited {
                    retry_after,
                    message: ACCOUNT_LIMIT_MESSAGE,
                },
                Quota {
                    limit,
                    remaining: 0,
                },
            )
        })
    }

    /// Counts one Update Ticket request by `user_id` on `ticket_id` against both endpoint limits.
    pub(super) fn ticket_update(
        &mut self,
        user_id: u64,
        ticket_id: u64,
        now_ms: u64,
    ) -> Result<(), ApiError> {
        let result = self.check_ticket_update(user_id, ticket_id, now_ms);
        if result.is_err() {
            self.rejected += 1;
        }
        result
    }

    fn check_ticket_update(
        &mut self,
        user_id: u64,
        ticket_id: u64,
        now_ms: u64,
    ) -> Result<(), ApiError> {
        // A sliding window: stricter than a fixed one, which would let 60 through across an edge.
        let log = self.user_ticket.entry((user_id, ticket_id)).or_default();
        while log
            .front()
            .is_some_and(|&t| t + USER_TICKET_WINDOW_MS <= now_ms)
        {
            log.pop_front();
        }
        if log.len() >= UPDATES_PER_USER_TICKET {
            let oldest = log.front().copied().unwrap_or(now_ms);
            return Err(ApiError::RateLimited {
                retry_after: retry_after_secs(oldest + USER_TICKET_WINDOW_MS, now_ms),
                message: USER_TICKET_MESSAGE,
            });
        }
        self.update_endpoint
            .hit(now_ms)
            .map_err(|retry_after| ApiError::RateLimited {
                retry_after,
                message: UPDATE_ENDPOINT_MESSAGE,
            })?;
        log.push_back(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_resets_and_reports_retry_after() {
        let mut w = MinuteWindow::new(2);
        assert_eq!(w.hit(1_000).map(|q| q.remaining), Ok(1));
        assert_eq!(w.hit(1_500).map(|q| q.remaining), Ok(0));
        assert_eq!(w.hit(30_900).map(|q| q.remaining), Err(31));
        assert_eq!(w.hit(60_999).map(|q| q.remaining), Err(1));
        assert_eq!(w.hit(61_000).map(|q| q.remaining), Ok(1));
    }

    #[test]
    fn user_ticket_limit_slides() {
        let mut l = Limits::new(0);
        for i in 0..30 {
            assert!(l.ticket_update(7, 1, i * 1_000).is_ok());
        }
        match l.ticket_update(7, 1, 30_000) {
            Err(ApiError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 570),
            other => panic!("expected 429, got {other:?}"),
        }
        // Another ticket, or another user, has its own budget.
        assert!(l.ticket_update(7, 2, 30_000).is_ok());
        assert!(l.ticket_update(8, 1, 30_000).is_ok());
        // The oldest update leaves the window after 10 minutes.
        assert!(l.ticket_update(7, 1, 600_000).is_ok());
        assert_eq!(l.rejected(), 1);
    }

    #[test]
    fn every_limit_counts_its_429s() {
        let mut l = Limits::new(1);
        assert!(l.account_request(0).is_ok());
        assert!(l.account_request(1).is_err());
        for i in 0..100 {
            assert!(l.ticket_update(i, 1, 0).is_ok());
        }
        assert!(l.ticket_update(100, 1, 0).is_err());
        assert_eq!(l.rejected(), 2);
    }
}
