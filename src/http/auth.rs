//! Who may open a case: the caller proves it is the IM user it names with its own UserSig.

use axum::http::{header, HeaderMap};

use super::error::ApiError;
use crate::ids::ImUserId;
use crate::usersig::UserSigner;

/// The check `CLIENT_AUTH` selects.
#[derive(Debug, Clone)]
pub enum ClientAuthCheck {
    /// `Authorization: UserSig <sig>`, verified locally with the app's secret key.
    UserSig(UserSigner),
    /// Anyone may call (development only).
    Open,
}

/// The UserSig presented by the caller; checked against the body's `userId` once it is parsed.
pub struct Presented(Option<String>);

impl ClientAuthCheck {
    /// Reads the credentials before the body is looked at: a caller without any is turned
    /// away without parsing.
    pub fn presented(&self, headers: &HeaderMap) -> Result<Presented, ApiError> {
        if matches!(self, ClientAuthCheck::Open) {
            return Ok(Presented(None));
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing Authorization header: send `Authorization: UserSig <the user's IM UserSig>`".into(),
                )
            })?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("the Authorization header is not ASCII".into()))?;
        let (scheme, sig) = value.trim().split_once(' ').ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `UserSig <sig>`".into())
        })?;
        if !scheme.eq_ignore_ascii_case("usersig") {
            return Err(ApiError::Unauthorized(format!(
                "unsupported Authorization scheme `{scheme}`: use `UserSig <sig>`"
            )));
        }
        Ok(Presented(Some(sig.trim().to_owned())))
    }

    /// Checks that the presented UserSig belongs to `user`.
    pub fn verify(&self, presented: Presented, user: &ImUserId) -> Result<(), ApiError> {
        match (self, presented.0) {
            (ClientAuthCheck::Open, _) => Ok(()),
            (ClientAuthCheck::UserSig(signer), Some(sig)) => signer
                .verify(user.as_str(), &sig)
                .map(drop)
                .map_err(|e| ApiError::Unauthorized(format!("invalid UserSig: {e}"))),
            (ClientAuthCheck::UserSig(_), None) => {
                Err(ApiError::Unauthorized("missing UserSig".into()))
            }
        }
    }
}
