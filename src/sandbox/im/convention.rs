//! The REST calling convention (specs/tencent-im.md §2.1–2.4): the five query parameters, the
//! admin UserSig, the per-command frequency limit and the JSON body, checked in that order
//! before a command runs.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::commands::{self, Ctx};
use super::errors::{code, ok_response, ImError};
use super::Inner;
use crate::usersig::UserSigError;

/// `POST /v4/{service}/{command}`.
pub(super) async fn handle(
    State(inner): State<Arc<Inner>>,
    Path((service, command)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let key = format!("{service}/{command}");
    let result = call(&inner, &key, &service, &command, &uri, &body);
    match result {
        Ok(fields) => {
            tracing::debug!(command = %key, "IM emulator call succeeded");
            ok_response(fields)
        }
        Err(e) => {
            tracing::debug!(command = %key, code = e.code, info = %e.info, "IM emulator call failed");
            e.into_response()
        }
    }
}

/// Any other path: a POST gets the "bad resource URL" envelope, other methods 405.
pub(super) async fn fallback(method: Method) -> Response {
    if method == Method::POST {
        ImError::new(
            code::BAD_RESOURCE_URL,
            "unknown resource; the URL must be /v4/<service>/<command>",
        )
        .into_response()
    } else {
        StatusCode::METHOD_NOT_ALLOWED.into_response()
    }
}

fn call(
    inner: &Inner,
    key: &str,
    service: &str,
    command: &str,
    uri: &Uri,
    body: &[u8],
) -> Result<Map<String, Value>, ImError> {
    let mut state = inner.lock();
    *state.calls.entry(key.to_string()).or_default() += 1;
    let now = Inner::now(&state);
    let identifier = check_query(inner, uri, now)?;
    let run = commands::lookup(service, command)?;
    // The limit counts calls after authentication, per command, as the documented 200/s is.
    if !state.admit(key, inner.config.rate_limit_per_sec, Instant::now()) {
        return Err(ImError::new(
            code::REST_RATE_LIMIT,
            format!(
                "{key} was called more than {} times in one second",
                inner.config.rate_limit_per_sec
            ),
        ));
    }
    let obj = parse_body(body)?;
    let ctx = Ctx {
        identifier: &identifier,
        admins: &inner.config.admins,
        sdkappid: inner.config.sdkappid,
        now,
    };
    run(&mut state, &ctx, &obj)
}

/// Checks `sdkappid`, `identifier`, `usersig`, `random` and `contenttype`; returns the caller.
/// Names and values are case-sensitive, and each parameter may appear once.
fn check_query(inner: &Inner, uri: &Uri, now: u64) -> Result<String, ImError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| ImError::new(code::HTTP_PARSE, "the query string cannot be parsed"))?;
    let param = |name: &str| -> Result<Option<&str>, ImError> {
        let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ImError::new(
                code::HTTP_PARSE,
                format!("query parameter {name} is given more than once"),
            ));
        }
        Ok(first.map(String::as_str))
    };

    let sdkappid = param("sdkappid")?
        .ok_or_else(|| ImError::new(code::SDKAPPID_MISSING, "the URL must carry sdkappid"))?;
    // UNCONFIRMED: 60006 ("SDKAppID invalid") for a non-number, 70020 ("not found") for
    // another app's id.
    let sdkappid: u64 = digits(sdkappid)
        .ok_or_else(|| ImError::new(code::SDKAPPID_INVALID, "sdkappid is not a number"))?;
    if sdkappid != inner.config.sdkappid {
        return Err(ImError::new(
            code::SDKAPPID_NOT_FOUND,
            format!("SDKAppID {sdkappid} not found"),
        ));
    }

    // UNCONFIRMED: 60004 ("identifier or sig wrong in the URL") for a missing identifier.
    let identifier = param("identifier")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ImError::new(code::IDENTIFIER_OR_SIG, "the URL must carry identifier"))?;
    // UNCONFIRMED: a missing usersig is taken as a UserSig of length 0 (70002).
    let usersig = param("usersig")?.unwrap_or("");
    inner
        .signer
        .verify_at(identifier, usersig, now)
        .map_err(sig_error)?;
    if !inner.config.admins.iter().any(|a| a == identifier) {
        return Err(ImError::new(
            code::ADMIN_REQUIRED,
            format!("{identifier} is not an App admin"),
        ));
    }

    // UNCONFIRMED: the codes for a missing/invalid random or contenttype are not documented;
    // 60002 ("HTTP parse error, check the URL") is used for both.
    let random = param("random")?
        .ok_or_else(|| ImError::new(code::HTTP_PARSE, "the URL must carry random"))?;
    if digits(random).and_then(|n| u32::try_from(n).ok()).is_none() {
        return Err(ImError::new(
            code::HTTP_PARSE,
            "random must be an integer in 0..=4294967295",
        ));
    }
    if param("contenttype")? != Some("json") {
        return Err(ImError::new(code::HTTP_PARSE, "contenttype must be json"));
    }
    Ok(identifier.to_string())
}

/// A plain decimal number (no sign, no spaces).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The server code for each way a UserSig can fail (§1.5).
fn sig_error(e: UserSigError) -> ImError {
    let code = match e {
        UserSigError::Expired => code::SIG_EXPIRED,
        UserSigError::Empty => code::SIG_EMPTY,
        UserSigError::TooLong
        | UserSigError::NotBase64
        | UserSigError::NotZlib
        | UserSigError::NotJson
        | UserSigError::MissingField(_)
        // UNCONFIRMED: a userbuf sig on a REST call is treated as a failed check (70003).
        | UserSigError::UnexpectedUserBuf => code::SIG_INVALID,
        UserSigError::SignatureMismatch => code::SIG_WRONG_KEY,
        UserSigError::IdentifierMismatch => code::SIG_IDENTIFIER_MISMATCH,
        UserSigError::SdkAppIdMismatch => code::SIG_SDKAPPID_MISMATCH,
    };
    ImError::new(code, e.to_string())
}

/// The body must be a non-empty JSON object (`{}` for a command without fields).
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ImError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ImError::new(
            code::BODY_JSON,
            "the request body must not be empty; send {} when there are no fields",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(ImError::new(
            code::BODY_JSON,
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ImError::new(
            code::BODY_JSON,
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}
