//! `CLIENT_AUTH=usersig`: a caller must present its own valid IM UserSig.

use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

use crate::helpers::{assert_error, case, spawn_app, IM_KEY, SDKAPPID};

#[tokio::test]
async fn every_auth_failure_is_a_401_and_creates_nothing() {
    let app = spawn_app().await;
    let body = case("alice").to_string();
    let ct = ("Content-Type", "application/json".to_owned());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let other_key = UserSigner::new(SDKAPPID, Secret::new("another-apps-key"));
    let other_app = UserSigner::new(SDKAPPID + 1, Secret::new(IM_KEY));
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, "missing Authorization"),
        (
            "other scheme",
            Some(format!("Bearer {}", app.usersig("alice"))),
            "scheme",
        ),
        ("no scheme", Some(app.usersig("alice")), "UserSig <sig>"),
        ("garbage", Some("UserSig not-a-sig!".into()), "base64"),
        (
            "empty sig",
            Some("UserSig  ".into()),
            "must be `UserSig <sig>`",
        ),
        (
            "another user's sig",
            Some(format!("UserSig {}", app.usersig("mallory"))),
            "another identifier",
        ),
        (
            "expired",
            Some(format!(
                "UserSig {}",
                app.signer.generate_at("alice", 60, now - 3600).expose()
            )),
            "expired",
        ),
        (
            "another key",
            Some(format!(
                "UserSig {}",
                other_key.generate("alice", 3600).expose()
            )),
            "signature",
        ),
        (
            "another app",
            Some(format!(
                "UserSig {}",
                other_app.generate("alice", 3600).expose()
            )),
            "SDKAppID",
        ),
    ];
    for (what, auth, needle) in cases {
        let mut headers = vec![ct.clone()];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let resp = app.post_raw(&headers, body.clone()).await;
        let err = assert_error(resp, 401, "unauthorized").await;
        assert!(
            err["ErrorInfo"].as_str().unwrap().contains(needle),
            "{what}: {err}"
        );
    }
    app.assert_nothing_created();
}
