//! The bridge's own short-lived session token, bound to one ticket and one agent, that the
//! sidebar app sends as `Authorization: Bearer <token>` after `/agent/session`.
//!
//! Format: `base64url(JSON claims) . base64url(HMAC-SHA256(key, claims part))`, the key derived
//! from `ZAF_SHARED_SECRET`, so every replica sharing the secret accepts every replica's tokens
//! and nothing is stored. Checked in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::AgentAuthError;
use crate::ids::TicketId;
use crate::secret::Secret;

/// What a session is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "t")]
    pub ticket: u64,
    #[serde(rename = "a")]
    pub agent_id: u64,
    #[serde(rename = "n")]
    pub agent_name: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Issues and checks session tokens.
#[derive(Clone)]
pub struct SessionKeys {
    key: Secret,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([redacted])")
    }
}

impl SessionKeys {
    /// Keys derived from the shared secret (a separate key: a session token is never a JWT
    /// the proxy could have signed, nor the other way round).
    pub fn new(shared_secret: &Secret) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(shared_secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"ticket-bridge agent session v1");
        Self {
            key: Secret::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())),
        }
    }

    pub fn issue(&self, session: &Session) -> Secret {
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&claims).finalize().into_bytes());
        Secret::new(format!("{claims}.{signature}"))
    }

    /// The session of a token, if it is ours, unexpired at Unix second `now`, and for `ticket`.
    pub fn check(
        &self,
        token: &str,
        ticket: TicketId,
        now: i64,
    ) -> Result<Session, AgentAuthError> {
        let session = self.check_any(token, now)?;
        if session.ticket != ticket.0 {
            return Err(AgentAuthError::OtherTicket);
        }
        Ok(session)
    }

    /// The session of a token, if it is ours and unexpired, whatever its ticket (for what is
    /// the agent's own, not the ticket's).
    pub fn check_any(&self, token: &str, now: i64) -> Result<Session, AgentAuthError> {
        let (claims, signature) = token
            .trim()
            .split_once('.')
            .ok_or(AgentAuthError::BadSession)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AgentAuthError::BadSession)?;
        self.mac(claims)
            .verify_slice(&signature)
            .map_err(|_| AgentAuthError::BadSession)?;
        let session: Session = URL_SAFE_NO_PAD
            .decode(claims)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(AgentAuthError::BadSession)?;
        if session.expires_at <= now {
            return Err(AgentAuthError::Expired);
        }
        Ok(session)
    }

    fn mac(&self, claims: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(claims.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            ticket: 42,
            agent_id: 7,
            agent_name: "Sam".into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_token_is_bound_to_its_ticket_and_expiry() {
        let keys = SessionKeys::new(&Secret::new("s"));
        let token = keys.issue(&session());
        assert_eq!(keys.check(token.expose(), TicketId(42), 999), Ok(session()));
        assert_eq!(
            keys.check(token.expose(), TicketId(43), 999),
            Err(AgentAuthError::OtherTicket)
        );
        assert_eq!(
            keys.check(token.expose(), TicketId(42), 1_000),
            Err(AgentAuthError::Expired)
        );
        let other = SessionKeys::new(&Secret::new("t"));
        assert_eq!(
            other.check(token.expose(), TicketId(42), 999),
            Err(AgentAuthError::BadSession)
        );
        // The claims cannot be changed under the signature.
        let (_, sig) = token.expose().split_once('.').unwrap();
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(br#"{"t":42,"a":8,"n":"Eve","e":1000}"#)
        );
        assert_eq!(
            keys.check(&forged, TicketId(42), 999),
            Err(AgentAuthError::BadSession)
        );
        for junk in ["", ".", "abc", "a.b.c"] {
            assert_eq!(
                keys.check(junk, TicketId(42), 999),
                Err(AgentAuthError::BadSession)
            );
        }
        assert_eq!(format!("{keys:?}"), "SessionKeys([redacted])");
    }
}
