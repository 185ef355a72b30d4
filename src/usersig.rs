//! Tencent Cloud IM UserSig v2 (TLS sig): generate, verify, and a cached admin sig.
//!
//! The algorithm is the one every official `tls-sig-api-v2` library implements
//! (specs/tencent-im.md §1.2): HMAC-SHA256 over four `key:value\n` lines, the result put into a
//! small JSON document, zlib-compressed, base64-encoded with `+/=` replaced by `*-_`.
//!
//! Verification follows the steps of the official Go verifier, but every failure has its own
//! error and the HMAC comparison is constant-time.

use std::io::Read;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Standard alphabet, padding optional: Node's decoder re-pads, so unpadded sigs exist.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A real UserSig is about 200 characters; anything far longer is not one.
const MAX_SIG_LEN: usize = 4096;
/// Upper bound on the inflated JSON document, so a crafted sig cannot inflate to megabytes.
const MAX_DOC_LEN: u64 = 4096;

/// Why a UserSig was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    #[error("the UserSig is empty")]
    Empty,
    #[error("the UserSig is too long to be one")]
    TooLong,
    #[error("the UserSig is not valid base64")]
    NotBase64,
    #[error("the UserSig is not zlib-compressed data")]
    NotZlib,
    #[error("the UserSig does not hold a JSON document")]
    NotJson,
    #[error("the UserSig lacks the field {0}")]
    MissingField(&'static str),
    #[error("the UserSig was issued for another SDKAppID")]
    SdkAppIdMismatch,
    #[error("the UserSig was issued for another identifier")]
    IdentifierMismatch,
    #[error("the UserSig has expired")]
    Expired,
    #[error("the UserSig signature does not match (signed with another key?)")]
    SignatureMismatch,
    /// A TRTC-style sig carrying a `userbuf`: not a login sig (the official verifier rejects
    /// it as a type mismatch too).
    #[error("the UserSig carries a userbuf, which login sigs never do")]
    UnexpectedUserBuf,
}

/// What a verified UserSig says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub identifier: String,
    pub sdkappid: u64,
    /// Unix seconds when the sig was made.
    pub time: u64,
    /// Seconds of validity from `time`.
    pub expire: u64,
}

impl Claims {
    /// Unix second after which the sig is expired.
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

/// Makes and checks UserSigs for one IM application.
#[derive(Clone)]
pub struct UserSigner {
    sdkappid: u64,
    key: Secret,
}

impl std::fmt::Debug for UserSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSigner")
            .field("sdkappid", &self.sdkappid)
            .field("key", &self.key)
            .finish()
    }
}

impl UserSigner {
    pub fn new(sdkappid: u64, key: Secret) -> Self {
        Self { sdkappid, key }
    }

    pub fn sdkappid(&self) -> u64 {
        self.sdkappid
    }

    /// A UserSig for `identifier`, valid for `expire` seconds from now.
    pub fn generate(&self, identifier: &str, expire: u64) -> Secret {
        self.generate_at(identifier, expire, unix_now())
    }

    /// A UserSig as it would have been made at Unix second `now`.
    pub fn generate_at(&self, identifier: &str, expire: u64, now: u64) -> Secret {
        let sig = STANDARD.encode(
            self.mac(identifier, now, expire, None)
                .finalize()
                .into_bytes(),
        );
        let doc = serde_json::json!({
            "TLS.ver": "2.0",
            "TLS.identifier": identifier,
            "TLS.sdkappid": self.sdkappid,
            "TLS.time": now,
            "TLS.expire": expire,
            "TLS.sig": sig,
        });
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_all(&mut z, doc.to_string().as_bytes());
        let compressed = z.finish().unwrap_or_default();
        Secret::new(escape(&STANDARD.encode(compressed)))
    }

    /// Checks that `sig` is a valid, unexpired UserSig of this app for `identifier`.
    pub fn verify(&self, identifier: &str, sig: &str) -> Result<Claims, UserSigError> {
        self.verify_at(identifier, sig, unix_now())
    }

    /// [`Self::verify`] with the clock fixed at Unix second `now`.
    pub fn verify_at(&self, identifier: &str, sig: &str, now: u64) -> Result<Claims, UserSigError> {
        let doc = decode(sig)?;
        let field = |v: Option<u64>, name| v.ok_or(UserSigError::MissingField(name));
        let claims = Claims {
            identifier: doc
                .identifier
                .ok_or(UserSigError::MissingField("TLS.identifier"))?,
            sdkappid: field(doc.sdkappid, "TLS.sdkappid")?,
            time: field(doc.time, "TLS.time")?,
            expire: field(doc.expire, "TLS.expire")?,
        };
        let signature = doc.sig.ok_or(UserSigError::MissingField("TLS.sig"))?;
        if claims.sdkappid != self.sdkappid {
            return Err(UserSigError::SdkAppIdMismatch);
        }
        if claims.identifier != identifier {
            return Err(UserSigError::IdentifierMismatch);
        }
        if now > claims.expires_at() {
            return Err(UserSigError::Expired);
        }
        if doc.userbuf.is_some() {
            return Err(UserSigError::UnexpectedUserBuf);
        }
        let signature = STANDARD
            .decode(signature.as_bytes())
            .map_err(|_| UserSigError::SignatureMismatch)?;
        self.mac(&claims.identifier, claims.time, claims.expire, None)
            .verify_slice(&signature) // constant-time
            .map_err(|_| UserSigError::SignatureMismatch)?;
        Ok(claims)
    }

