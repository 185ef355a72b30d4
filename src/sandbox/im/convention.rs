//! The REST calling convention (specs/tencent-im.md §2.1–2.4): the five query parameters, the
//! admin UserSig, the per-command frequency limit and the JSON body, checked in that order
//! before a command runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Extensions, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::callbacks::Platform;
use super::commands;
use super::errors::{code, ok_response, ImError};
use super::{Inner, LOCAL_CLIENT_IP};
use crate::usersig::UserSigError;

/// `POST /v4/{service}/{command}`.
pub(super) async fn handle(
    State(inner): State<Arc<Inner>>,
    Path((service, command)): Path<(String, String)>,
    extensions: Extensions,
    uri: Uri,
    body: Bytes,
) -> Response {
    let key = format!("{service}/{command}");
    let client_ip = client_ip(&extensions);
    let result = call(&inner, &key, &service, &command, &uri, &body, &client_ip);
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

/// The caller's IP when the server was started with connect info
/// ([`crate::sandbox::serve`] is), else [`LOCAL_CLIENT_IP`].
pub(super) fn client_ip(extensions: &Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| LOCAL_CLIENT_IP.to_string(), |c| c.0.ip().to_string())
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
    client_ip: &str,
) -> Result<Map<String, Value>, ImError> {
    let mut state = inner.lock();
    *state.calls.entry(key.to_string()).or_default() += 1;
    let now_ms = Inner::now_ms(&state);
    let query = QueryParams::parse(uri)?;
    let identifier = check_query(inner, &query, now_ms / 1000)?;
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
    let ctx = inner.ctx(identifier, now_ms, Platform::RestApi, client_ip);
    let out = run(&mut state, &ctx, &obj);
    inner.fire_callbacks(&mut state, &ctx);
    out
}

/// The query parameters of a request. Names and values are case-sensitive, and each
/// parameter may appear once.
pub(super) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(uri: &Uri) -> Result<Self, ImError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| ImError::new(code::HTTP_PARSE, "the query string cannot be parsed"))?;
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Result<Option<&str>, ImError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ImError::new(
                code::HTTP_PARSE,
                format!("query parameter {name} is given more than once"),
            ));
        }
        Ok(first.map(String::as_str))
    }
}

/// Checks `sdkappid`, `identifier`, `usersig`, `random` and `contenttype`; returns the caller.
fn check_query<'q>(inner: &Inner, query: &'q QueryParams, now: u64) -> Result<&'q str, ImError> {
    let identifier = check_user(inner, query, now)?;
    if !inner.config.admins.iter().any(|a| a == identifier) {
        return Err(ImError::new(
            code::ADMIN_REQUIRED,
            format!("{identifier} is not an App admin"),
        ));
    }

    // UNCONFIRMED: the codes for a missing/invalid random or contenttype are not documented;
    // 60002 ("HTTP parse error, check the URL") is used for both.
    let random = query
        .get("random")?
        .ok_or_else(|| ImError::new(code::HTTP_PARSE, "the URL must carry random"))?;
    if digits(random).and_then(|n| u32::try_from(n).ok()).is_none() {
        return Err(ImError::new(
            code::HTTP_PARSE,
            "random must be an integer in 0..=4294967295",
        ));
    }
    check_contenttype(query)?;
    Ok(identifier)
}

/// Checks `sdkappid`, then `identifier` and its `usersig` (any user's, fully verified at
/// emulator time `now`); returns the identifier.
pub(super) fn check_user<'q>(
    inner: &Inner,
    query: &'q QueryParams,
    now: u64,
) -> Result<&'q str, ImError> {
    let sdkappid = query
        .get("sdkappid")?
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
    let identifier = query
        .get("identifier")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ImError::new(code::IDENTIFIER_OR_SIG, "the URL must carry identifier"))?;
    // UNCONFIRMED: a missing usersig is taken as a UserSig of length 0 (70002).
    let usersig = query.get("usersig")?.unwrap_or("");
    inner
        .signer
        .verify_at(identifier, usersig, now)
        .map_err(sig_error)?;
    Ok(identifier)
}

/// `contenttype` must be `json`.
pub(super) fn check_contenttype(query: &QueryParams) -> Result<(), ImError> {
    if query.get("contenttype")? != Some("json") {
        return Err(ImError::new(code::HTTP_PARSE, "contenttype must be json"));
    }
    Ok(())
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
pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ImError> {
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
