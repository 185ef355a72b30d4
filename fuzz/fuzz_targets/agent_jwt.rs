//! The proxy JWT of the sidebar app (`agent::jwt::verify`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket_bridge::agent::jwt;
use ticket_bridge::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let _ = jwt::verify(&token, &Secret::new("fuzz-zaf-secret"), 1_800_000_000);
});
