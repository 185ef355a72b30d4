//! The agent API behind the sidebar app, over HTTP: sessions from Zendesk's proxy JWT, the
//! transcript, writing as the assignee, taking the ticket, the live event stream, UserSigs.

use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::agent::jwt;
use ticket_bridge::secret::Secret;

use crate::helpers::*;

const ZAF_SECRET: &str = "test-zaf-shared-secret-1f0e3dad99908345";

async fn agent_app() -> (TestApp, u64) {
    agent_app_with(|_| {}).await
}

/// An app with the sidebar's secret and CORS set, and a case opened by alice; its ticket.
pub async fn agent_app_with(
    customize: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> (TestApp, u64) {
    let app = spawn_conversation_app(|env| {
        env.insert("ZAF_SHARED_SECRET".into(), ZAF_SECRET.into());
        env.insert(
            "CORS_ALLOWED_ORIGINS".into(),
            "https://acme.zendesk.com".into(),
        );
        customize(env);
    })
    .await;
    let ticket = app.open_case("alice").await;
    (app, ticket)
}

/// A JWT as Zendesk's proxy signs it for the app.
fn proxy_jwt(ticket: u64, agent: u64, claims: impl FnOnce(&mut Value)) -> String {
    let now = unix_now();
    let mut c = json!({"ticket_id": ticket, "agent_id": agent, "agent_name": "Sam Agent",
                       "agent_email": "sam@support.test", "iat": now, "exp": now + 300});
    claims(&mut c);
    jwt::sign(&c, &Secret::new(ZAF_SECRET))
}

async fn post_session(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/agent/session", token)
        .send()
        .await
        .expect("sent")
}

/// A session token for `agent` on `ticket`.
pub async fn session(app: &TestApp, ticket: u64, agent: u64) -> String {
    let resp = post_session(app, &proxy_jwt(ticket, agent, |_| {})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("JSON");
    body["token"].as_str().expect("token").to_owned()
}

pub fn get(app: &TestApp, path: &str, token: &str) -> reqwest::RequestBuilder {
    with_token(app.http.get(format!("{}{path}", app.address)), token)
}

fn post(app: &TestApp, path: &str, token: &str) -> reqwest::RequestBuilder {
    with_token(app.http.post(format!("{}{path}", app.address)), token)
}

fn with_token(req: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    req.header("Authorization", format!("Bearer {token}"))
}

async fn write(
    app: &TestApp,
    ticket: u64,
    token: &str,
    text: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = post(app, &format!("/agent/tickets/{ticket}/messages"), token)
        .json(&json!({ "text": text }));
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.expect("sent")
}

#[tokio::test]
async fn a_proxy_jwt_opens_a_session_for_its_ticket_and_agent() {
    let (app, ticket) = agent_app().await;
    let resp = post_session(&app, &proxy_jwt(ticket, 10_001, |_| {})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["ticket_id"], ticket);
    assert_eq!(
        body["agent"],
        json!({"id": 10_001, "name": "Sam Agent", "im_user_id": "zd_10001"})
    );
    assert!(body["expires_in"]
        .as_i64()
        .is_some_and(|s| s > 0 && s <= 3600));
    let token = body["token"].as_str().expect("token");
    let view: Value = get(&app, &format!("/agent/tickets/{ticket}"), token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(view["customer"]["name"], "Alice Example");
    assert_eq!(view["is_assignee"], false);
}

#[tokio::test]
async fn forged_expired_and_unsigned_jwts_are_refused() {
    let (app, ticket) = agent_app().await;
    let now = unix_now();
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(
                &json!({"ticket_id": ticket, "agent_id": 1, "agent_name": "Eve", "exp": now + 60})
                    .to_string()
            )
        )
    };
    let cases = [
        ("no token", String::new()),
        ("garbage", "not.a.jwt".to_owned()),
        ("alg none", unsigned),
        (
            "wrong secret",
            jwt::sign(
                &json!({"ticket_id": ticket, "agent_id": 1, "agent_name": "Eve", "exp": now + 60}),
                &Secret::new("guessed"),
            ),
        ),
        (
            "expired",
            proxy_jwt(ticket, 1, |c| c["exp"] = json!(now - 120)),
        ),
        (
            "no exp",
            proxy_jwt(ticket, 1, |c| {
                c.as_object_mut().map(|o| o.remove("exp"));
            }),
        ),
        (
            "exp over an hour ahead",
            proxy_jwt(ticket, 1, |c| c["exp"] = json!(now + 7200)),
        ),
        (
            "iat in the future",
            proxy_jwt(ticket, 1, |c| c["iat"] = json!(now + 600)),
        ),
        (
            "no agent",
            proxy_jwt(ticket, 1, |c| c["agent_id"] = Value::Null),
        ),
    ];
    for (what, token) in cases {
        let resp = post_session(&app, &token).await;
        let body = assert_error(resp, 401, "unauthorized").await;
        assert!(!body.to_string().contains(ZAF_SECRET), "{what}");
    }
    // A ticket the bridge did not open.
    let resp = post_session(&app, &proxy_jwt(ticket + 100, 1, |_| {})).await;
    assert_error(resp, 404, "unknown_ticket").await;
}

#[tokio::test]
async fn without_a_shared_secret_sessions_are_refused() {
    let app = spawn_conversation_app(|_| {}).await;
    let ticket = app.open_case("alice").await;
    let resp = post_session(&app, &proxy_jwt(ticket, 1, |_| {})).await;
    let body = assert_error(resp, 401, "unauthorized").await;
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("ZAF_SHARED_SECRET")));
}

