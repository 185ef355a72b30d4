//! Tencent Cloud IM UserSig v2 (TLS sig): generate, verify, and a cached admin sig.
//!
//! The algorithm is the one every official `tls-sig-api-v2` library implements
//! (specs/tencent-im.md §1.2): HMAC-SHA256 over four `key:value\n` lines, the result put into a
//! small JSON document, zlib-compressed, base64-encoded with `+/=` replaced by `*-_`.
//!
//! Verification follows the steps of the official Go verifier, but every failure has its own
//! error and the HMAC comparison is constant-time.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
#[cfg(test)]
use flate2::{write::ZlibEncoder, Compression};
use flate2::{Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
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
const MAX_DOC_LEN: usize = 4096;

thread_local! {
    // Setting up an inflate stream costs more than inflating a 200-byte document, so each
    // thread keeps one and resets it per use.
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(true));
}

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
    /// HMAC keyed once with the app's secret key; cloned per sig so the key schedule is not
    /// redone every time.
    keyed: HmacSha256,
}

impl std::fmt::Debug for UserSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSigner")
            .field("sdkappid", &self.sdkappid)
            .finish_non_exhaustive()
    }
}

impl UserSigner {
    pub fn new(sdkappid: u64, key: Secret) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = HmacSha256::new_from_slice(key.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { sdkappid, keyed }
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
        let mac = self.mac(identifier, now, expire, None).finalize();
        let doc = NewDoc {
            ver: "2.0",
            identifier,
            sdkappid: self.sdkappid,
            time: now,
            expire,
            sig: &STANDARD.encode(mac.into_bytes()),
        };
        let mut json = Vec::with_capacity(160 + identifier.len());
        // Serialising plain strings and integers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut json, &doc);
        Secret::new(escape(&STANDARD.encode(zlib_stored(&json))))
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
        let mut raw = [0; 32];
        match STANDARD.decode_slice(signature.as_bytes(), &mut raw) {
            Ok(32) => {}
            _ => return Err(UserSigError::SignatureMismatch),
        }
        self.mac(&claims.identifier, claims.time, claims.expire, None)
            .verify_slice(&raw) // constant-time
            .map_err(|_| UserSigError::SignatureMismatch)?;
        Ok(claims)
    }

    fn mac(&self, identifier: &str, time: u64, expire: u64, userbuf: Option<&str>) -> HmacSha256 {
        let mut mac = MacWriter(self.keyed.clone());
        // Writing into a MAC cannot fail.
        let _ = writeln!(
            mac,
            "TLS.identifier:{identifier}\nTLS.sdkappid:{}\nTLS.time:{time}\nTLS.expire:{expire}",
            self.sdkappid
        );
        if let Some(buf) = userbuf {
            let _ = writeln!(mac, "TLS.userbuf:{buf}");
        }
        mac.0
    }
}

/// Formats the signed content straight into the MAC, without building the string first.
struct MacWriter(HmacSha256);

impl std::fmt::Write for MacWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// The document of a new sig, in the field order and compact layout of the official Node
/// library (specs/tencent-im.md §1.6).
#[derive(Serialize)]
struct NewDoc<'a> {
    #[serde(rename = "TLS.ver")]
    ver: &'a str,
    #[serde(rename = "TLS.identifier")]
    identifier: &'a str,
    #[serde(rename = "TLS.sdkappid")]
    sdkappid: u64,
    #[serde(rename = "TLS.time")]
    time: u64,
    #[serde(rename = "TLS.expire")]
    expire: u64,
    #[serde(rename = "TLS.sig")]
    sig: &'a str,
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
    // Inflate into at most MAX_DOC_LEN bytes: decompress_vec never grows the Vec.
    let mut json = Vec::with_capacity(MAX_DOC_LEN);
    let status = INFLATE.with_borrow_mut(|z| {
        z.reset(true);
        z.decompress_vec(&compressed, &mut json, FlushDecompress::Finish)
    });
    match status {
        Ok(Status::StreamEnd) => {}
        // Still inflating with the buffer full: no sig's document is this large.
        Ok(_) if json.len() == MAX_DOC_LEN => return Err(UserSigError::NotJson),
        _ => return Err(UserSigError::NotZlib),
    }
    serde_json::from_slice(&json).map_err(|_| UserSigError::NotJson)
}

/// `data` as a zlib stream of stored (uncompressed) deflate blocks: what the official Go library
/// emits at its default level, NoCompression (specs/tencent-im.md §1.2 step 5), and valid input
/// to every zlib decoder. A deflating compressor spends microseconds just resetting its hash
/// tables, many times the cost of the HMAC; on a 200-byte document it saves a quarter of the
/// sig's length, which nothing here needs.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 0xffff; // a stored block's length is a u16
    let blocks = data.len().div_ceil(BLOCK); // `data`, a JSON document, is never empty
    let mut out = Vec::with_capacity(data.len() + 5 * blocks + 6);
    out.extend_from_slice(&[0x78, 0x01]); // deflate, 32 KiB window, fastest level
    for (i, block) in data.chunks(BLOCK).enumerate() {
        out.push(u8::from(i + 1 == blocks)); // BFINAL on the last, BTYPE 00 (stored)
        let len = block.len() as u16; // at most BLOCK
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// The Adler-32 checksum that ends a zlib stream (RFC 1950).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before `b` could overflow (zlib's NMAX).
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
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

fn unescape(sig: &str) -> Vec<u8> {
    sig.bytes()
        .map(|c| match c {
            b'*' => b'+',
            b'-' => b'/',
            b'_' => b'=',
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
