//! Helpers both upstream clients share, and their HTTP transport.

mod transport;

pub(crate) use transport::query_value;
pub use transport::{HttpClient, HttpError, Response};

use std::future::Future;
use std::time::Duration;

use http::header::{HeaderMap, RETRY_AFTER};

use crate::metrics::{Metrics, Service};

/// A `Retry-After` longer than this is taken as this (a broken header must not park the
/// bridge for days, nor overflow a deadline).
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` in seconds (Zendesk sends whole seconds), capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

/// Runs one HTTP request to an upstream and reports it to `metrics` (when the client has
/// them): its endpoint, how it ended (`ok` or the error's class) and how long it took.
pub(crate) async fn observed<T, E>(
    metrics: Option<&Metrics>,
    service: Service,
    endpoint: &str,
    class: impl Fn(&E) -> &'static str,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = tokio::time::Instant::now();
    let result = request.await;
    if let Some(m) = metrics {
        let outcome = result.as_ref().map_or_else(&class, |_| "ok");
        m.upstream_call(service, endpoint, outcome, started.elapsed());
    }
    result
}

/// A JSON number that is a whole number in `u64`'s range: `7`, or `7.0` (JSON does not tell
/// them apart, and the bodies' documented type is "integer", which includes both).
pub(crate) fn whole_number(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = HeaderMap::new();
        for (raw, want) in [
            ("7", Some(Duration::from_secs(7))),
            ("0.5", Some(Duration::from_millis(500))),
            ("18446744073709551615", Some(MAX_RETRY_AFTER)),
            ("1e300", Some(MAX_RETRY_AFTER)),
            ("-1", None),
            ("NaN", None),
            ("soon", None),
        ] {
            h.insert(RETRY_AFTER, raw.parse().unwrap());
            assert_eq!(retry_after(&h), want, "{raw}");
        }
    }
}
