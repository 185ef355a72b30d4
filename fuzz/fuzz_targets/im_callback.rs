//! An IM callback: the query's `SdkAppid`, `RequestTime` and `Sign` (`im::callback::verify`),
//! then the body (`im::callback::parse_body`).
//! Input: `SdkAppid \0 RequestTime \0 Sign \0 body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket_bridge::im::callback::{self, CallbackQuery};
use ticket_bridge::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let mut field = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let query = CallbackQuery {
        sdkappid: field(),
        request_time: field(),
        sign: field(),
        command: Some(callback::AFTER_SEND_MSG.into()),
        platform: None,
    };
    let body = field().unwrap_or_default();
    let _ = callback::verify(
        &Secret::new("fuzz-callback-token"),
        1_400_000_000,
        &query,
        1_700_000_000,
    );
    let _ = callback::parse_body(body.as_bytes());
});
