//! Who is calling (spec §1): `Basic base64("{email}/token:{api_token}")` for an agent or admin,
//! or `Bearer <oauth token>` (acting as the admin). Nothing here logs a credential.

use axum::http::{header, HeaderMap};
use base64::Engine;

use super::errors::ApiError;
use super::state::Store;
use crate::secret::Secret;

/// The account's credentials.
#[derive(Debug, Clone)]
pub(super) struct Credentials {
    pub api_token: Secret,
    pub oauth_token: Option<Secret>,
    /// The user an OAuth token acts as.
    pub oauth_user_id: u64,
}

/// The caller of a request, put in the request's extensions by the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    User(u64),
    /// No `Authorization` header, on the one endpoint that allows it (`GET /users/me`).
    Anonymous,
}

impl Caller {
    /// The authenticated user; `Unauthenticated` for an anonymous caller.
    pub(super) fn user_id(self) -> Result<u64, ApiError> {
        match self {
            Self::User(id) => Ok(id),
            Self::Anonymous => Err(ApiError::Unauthenticated),
        }
    }
}

/// Authenticates the request. `Ok(None)` means no `Authorization` header at all.
pub(super) fn authenticate(
    headers: &HeaderMap,
    creds: &Credentials,
    store: &Store,
) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = raw.to_str().map_err(|_| ApiError::Unauthenticated)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        basic(rest, creds, store).map(Some)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        match &creds.oauth_token {
            Some(token) if !rest.is_empty() && constant_time_eq(rest, token.expose()) => {
                Ok(Some(creds.oauth_user_id))
            }
            _ => Err(ApiError::InvalidToken),
        }
    } else {
        Err(ApiError::Unauthenticated)
    }
}

fn basic(encoded: &str, creds: &Credentials, store: &Store) -> Result<u64, ApiError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| ApiError::Unauthenticated)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated)?;
    let (username, password) = decoded.split_once(':').ok_or(ApiError::Unauthenticated)?;
    // `email/token:TOKEN` only: password authentication is not emulated (and is being retired
    // by Zendesk), so `email:password` never authenticates.
    let email = username
        .strip_suffix("/token")
        .ok_or(ApiError::Unauthenticated)?;
    let token_ok = constant_time_eq(password, creds.api_token.expose());
    let user = store
        .user_by_email(email)
        .filter(|u| u.role.is_staff())
        .ok_or(ApiError::Unauthenticated)?;
    if !token_ok || !user.verified {
        return Err(ApiError::Unauthenticated);
    }
    Ok(user.id)
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(constant_time_eq("", ""));
    }
}
