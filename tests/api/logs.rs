//! Runs the real binary at trace level through a full flow (success, a forged UserSig, an IM
//! failure, requests refused by each abuse limit) and searches everything it logged for
//! secrets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{
    case, sign_webhook, unix_now, utc, KillOnDrop, TempDb, Upstreams, IM_KEY, ZENDESK_TOKEN,
};

const WEBHOOK_SECRET: &str = "test-webhook-signing-secret-4f1c2a";
const CALLBACK_TOKEN: &str = "test-im-callback-token-77e1d9";
const ZAF_SECRET: &str = "test-zaf-shared-secret-c20ad4d76fe9";
const METRICS_TOKEN: &str = "test-metrics-token-a87ff679a2f3";

#[tokio::test]
async fn no_secret_ever_reaches_the_logs() {
    let up = Upstreams::start().await;
    let db = TempDb::new();
    let env = up.env(&db);
    let Upstreams {
        im: im_emulator,
        im_served,
        zendesk_served: _zendesk_served,
        ..
    } = up;
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_ticket-bridge"))
            .arg("serve")
            .current_dir(db.work_dir())
            .env_clear()
            .envs(env)
            .env("ZENDESK_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("IM_CALLBACK_TOKEN", CALLBACK_TOKEN)
            .env("ZAF_SHARED_SECRET", ZAF_SECRET)
            .env("METRICS_TOKEN", METRICS_TOKEN)
            .env("CASES_PER_USER_PER_HOUR", "1")
            .env("REQUESTS_PER_IP_PER_SEC", "20")
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .env("STREAMS_PER_AGENT", "1")
            .env("BODY_TIMEOUT_SECS", "1")
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts"),
    );
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        Box::new(child.0.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.0.stdout.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut logs = Vec::new();
    let port = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no 'listening' line; logs so far:\n{}", logs.join("\n")));
        let found = line
            .contains("ticket-bridge listening")
            .then(|| {
                line.split("port=")
                    .nth(1)
                    .and_then(|p| p.split_whitespace().next())
                    .map(str::to_owned)
            })
            .flatten();
        logs.push(line);
        if let Some(p) = found {
            break p;
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let signer = ticket_bridge::usersig::UserSigner::new(
        crate::helpers::SDKAPPID,
        ticket_bridge::secret::Secret::new(IM_KEY),
    );
    let alice_sig = signer.generate("alice", 3600).expose().to_owned();

    // A case, then one over the limit of cases per hour (its credentials in the request).
    for want in [200, 429] {
        let resp = http
            .post(format!("{base}/createticket"))
            .header("Authorization", format!("UserSig {alice_sig}"))
            .json(&case("alice"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }
    // Over the other limits, with every credential in the request.
    let mut flood = Vec::new();
    for _ in 0..25 {
        let resp = http
            .post(format!("{base}/createticket"))
            .header("Authorization", format!("UserSig {alice_sig}"))
            .header("X-Forwarded-For", "203.0.113.7")
            .body("{")
            .send()
            .await
            .unwrap();
        flood.push(resp.status().as_u16());
    }
    assert!(flood.contains(&429), "requests per address: {flood:?}");
    let slow_body = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        stream
            .write_all(
                format!(
                    "POST /createticket HTTP/1.1\r\nHost: x\r\nAuthorization: UserSig {alice_sig}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(slow_body.starts_with("HTTP/1.1 408"), "{slow_body}");
    let forged = http
        .post(format!("{base}/createticket"))
        .header("Authorization", format!("UserSig {alice_sig}"))
        .json(&case("mallory"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // IM's callbacks: a chat line of alice's (mirrored to her ticket), and a forged one.
    for (token, want) in [(CALLBACK_TOKEN, 200), ("forged-token", 401)] {
        let at = unix_now().to_string();
        let sign = ticket_bridge::im::callback::sign(token, &at);
        let body = json!({"CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": "ZENDESK#1",
            "From_Account": "alice", "Random": 5, "MsgSeq": 2, "MsgTime": unix_now(),
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]});
        let resp = http
            .post(format!(
                "{base}/callbacks/im?SdkAppid={}&CallbackCommand=Group.CallbackAfterSendMsg&Sign={sign}&RequestTime={at}",
                crate::helpers::SDKAPPID
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }
    // The sidebar's credentials: a proxy JWT for a session, the session used, a forged JWT.
    let claims =
        json!({"ticket_id": 1, "agent_id": 7, "agent_name": "Sam", "exp": unix_now() + 300});
    let jwt =
        ticket_bridge::agent::jwt::sign(&claims, &ticket_bridge::secret::Secret::new(ZAF_SECRET));
    let session: serde_json::Value = http
        .post(format!("{base}/agent/session"))
        .header("Authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_token = session["token"].as_str().expect("a session").to_owned();
    let seen = http
        .get(format!("{base}/agent/tickets/1/messages"))
        .header("Authorization", format!("Bearer {session_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.status(), 200);
    let events = |token: &str| {
        http.get(format!("{base}/agent/tickets/1/events"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
    };
    let stream = events(&session_token).await.unwrap();
    assert_eq!(stream.status(), 200);
    let second_stream = events(&session_token).await.unwrap();
    assert_eq!(second_stream.status(), 429, "streams per agent");
    drop(stream);
    let forged =
        ticket_bridge::agent::jwt::sign(&claims, &ticket_bridge::secret::Secret::new("guess"));
    let refused = http
        .post(format!("{base}/agent/session"))
        .header("Authorization", format!("Bearer {forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    im_emulator.faults().inject(FaultRule::always(
        "",
        Fault::Respond {
            status: StatusCode::OK,
            body: json!({"ActionStatus": "FAIL", "ErrorCode": 70001, "ErrorInfo": "UserSig expired"}),
        },
    ));
    let failed = http
        .post(format!("{base}/createticket"))
        .header(
            "Authorization",
            format!("UserSig {}", signer.generate("bob", 3600).expose()),
        )
        .json(&case("bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 202, "ticket made, group pending");
    // A forged webhook, and one signed with the real secret but stale.
    for (secret, at) in [("forged-secret", 0), (WEBHOOK_SECRET, -600)] {
        let ts = utc(unix_now() + at);
        let body = r#"{"ticket_id":"1","assignee_id":"","status":"open"}"#;
        let refused = http
            .post(format!("{base}/webhooks/zendesk"))
            .header(
                "X-Zendesk-Webhook-Signature",
                sign_webhook(secret, &ts, body.as_bytes()),
            )
            .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }
    // IM goes away: a transport error, the one kind whose text could carry the signed URL.
    drop(im_served);
    let unreachable = http
        .post(format!("{base}/createticket"))
        .header(
            "Authorization",
            format!("UserSig {}", signer.generate("carol", 3600).expose()),
        )
        .json(&case("carol"))
        .send()
        .await
        .unwrap();
    assert_eq!(unreachable.status(), 202);

    // /metrics, with the bearer token and with a wrong one.
    for (token, want) in [(METRICS_TOKEN, 200), ("test-metrics-token-wrong", 401)] {
        let resp = http
            .get(format!("{base}/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }

    drop(child); // killed and reaped: its pipes close and the readers end
    logs.extend(rx.iter());
    let text = logs.join("\n");

    assert!(
        text.contains("Zendesk ticket created"),
        "the run was logged:\n{text}"
    );
    assert!(
        text.contains("will retry"),
        "the failure was logged:\n{text}"
    );
    assert!(
        text.contains("webhook refused") && text.contains("IM callback refused"),
        "the refusals were logged:\n{text}"
    );
    assert!(
        text.contains("chat message recorded"),
        "the callback was logged:\n{text}"
    );
    assert!(
        text.contains("agent session opened") && text.contains("agent credentials refused"),
        "the sessions were logged:\n{text}"
    );
    for limit in [
        "cases_per_user",
        "requests_per_ip",
        "body_timeout",
        "streams_per_agent",
    ] {
        assert!(
            text.contains(&format!("limit=\"{limit}\""))
                || text.contains(&format!("limit={limit}")),
            "the refusal by {limit} was logged:\n{text}"
        );
    }
    assert!(
        text.contains("Connection refused"),
        "the transport error was logged with its cause:\n{text}"
    );
    for (what, secret) in [
        ("IM secret key", IM_KEY),
        ("Zendesk API token", ZENDESK_TOKEN),
        ("client UserSig", alice_sig.as_str()),
        ("webhook secret", WEBHOOK_SECRET),
        ("IM callback token", CALLBACK_TOKEN),
        ("ZAF shared secret", ZAF_SECRET),
        ("metrics token", METRICS_TOKEN),
        ("proxy JWT", jwt.as_str()),
        ("forged JWT", forged.as_str()),
        ("agent session token", session_token.as_str()),
    ] {
        assert!(!text.contains(secret), "{what} leaked into the logs");
    }
    // Every UserSig (the admin's included) is base64 of zlib data, which starts with "eJ".
    let sig_like = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "*-_".contains(c)))
        .find(|w| w.starts_with("eJ") && w.len() > 60);
    assert_eq!(sig_like, None, "a UserSig leaked into the logs");
    assert!(
        !text.to_lowercase().contains("usersig="),
        "a signed IM URL leaked"
    );
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}/token:{ZENDESK_TOKEN}", crate::helpers::ZENDESK_EMAIL),
    );
    assert!(
        !text.contains(&basic),
        "the Zendesk Authorization header leaked"
    );
}
