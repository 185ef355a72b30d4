//! A Zendesk webhook delivery: signature and timestamp headers and the raw body
//! (`zendesk::webhook::verify`), then the body as an event (`zendesk::webhook::parse`).
//! Input: `signature \0 timestamp \0 body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket_bridge::secret::Secret;
use ticket_bridge::zendesk::webhook;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let signature = parts.next().map(String::from_utf8_lossy);
    let timestamp = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let _ = webhook::verify(
        &Secret::new("fuzz-webhook-secret"),
        signature.as_deref(),
        timestamp.as_deref(),
        body,
        1_700_000_000,
    );
    let _ = webhook::parse(body);
    if let Some(ts) = timestamp {
        let _ = webhook::parse_utc(&ts);
    }
});
