//! Every way to fail authentication, and the two ways to pass it.

use base64::Engine;
use reqwest::header;
use serde_json::json;

use super::{header_str, json_of, TestZendesk, ADMIN_EMAIL, API_TOKEN};
use crate::secret::Secret;

async fn assert_couldnt_authenticate(resp: reqwest::Response, case: &str) {
    assert_eq!(resp.status(), 401, "{case}");
    assert_eq!(
        header_str(&resp, "www-authenticate").as_deref(),
        Some("Basic realm=\"Web Password\""),
        "{case}"
    );
    assert_eq!(
        json_of(resp).await,
        json!({"error": "Couldn't authenticate you"}),
        "{case}"
    );
}

#[tokio::test]
async fn basic_credentials_that_fail_are_401() {
    let zd = TestZendesk::start().await;
    zd.emu.seed_end_user("Eve", "eve@example.com");
    let b64 = |raw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    let cases = [
        ("wrong token", TestZendesk::basic(ADMIN_EMAIL, "nope")),
        (
            "unknown email",
            TestZendesk::basic("who@example.com", API_TOKEN),
        ),
        (
            "end-user email",
            TestZendesk::basic("eve@example.com", API_TOKEN),
        ),
        ("password auth", b64(&format!("{ADMIN_EMAIL}:{API_TOKEN}"))),
        ("not base64", "Basic %%%".to_owned()),
        ("no colon", b64(&format!("{ADMIN_EMAIL}/token"))),
        ("other scheme", format!("Token {API_TOKEN}")),
    ];

    for (case, authorization) in cases {
        let resp = zd.get_as("/api/v2/tickets/1.json", &authorization).await;
        assert_couldnt_authenticate(resp, case).await;
    }

    let missing = zd.send(zd.http.get(zd.url("/api/v2/tickets/1.json"))).await;
    assert_couldnt_authenticate(missing, "missing header").await;
    let post = zd
        .send(
            zd.http
                .post(zd.url("/api/v2/tickets"))
                .json(&json!({"ticket": {"comment": {"body": "hi"}}})),
        )
        .await;
    assert_couldnt_authenticate(post, "unauthenticated create").await;
    assert!(zd.emu.tickets().is_empty());
}

#[tokio::test]
async fn email_is_case_insensitive_and_agents_may_authenticate() {
    let zd = TestZendesk::start().await;
    zd.emu.seed_agent("Agnes", "agnes@example.com");

    let upper = zd
        .get_as(
            "/api/v2/users/me",
            &TestZendesk::basic("ADMIN@example.com", API_TOKEN),
        )
        .await;
    assert_eq!(upper.status(), 200);
    let agent = zd
        .get_as(
            "/api/v2/users/me",
            &TestZendesk::basic("agnes@example.com", API_TOKEN),
        )
        .await;
    assert_eq!(json_of(agent).await["user"]["role"], "agent");
}

#[tokio::test]
async fn bearer_tokens() {
    let zd = TestZendesk::with_config(|c| c.oauth_token = Some(Secret::new("oauth-secret"))).await;
    let invalid = json!({
        "error": "invalid_token",
        "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."
    });

    let good = zd
        .get_as("/api/v2/users/me.json", "Bearer oauth-secret")
        .await;
    assert_eq!(good.status(), 200);
    assert_eq!(json_of(good).await["user"]["id"], zd.emu.admin_id());

    let bad = zd.get_as("/api/v2/users/me.json", "Bearer guess").await;
    assert_eq!(bad.status(), 401);
    assert_eq!(json_of(bad).await, invalid);

    let no_oauth = TestZendesk::start().await;
    let resp = no_oauth
        .get_as("/api/v2/users/me", "Bearer oauth-secret")
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_of(resp).await, invalid);
}

#[tokio::test]
async fn request_count_includes_rejected_requests() {
    let zd = TestZendesk::start().await;
    zd.send(zd.http.get(zd.url("/api/v2/tickets/1"))).await;
    zd.get("/api/v2/tickets/1").await;
    zd.get("/api/v2/no/such/path").await;
    let _ = zd
        .send(
            zd.http
                .get(zd.url("/api/v2/users/me"))
                .header(header::AUTHORIZATION, "junk"),
        )
        .await;
    assert_eq!(zd.emu.request_count(), 4);
}
