//! The HS256 JWT Zendesk's proxy signs for the sidebar app (`client.request` with
//! `jwt: {algorithm: 'HS256', secret_key: '{{setting.shared_secret}}', claims: {...}}`),
//! verified with the same shared secret (`ZAF_SHARED_SECRET`).
//!
//! Only HS256 is accepted (`none` and every other algorithm are refused before anything else is
//! looked at); `exp` is required and at most an hour ahead; `iat`, when present, is not in the
//! future. A minute of clock skew is allowed either way.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::AgentAuthError;
use crate::ids::TicketId;
use crate::secret::Secret;

/// The longest a JWT may still be valid for.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew tolerated between Zendesk and the bridge.
pub const SKEW_SECS: i64 = 60;
const MAX_NAME_CHARS: usize = 255;

/// What a verified JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentClaims {
    pub ticket: TicketId,
    pub agent_id: u64,
    pub agent_name: String,
    pub agent_email: Option<String>,
}

/// Verifies `token` with `secret` at Unix second `now` and reads its claims.
pub fn verify(token: &str, secret: &Secret, now: i64) -> Result<AgentClaims, AgentAuthError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AgentAuthError::Malformed(
            "expected three dot-separated parts",
        ));
    };
    let header = decode_json(header, "header")?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some(other) => return Err(AgentAuthError::Algorithm(other.chars().take(16).collect())),
        None => return Err(AgentAuthError::Malformed("the header has no alg")),
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AgentAuthError::Malformed("the signature is not base64url"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    // The signing input is `header.payload`: everything before the last dot.
    let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature) // constant-time
        .map_err(|_| AgentAuthError::BadSignature)?;
    let claims = decode_json(payload, "payload")?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(AgentAuthError::NoExpiry)?;
    if exp + SKEW_SECS <= now {
        return Err(AgentAuthError::Expired);
    }
    if exp > now + MAX_LIFETIME_SECS + SKEW_SECS {
        return Err(AgentAuthError::TooLong);
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > now + SKEW_SECS)
    {
        return Err(AgentAuthError::IssuedInFuture);
    }
    let id = |name: &'static str| {
        claims
            .get(name)
            .and_then(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .filter(|id| *id > 0)
            .ok_or(AgentAuthError::Claim(name))
    };
    let agent_name = claims
        .get("agent_name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS)
        .ok_or(AgentAuthError::Claim("agent_name"))?
        .to_owned();
    Ok(AgentClaims {
        ticket: TicketId(id("ticket_id")?),
        agent_id: id("agent_id")?,
        agent_name,
        agent_email: claims
            .get("agent_email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty() && e.len() <= 254)
            .map(str::to_owned),
    })
}

fn decode_json(part: &str, what: &'static str) -> Result<Value, AgentAuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        AgentAuthError::Malformed(if what == "header" {
            "the header is not base64url"
        } else {
            "the payload is not base64url"
        })
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(AgentAuthError::Malformed(if what == "header" {
            "the header is not a JSON object"
        } else {
            "the payload is not a JSON object"
        })),
    }
}

/// Signs `claims` as Zendesk's proxy would (for the sandbox's emulated workspace and tests).
pub fn sign(claims: &Value, secret: &Secret) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn secret() -> Secret {
        Secret::new("zaf-shared-secret")
    }

    fn claims() -> Value {
        json!({"ticket_id": 42, "agent_id": "7", "agent_name": "Sam Agent",
               "agent_email": "sam@acme.test", "iat": NOW, "exp": NOW + 600})
    }

    #[test]
    fn a_token_signed_with_the_secret_is_read() {
        let token = sign(&claims(), &secret());
        assert_eq!(
            verify(&token, &secret(), NOW),
            Ok(AgentClaims {
                ticket: TicketId(42),
                agent_id: 7,
                agent_name: "Sam Agent".into(),
                agent_email: Some("sam@acme.test".into()),
            })
        );
    }

    #[test]
    fn bad_tokens_are_refused_for_the_right_reason() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            sign(&c, &secret())
        };
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        let token = sign(&claims(), &secret());
        let (head, rest) = token.split_once('.').unwrap();
        let rs256 = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#));
        // Another agent's claims under this token's signature.
        let other = with(&|c| c["agent_id"] = json!(8));
        let tampered = format!(
            "{head}.{}.{}",
            other.split('.').nth(1).unwrap(),
            token.rsplit('.').next().unwrap()
        );
        let cases: Vec<(String, AgentAuthError)> = vec![
            (unsigned, AgentAuthError::Algorithm("none".into())),
            (rs256, AgentAuthError::Algorithm("RS256".into())),
            (
                "abc".into(),
                AgentAuthError::Malformed("expected three dot-separated parts"),
            ),
            (tampered, AgentAuthError::BadSignature),
            (
                sign(&claims(), &Secret::new("other")),
                AgentAuthError::BadSignature,
            ),
            (
                with(&|c| c["exp"] = json!(NOW - 61)),
                AgentAuthError::Expired,
            ),
            (
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                AgentAuthError::NoExpiry,
            ),
            (
                with(&|c| c["exp"] = json!(NOW + 3600 + 61)),
                AgentAuthError::TooLong,
            ),
            (
                with(&|c| c["iat"] = json!(NOW + 61)),
                AgentAuthError::IssuedInFuture,
            ),
            (
                with(&|c| c["ticket_id"] = json!("abc")),
                AgentAuthError::Claim("ticket_id"),
            ),
            (
                with(&|c| c["agent_id"] = json!(0)),
                AgentAuthError::Claim("agent_id"),
            ),
            (
                with(&|c| c["agent_name"] = json!(" ")),
                AgentAuthError::Claim("agent_name"),
            ),
        ];
        for (token, want) in cases {
            assert_eq!(verify(&token, &secret(), NOW), Err(want.clone()), "{want}");
        }
    }
}
