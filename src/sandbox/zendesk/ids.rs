//! Random identifiers in the forms Zendesk's newer services use: ULID-like webhook and
//! invocation ids, UUIDs for event ids, hex sequence ids, and webhook signing secrets.

use base64::Engine;

/// Crockford's base32, as ULIDs use.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_CHARS: u32 = 26;

/// A ULID: 48 bits of `now_ms` then 80 random bits, 26 Crockford base32 characters
/// (`01GFJ...` for today's dates).
pub(super) fn ulid(now_ms: u64) -> String {
    let time = u128::from(now_ms) & ((1 << 48) - 1);
    let random = rand::random::<u128>() & ((1 << 80) - 1);
    let value = (time << 80) | random;
    (0..ULID_CHARS)
        .rev()
        .map(|i| {
            let index = usize::try_from((value >> (i * 5)) & 31).unwrap_or(0);
            char::from(CROCKFORD[index])
        })
        .collect()
}

/// A random (version 4) UUID, lower-case hex, as real event ids look.
pub(super) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::hex::lower(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 32 upper-case hex digits (the form of an event sequence id in Zendesk's event samples).
pub(super) fn hex_id() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect()
}

/// A webhook signing secret: 32 random bytes, URL-safe base64 with padding (44 characters, the
/// form of the secret in Zendesk's verification example).
pub(super) fn signing_secret() -> String {
    base64::engine::general_purpose::URL_SAFE.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_encode_the_time_first() {
        let id = ulid(1_700_000_000_000);
        assert_eq!(id.len(), 26);
        assert!(id.starts_with("01"), "{id}");
        assert!(id.bytes().all(|b| CROCKFORD.contains(&b)));
        assert!(ulid(1_700_000_000_000) < ulid(1_800_000_000_000));
        assert_ne!(ulid(5), ulid(5));
    }

    #[test]
    fn uuids_secrets_and_hex_ids_have_their_forms() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_eq!(hex_id().len(), 32);
        let s = signing_secret();
        assert_eq!(s.len(), 44);
        assert!(s.ends_with('='));
        assert_ne!(s, signing_secret());
    }
}
