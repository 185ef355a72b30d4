//! The emulator's clock: wall time plus an offset tests can advance, so rate-limit windows and
//! idempotency-key expiry are exercised without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as seen by the emulator.
#[derive(Debug)]
pub(super) struct Clock {
    start_unix_ms: u64,
    start: Instant,
    offset_ms: AtomicU64,
}

impl Clock {
    pub(super) fn new() -> Self {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(duration_ms)
            .unwrap_or(0);
        Self {
            start_unix_ms,
            start: Instant::now(),
            offset_ms: AtomicU64::new(0),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.start_unix_ms
            .saturating_add(duration_ms(self.start.elapsed()))
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    pub(super) fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(duration_ms(by), Ordering::Relaxed);
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `ms` (Unix epoch) as ISO-8601 UTC with second precision: `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `ms` as ISO-8601 UTC with nine fractional digits, as Zendesk's event payloads write their
/// `time` (`2025-01-08T10:12:07.672717030Z`); the emulator's clock has millisecond resolution.
pub(super) fn iso8601_nanos(ms: u64) -> String {
    let seconds = iso8601(ms);
    let whole = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{whole}.{:03}000000Z", ms % 1000)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Both values are range-bounded by the algorithm above.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(iso8601(4_107_542_400_000), "2100-03-01T00:00:00Z");
        assert_eq!(
            iso8601_nanos(1_700_000_000_042),
            "2023-11-14T22:13:20.042000000Z"
        );
    }

    #[test]
    fn advancing_moves_now_forward() {
        let c = Clock::new();
        let before = c.now_ms();
        c.advance(Duration::from_secs(3600));
        assert!(c.now_ms() >= before + 3_600_000);
    }
}
