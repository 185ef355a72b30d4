//! An emulator-only entry for "a customer sends from the SDK": the real client SDK talks to IM
//! over its own protocol, which the emulator does not speak. The sandbox and black-box tests
//! use this HTTP stand-in instead:
//!
//! ```text
//! POST /sdk/send_group_msg?sdkappid=<id>&identifier=<user>&usersig=<that user's UserSig>&contenttype=json
//! {"GroupId": "...", "MsgBody": [...], "CloudCustomData"?: "..."}
//! ```
//!
//! The user's own UserSig is verified as strictly as the admin's on REST calls (same 70xxx
//! codes); the message gets the checks `send_group_msg` makes for that sender (10010, 10019,
//! 10007, 10017, 10004, 80002) and fires `Group.CallbackAfterSendMsg` with `OptPlatform=Web`.
//! The answer uses IM's envelope with `MsgSeq` and `MsgTime`. Injected faults do not apply here:
//! they stand for trouble between the bridge and IM.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, Uri};
use axum::response::{IntoResponse, Response};

use super::commands::sent;
use super::convention::{check_contenttype, check_user, client_ip, parse_body, QueryParams};
use super::errors::{ok_response, ImError};
use super::Inner;

/// `POST /sdk/send_group_msg`.
pub(super) async fn send_group_msg(
    State(inner): State<Arc<Inner>>,
    extensions: Extensions,
    uri: Uri,
    body: Bytes,
) -> Response {
    match client_send(&inner, &uri, &body, &client_ip(&extensions)) {
        Ok((seq, time)) => ok_response(sent(seq, time)),
        Err(e) => {
            tracing::debug!(code = e.code, info = %e.info, "IM emulator SDK send failed");
            e.into_response()
        }
    }
}

// UNCONFIRMED: a real SDK login imports a missing account; here the account must exist
// already (import_account / account_import), else the send fails with 10019.
fn client_send(inner: &Inner, uri: &Uri, body: &[u8], ip: &str) -> Result<(u64, u64), ImError> {
    let query = QueryParams::parse(uri)?;
    let user = check_user(inner, &query, inner.current_time())?;
    check_contenttype(&query)?;
    let obj = parse_body(body)?;
    inner.client_send(user, ip, &obj)
}
