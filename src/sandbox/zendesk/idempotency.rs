//! `Idempotency-Key` on ticket creation (spec §2.4): the first response is kept for two hours and
//! replayed for the same key and body; the same key with another body is an error.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::errors::ApiError;

/// Keys expire two hours after first use [TINTRO].
const KEY_TTL_MS: u64 = 2 * 60 * 60 * 1000;
/// UNCONFIRMED (secondary source only): keys longer than 255 characters are refused.
const MAX_KEY_LEN: usize = 255;

pub(super) const LOOKUP_HEADER: &str = "x-idempotency-lookup";

/// A response as first sent, to be replayed byte for byte.
#[derive(Debug, Clone)]
pub(super) struct StoredResponse {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Entry {
    request: Value,
    response: StoredResponse,
    stored_ms: u64,
}

/// What a key says about a request.
#[derive(Debug)]
pub(super) enum Lookup {
    /// Unknown or expired key: do the work (and store the result).
    Miss,
    /// Same key and body: replay this.
    Hit(StoredResponse),
}

/// The account's keys (one account per emulator, so the account scope is this whole map).
#[derive(Debug, Default)]
pub(super) struct IdempotencyKeys {
    entries: HashMap<String, Entry>,
}

impl IdempotencyKeys {
    pub(super) fn lookup(
        &mut self,
        key: &str,
        request: &Value,
        now_ms: u64,
    ) -> Result<Lookup, ApiError> {
        self.entries
            .retain(|_, e| e.stored_ms + KEY_TTL_MS > now_ms);
        match self.entries.get(key) {
            None => Ok(Lookup::Miss),
            // Compared as parsed JSON: key order and whitespace don't make a different request.
            Some(e) if &e.request == request => Ok(Lookup::Hit(e.response.clone())),
            Some(_) => Err(ApiError::IdempotencyConflict),
        }
    }

    pub(super) fn store(
        &mut self,
        key: String,
        request: Value,
        response: StoredResponse,
        now_ms: u64,
    ) {
        self.entries.insert(
            key,
            Entry {
                request,
                response,
                stored_ms: now_ms,
            },
        );
    }
}

/// The `Idempotency-Key` header, if any, checked for shape.
pub(super) fn key_from(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .map_err(|_| bad_key("Idempotency-Key must be visible ASCII"))?
        .trim();
    // UNCONFIRMED: an empty key is refused rather than ignored (the stricter reading).
    if key.is_empty() {
        return Err(bad_key("Idempotency-Key must not be blank"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(bad_key("Idempotency-Key must be at most 255 characters"));
    }
    Ok(Some(key.to_owned()))
}

fn bad_key(description: &str) -> ApiError {
    // UNCONFIRMED: Zendesk's error for a malformed key.
    ApiError::bad_request("IdempotentRequestError", description)
}

impl StoredResponse {
    /// The response as sent, with `x-idempotency-lookup` set to `lookup` (`hit` / `miss`) when a
    /// key was given.
    pub(super) fn to_response(&self, lookup: Option<&'static str>) -> Response {
        let mut builder = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        if let Some(lookup) = lookup {
            builder = builder.header(LOOKUP_HEADER, HeaderValue::from_static(lookup));
        }
        if let Some(loc) = &self.location {
            builder = builder.header(header::LOCATION, loc);
        }
        builder
            .body(Body::from(self.body.clone()))
            .unwrap_or_default()
    }
}