#[tokio::test]
async fn a_session_token_is_good_for_its_ticket_only() {
    let (app, ticket) = agent_app().await;
    let other = app.open_case("bob").await;
    let token = session(&app, ticket, 10_001).await;
    for path in [
        format!("/agent/tickets/{other}"),
        format!("/agent/tickets/{other}/messages"),
        format!("/agent/tickets/{other}/events"),
    ] {
        let resp = get(&app, &path, &token).send().await.expect("sent");
        assert_error(resp, 401, "unauthorized").await;
    }
    let resp = get(&app, "/agent/tickets/not-a-number/messages", &token)
        .send()
        .await
        .expect("sent");
    assert_error(resp, 404, "not_found").await;
    let resp = get(&app, &format!("/agent/tickets/{ticket}"), "forged.token")
        .send()
        .await
        .expect("sent");
    assert_error(resp, 401, "unauthorized").await;
    // The proxy's JWT is not a session token.
    let jwt = proxy_jwt(ticket, 10_001, |_| {});
    let resp = get(&app, &format!("/agent/tickets/{ticket}"), &jwt)
        .send()
        .await
        .expect("sent");
    assert_error(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_transcript_pages_in_record_order() {
    let (app, ticket) = agent_app().await;
    for line in ["one", "two", "three"] {
        app.im
            .client_send_text(&group_of(ticket), "alice", line)
            .expect("sent");
    }
    app.settle().await;
    let token = session(&app, ticket, 10_001).await;
    let page = |after: Option<String>| {
        let mut path = format!("/agent/tickets/{ticket}/messages?limit=2");
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        get(&app, &path, &token).send()
    };
    let mut texts = Vec::new();
    let mut after = None;
    loop {
        let body: Value = page(after.clone())
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        for m in body["messages"].as_array().expect("messages") {
            assert!(["customer", "agent", "bridge"].contains(&m["role"].as_str().unwrap_or("")));
            texts.push(m["text"].as_str().unwrap_or_default().to_owned());
        }
        match body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let customer: Vec<&String> = texts
        .iter()
        .filter(|t| ["one", "two", "three"].contains(&t.as_str()))
        .collect();
    assert_eq!(customer, ["one", "two", "three"]);
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Thank you for contacting us")),
        "{texts:?}"
    );
    let resp = get(
        &app,
        &format!("/agent/tickets/{ticket}/messages?after=x"),
        &token,
    )
    .send()
    .await
    .expect("sent");
    assert_error(resp, 400, "invalid_field").await;
    let resp = get(
        &app,
        &format!("/agent/tickets/{ticket}/messages?limit=0"),
        &token,
    )
    .send()
    .await
    .expect("sent");
    assert_error(resp, 400, "invalid_field").await;
}

#[tokio::test]
async fn only_the_assignee_writes_and_each_message_lands_once_on_both_sides() {
    let (app, ticket) = agent_app().await;
    let agent = app.zendesk.seed_agent("Sam Agent", "sam@support.test");
    let token = session(&app, ticket, agent).await;
    let resp = write(&app, ticket, &token, "Hello!", None).await;
    assert_error(resp, 403, "not_assignee").await;

    let taken: Value = post(&app, &format!("/agent/tickets/{ticket}/take"), &token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(taken["is_assignee"], true, "{taken}");
    assert_eq!(
        app.zendesk.ticket(ticket).and_then(|t| t.assignee_id),
        Some(agent)
    );

    let first = write(&app, ticket, &token, "We are on it.", Some("msg-1")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("JSON");
    assert_eq!(first["role"], "agent");
    // A retry with the same key is the same message.
    let again = write(&app, ticket, &token, "We are on it.", Some("msg-1")).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("JSON");
    assert_eq!(again["id"], first["id"]);
    app.settle().await;

    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["We are on it."]
    );
    let comments = app.comments_after_description(ticket);
    let by_agent: Vec<(&str, bool)> = comments
        .iter()
        .filter(|c| c.author_id == agent)
        .map(|c| (c.body.as_str(), c.public))
        .collect();
    assert_eq!(by_agent, [("We are on it.", true)]);
    // Bad bodies.
    for (body, code) in [
        (json!({"text": "  "}), "invalid_field"),
        (json!({"text": "x".repeat(4001)}), "invalid_field"),
        (json!({"message": "hi"}), "invalid_field"),
    ] {
        let resp = post(&app, &format!("/agent/tickets/{ticket}/messages"), &token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_error(resp, 400, code).await;
    }
}

#[tokio::test]
async fn the_event_stream_is_live_and_resumes_after_a_drop() {
    let (app, ticket) = agent_app().await;
    let token = session(&app, ticket, 10_001).await;
    let resp = get(&app, &format!("/agent/tickets/{ticket}/events"), &token)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream")));
    let mut stream = resp;
    let mut seen = String::new();
    app.im
        .client_send_text(&group_of(ticket), "alice", "live from the chat")
        .expect("sent");
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("live from the chat") {
        let chunk = tokio::time::timeout_at(until, stream.chunk())
            .await
            .expect("the message arrives within seconds")
            .expect("stream open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: message"), "{seen}");
    assert!(seen.contains("event: status"), "{seen}");
    let last_id = seen
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("events carry ids")
        .to_owned();
    drop(stream);

    // While the agent is away, the customer writes; the reconnect gets just that.
    app.im
        .client_send_text(&group_of(ticket), "alice", "said while you were away")
        .expect("sent");
    app.im.callbacks_idle().await;
    let resp = get(&app, &format!("/agent/tickets/{ticket}/events"), &token)
        .header("Last-Event-ID", last_id)
        .send()
        .await
        .expect("sent");
    let mut stream = resp;
    let mut resumed = String::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while !resumed.contains("said while you were away") {
        let chunk = tokio::time::timeout_at(until, stream.chunk())
            .await
            .expect("resumed in time")
            .expect("stream open")
            .expect("bytes");
        resumed.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !resumed.contains("live from the chat"),
        "nothing twice: {resumed}"
    );
    assert!(
        !resumed.contains("Thank you for contacting us"),
        "{resumed}"
    );
}

#[tokio::test]
async fn an_agent_gets_a_usersig_for_their_own_im_account() {
    let (app, ticket) = agent_app().await;
    let token = session(&app, ticket, 10_001).await;
    let body: Value = get(&app, "/agent/usersig", &token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["userId"], "zd_10001", "{body}");
    assert_eq!(body["sdkAppId"], SDKAPPID);
    let sig = body["userSig"].as_str().expect("sig");
    assert!(app.signer.verify("zd_10001", sig).is_ok());
}

#[tokio::test]
async fn the_apps_origin_may_call_the_agent_api() {
    let (app, _) = agent_app().await;
    let resp = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/agent/session", app.address),
        )
        .header("Origin", "https://acme.zendesk.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,last-event-id",
        )
        .send()
        .await
        .expect("sent");
    assert!(resp.status().is_success());
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://acme.zendesk.com")
    );
}
