//! UserSig verification (`usersig::UserSigner::verify_at`) on any string, and on any bytes put
//! in a UserSig's encoding (base64 with `*-_`), which reaches the zlib and JSON layers.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

fuzz_target!(|data: &[u8]| {
    let signer = UserSigner::new(1_400_000_000, Secret::new("fuzz-im-key"));
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let sig = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        base64::engine::general_purpose::STANDARD
            .encode(rest)
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_")
    };
    let _ = signer.verify_at("alice", &sig, 1_700_000_000);
});
