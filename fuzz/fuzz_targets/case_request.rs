//! The `/createticket` body (`http::case_request::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket_bridge::http::case_request;

fuzz_target!(|data: &[u8]| {
    let _ = case_request::parse(data);
});
