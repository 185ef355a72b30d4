//! The bridge's agent session token (`agent::session::SessionKeys::check_any`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket_bridge::agent::session::SessionKeys;
use ticket_bridge::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let keys = SessionKeys::new(&Secret::new("fuzz-zaf-secret"));
    let _ = keys.check_any(&String::from_utf8_lossy(data), 1_800_000_000);
});
