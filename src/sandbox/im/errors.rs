//! The IM error codes the emulator answers with, and the response envelope.
//!
//! Every API-level result, success or failure, is HTTP 200 with
//! `{"ActionStatus","ErrorCode","ErrorInfo"}` (specs/tencent-im.md §2.3); only the faults
//! middleware and the HTTP layer (405, 413) answer otherwise.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// Error codes (specs/tencent-im.md §1.5, §4). Names follow the meaning, not Tencent's enum names.
pub(super) mod code {
    // REST calling convention (60xxx).
    pub const HTTP_PARSE: u32 = 60002;
    pub const BODY_JSON: u32 = 60003;
    pub const IDENTIFIER_OR_SIG: u32 = 60004;
    pub const SDKAPPID_INVALID: u32 = 60006;
    pub const REST_RATE_LIMIT: u32 = 60007;
    pub const BAD_RESOURCE_URL: u32 = 60009;
    pub const ADMIN_REQUIRED: u32 = 60010;
    pub const SDKAPPID_MISSING: u32 = 60012;
    // UserSig (70xxx).
    pub const SIG_EXPIRED: u32 = 70001;
    pub const SIG_EMPTY: u32 = 70002;
    pub const SIG_INVALID: u32 = 70003;
    pub const SIG_WRONG_KEY: u32 = 70009;
    pub const SIG_IDENTIFIER_MISMATCH: u32 = 70013;
    pub const SIG_SDKAPPID_MISMATCH: u32 = 70014;
    pub const SDKAPPID_NOT_FOUND: u32 = 70020;
    // Account service.
    pub const ACCOUNT_BAD_PARAMS: u32 = 70402;
    // Profile service.
    pub const PROFILE_BAD_PARAMS: u32 = 40001;
    pub const PROFILE_NO_ACCOUNT: u32 = 40003;
    pub const PROFILE_NO_TAG: u32 = 40009;
    pub const PROFILE_VALUE_TOO_LONG: u32 = 40601;
    // Group service (10xxx).
    pub const GROUP_BAD_COMMAND: u32 = 10003;
    pub const GROUP_BAD_PARAMS: u32 = 10004;
    pub const GROUP_TOO_MANY_ACCOUNTS: u32 = 10005;
    pub const GROUP_PERMISSION: u32 = 10007;
    pub const GROUP_NOT_FOUND: u32 = 10010;
    pub const GROUP_FULL: u32 = 10014;
    pub const GROUP_INVALID_ID: u32 = 10015;
    pub const GROUP_MUTED: u32 = 10017;
    pub const GROUP_NO_ACCOUNT: u32 = 10019;
    pub const GROUP_ID_IN_USE: u32 = 10021;
    pub const GROUP_ID_IN_USE_BY_YOU: u32 = 10025;
    // Messages.
    pub const MSG_TOO_LONG: u32 = 80002;
}

/// A failed IM call: the `ErrorCode` and the `ErrorInfo` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IM error {code}: {info}")]
pub(super) struct ImError {
    pub code: u32,
    pub info: String,
}

impl ImError {
    pub fn new(code: u32, info: impl Into<String>) -> Self {
        Self {
            code,
            info: info.into(),
        }
    }
}

impl IntoResponse for ImError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "ActionStatus": "FAIL",
            "ErrorCode": self.code,
            "ErrorInfo": self.info,
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }
}

/// The success envelope with the command's own fields added after it.
pub(super) fn ok_response(fields: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("ActionStatus".into(), "OK".into());
    body.insert("ErrorCode".into(), 0.into());
    body.insert("ErrorInfo".into(), "".into());
    body.extend(fields);
    (StatusCode::OK, axum::Json(Value::Object(body))).into_response()
}
