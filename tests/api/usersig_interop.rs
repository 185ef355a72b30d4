//! Interop with Tencent's official `tls-sig-api-v2` library (installed by `scripts/test`
//! into a virtualenv whose Python it passes as `TB_PYTHON`):
//! its sigs verify with ours, and ours carry the HMAC its algorithm computes.

use std::process::Command;

use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::{UserSigError, UserSigner};

const APP: u64 = 1_400_000_123;
const KEY: &str = "0d3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

fn official(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/usersig.py");
    // scripts/test installs the library in a virtualenv and says where its Python is.
    let python = std::env::var("TB_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "official library failed (run scripts/test, which installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_sig_from_the_official_library_verifies_with_ours() {
    let app = APP.to_string();
    let signer = UserSigner::new(APP, Secret::new(KEY));
    let sig = official(&["gen", &app, KEY, "user_42", "86400"]);
    let claims = signer.verify("user_42", &sig).unwrap();
    assert_eq!(claims.expire, 86400);
    assert_eq!(
        signer.verify("user_43", &sig),
        Err(UserSigError::IdentifierMismatch)
    );
    let other = UserSigner::new(APP, Secret::new("x"));
    assert_eq!(
        other.verify("user_42", &sig),
        Err(UserSigError::SignatureMismatch)
    );

    // TRTC's variant with a userbuf is not a login sig: refused like the official verifier does.
    let with_buf = official(&["gen", &app, KEY, "user_42", "86400", "room-7"]);
    assert_eq!(
        signer.verify("user_42", &with_buf),
        Err(UserSigError::UnexpectedUserBuf)
    );
}

#[test]
fn a_sig_from_ours_is_reproduced_by_the_official_algorithm() {
    let signer = UserSigner::new(APP, Secret::new(KEY));
    for user in ["alice", "zd_10001", "user@example.com"] {
        let sig = signer.generate(user, 3600);
        assert_eq!(
            official(&["check", &APP.to_string(), KEY, sig.expose()]),
            "ok"
        );
    }
}