    fn mac(&self, identifier: &str, time: u64, expire: u64, userbuf: Option<&str>) -> HmacSha256 {
        let mut content = format!(
            "TLS.identifier:{identifier}\nTLS.sdkappid:{}\nTLS.time:{time}\nTLS.expire:{expire}\n",
            self.sdkappid
        );
        if let Some(buf) = userbuf {
            content.push_str(&format!("TLS.userbuf:{buf}\n"));
        }
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(self.key.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(content.as_bytes());
        mac
    }
}

/// The fields of the decoded document; each optional so that a missing one gets its own error.
#[derive(Deserialize)]
struct SigDoc {
    #[serde(rename = "TLS.identifier")]
    identifier: Option<String>,
    #[serde(rename = "TLS.sdkappid")]
    sdkappid: Option<u64>,
    #[serde(rename = "TLS.time")]
    time: Option<u64>,
    #[serde(rename = "TLS.expire")]
    expire: Option<u64>,
    #[serde(rename = "TLS.sig")]
    sig: Option<String>,
    #[serde(rename = "TLS.userbuf")]
    userbuf: Option<String>,
}

fn decode(sig: &str) -> Result<SigDoc, UserSigError> {
    if sig.is_empty() {
        return Err(UserSigError::Empty);
    }
    if sig.len() > MAX_SIG_LEN {
        return Err(UserSigError::TooLong);
    }
    let compressed = LENIENT_STANDARD
        .decode(unescape(sig))
        .map_err(|_| UserSigError::NotBase64)?;
    let mut json = Vec::new();
    ZlibDecoder::new(compressed.as_slice())
        .take(MAX_DOC_LEN)
        .read_to_end(&mut json)
        .map_err(|_| UserSigError::NotZlib)?;
    serde_json::from_slice(&json).map_err(|_| UserSigError::NotJson)
}

fn escape(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn unescape(sig: &str) -> String {
    sig.chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The admin UserSig for IM REST calls, made once and renewed before it expires rather than
/// signed anew for every request.
pub struct AdminSig {
    signer: UserSigner,
    admin: String,
    validity: Duration,
    current: RwLock<(Secret, u64)>,
}

impl std::fmt::Debug for AdminSig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSig")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl AdminSig {
    /// Sigs are made valid for `validity` and renewed once less than a quarter of it is left.
    pub fn new(signer: UserSigner, admin: impl Into<String>, validity: Duration) -> Self {
        let admin = admin.into();
        let now = unix_now();
        let sig = signer.generate_at(&admin, validity.as_secs(), now);
        Self {
            current: RwLock::new((sig, now + validity.as_secs())),
            signer,
            admin,
            validity,
        }
    }

    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// The current admin sig, renewed first if it is close to expiry.
    pub fn get(&self) -> Secret {
        self.get_at(unix_now())
    }

    /// Replaces the cached sig now (IM said it expired or was invalidated: 70001/70052).
    pub fn renew(&self) {
        self.renew_at(unix_now());
    }

    fn get_at(&self, now: u64) -> Secret {
        let margin = self.validity.as_secs() / 4;
        if let Ok(cur) = self.current.read() {
            if now + margin < cur.1 {
                return cur.0.clone();
            }
        }
        self.renew_at(now)
    }

    fn renew_at(&self, now: u64) -> Secret {
        let fresh = self
            .signer
            .generate_at(&self.admin, self.validity.as_secs(), now);
        if let Ok(mut cur) = self.current.write() {
            *cur = (fresh.clone(), now + self.validity.as_secs());
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // specs/tencent-im.md §1.6
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const APP: u64 = 1_400_000_000;
    const T: u64 = 1_700_000_000;
    const PY_SIG: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoBHdYzUg__";
    const NODE_SIG: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamKlkZmqOKplYUZBaBxE1NTY3gosWZ6UpWSj5ljuYp*p7l5unBxXnF2WVhVU4uAf7Ozi5JpX7O5SbuHuUhzgZJmQXaTia2SrUAohcx8g__";

    fn signer() -> UserSigner {
        UserSigner::new(APP, Secret::new(KEY))
    }

    #[test]
    fn hmac_matches_the_spec_vector() {
        let mac = signer().mac("xiaojun", T, 15_552_000, None).finalize();
        assert_eq!(
            STANDARD.encode(mac.into_bytes()),
            "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
        );
        let mac = signer()
            .mac("xiaojun", T, 15_552_000, Some("YWJj"))
            .finalize();
        assert_eq!(
            STANDARD.encode(mac.into_bytes()),
            "QjT201xPkXk/aM1e+y0vakZb0K2iPrFue++0s5y6bFM="
        );
    }

    #[test]
    fn official_vectors_verify() {
        for sig in [PY_SIG, NODE_SIG] {
            let claims = signer().verify_at("xiaojun", sig, T + 10).unwrap();
            assert_eq!(claims.expires_at(), T + 15_552_000);
        }
    }

    #[test]
    fn generated_sig_round_trips_and_embeds_the_spec_hmac() {
        let sig = signer().generate_at("xiaojun", 15_552_000, T);
        let doc = decode(sig.expose()).unwrap();
        assert_eq!(
            doc.sig.as_deref(),
            Some("LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=")
        );
        assert!(signer().verify_at("xiaojun", sig.expose(), T).is_ok());
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let s = signer();
        let sig = s.generate_at("alice", 100, T);
        let sig = sig.expose();
        let wrong_key = UserSigner::new(APP, Secret::new("other-key"));
        let other_app = UserSigner::new(APP + 1, Secret::new(KEY));
        let cases: Vec<(Result<Claims, UserSigError>, UserSigError)> = vec![
            (wrong_key.verify_at("alice", sig, T), UserSigError::SignatureMismatch),
            (s.verify_at("bob", sig, T), UserSigError::IdentifierMismatch),
            (other_app.verify_at("alice", sig, T), UserSigError::SdkAppIdMismatch),
            (s.verify_at("alice", sig, T + 101), UserSigError::Expired),
            (s.verify_at("alice", "", T), UserSigError::Empty),
            (s.verify_at("alice", "!!not base64!!", T), UserSigError::NotBase64),
            (s.verify_at("alice", &escape(&STANDARD.encode(b"plain")), T), UserSigError::NotZlib),
            (s.verify_at("alice", &zlib_sig(b"not json"), T), UserSigError::NotJson),
            (
                s.verify_at("alice", &zlib_sig(br#"{"TLS.identifier":"alice","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":100}"#), T),
                UserSigError::MissingField("TLS.sig"),
            ),
            (
                s.verify_at("alice", &zlib_sig(br#"{"TLS.identifier":"alice","TLS.time":1,"TLS.expire":1,"TLS.sig":"x"}"#), T),
                UserSigError::MissingField("TLS.sdkappid"),
            ),
            (s.verify_at("alice", &"A".repeat(MAX_SIG_LEN + 1), T), UserSigError::TooLong),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want));
        }
        assert!(
            s.verify_at("alice", sig, T + 100).is_ok(),
            "valid up to and including the expiry second"
        );
    }

    #[test]
    fn a_sig_with_a_userbuf_is_not_a_login_sig() {
        // Correctly signed over the userbuf line (spec §1.6), yet refused for login.
        let doc = r#"{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":15552000,"TLS.userbuf":"YWJj","TLS.sig":"QjT201xPkXk/aM1e+y0vakZb0K2iPrFue++0s5y6bFM="}"#;
        assert_eq!(
            signer().verify_at("xiaojun", &zlib_sig(doc.as_bytes()), T),
            Err(UserSigError::UnexpectedUserBuf)
        );
    }

    #[test]
    fn a_tampered_signature_is_rejected() {
        let doc = r#"{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":99999999,"TLS.sig":"LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="}"#;
        assert_eq!(
            signer().verify_at("xiaojun", &zlib_sig(doc.as_bytes()), T),
            Err(UserSigError::SignatureMismatch)
        );
    }

    #[test]
    fn admin_sig_is_cached_and_renewed_near_expiry() {
        let admin = AdminSig::new(signer(), "administrator", Duration::from_secs(400));
        let now = unix_now();
        let first = admin.get_at(now);
        assert_eq!(admin.get_at(now + 10), first, "reused while fresh");
        let renewed = admin.get_at(now + 350);
        assert_ne!(renewed, first, "renewed in the last quarter");
        let claims = signer()
            .verify_at("administrator", renewed.expose(), now + 350)
            .unwrap();
        assert_eq!(claims.time, now + 350);
        assert!(!format!("{admin:?}").contains(first.expose()));
    }

    fn zlib_sig(bytes: &[u8]) -> String {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        std::io::Write::write_all(&mut z, bytes).unwrap();
        escape(&STANDARD.encode(z.finish().unwrap()))
    }
}
