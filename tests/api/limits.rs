//! The abuse limits over HTTP: each one hit and recovered from; a slow client cut off while
//! others are served; a flood of malformed requests on every route that leaves the bridge
//! healthy, with nothing recorded and no 5xx.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::agent::{agent_app_with, get, session};
use crate::helpers::*;

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

async fn ticket_of(resp: reqwest::Response) -> u64 {
    assert_eq!(resp.status(), 200, "case accepted");
    let body: Value = resp.json().await.expect("JSON");
    body["TicketId"].as_u64().expect("a ticket id")
}

fn port_of(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// A client with no pooled connection of its own yet.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// `GET /healthz` through `http`.
async fn health(app: &TestApp, http: &reqwest::Client) -> reqwest::Result<reqwest::Response> {
    http.get(format!("{}/healthz", app.address)).send().await
}

#[tokio::test]
async fn cases_per_user_per_hour_refuse_new_cases_but_never_a_retried_key() {
    let app = spawn_app_with(|env| {
        env.insert("CASES_PER_USER_PER_HOUR".into(), "2".into());
    })
    .await;
    let first = ticket_of(app.create_ticket_with_key(&case("alice"), "k1").await).await;
    ticket_of(app.create_ticket_with_key(&case("alice"), "k2").await).await;

    let refused = app.create_ticket_with_key(&case("alice"), "k3").await;
    let wait = retry_after(&refused);
    assert!(
        (3500..=3600).contains(&wait),
        "until the first case is an hour old: {wait}"
    );
    assert_error(refused, 429, "too_many_cases").await;
    let unkeyed = app.create_ticket(&case("alice")).await;
    assert_error(unkeyed, 429, "too_many_cases").await;
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM cases").await,
        2,
        "a refused case is not recorded"
    );

    // Retries of an accepted key are answered as always, however many.
    for _ in 0..3 {
        let again = app.create_ticket_with_key(&case("alice"), "k1").await;
        assert_eq!(ticket_of(again).await, first, "the same case");
    }
    // Another customer has a budget of their own.
    ticket_of(app.create_ticket(&case("bob")).await).await;

    // An hour later (the cases aged in the database) alice may open cases again.
    app.sql("UPDATE cases SET created_at = created_at - 3600000")
        .await;
    let later = ticket_of(app.create_ticket_with_key(&case("alice"), "k3").await).await;
    assert_ne!(later, first);
    assert_eq!(app.zendesk.tickets().len(), 4);
}

#[tokio::test]
async fn concurrent_cases_of_one_user_cannot_all_slip_under_the_limit() {
    let app = spawn_app_with(|env| {
        env.insert("CASES_PER_USER_PER_HOUR".into(), "2".into());
    })
    .await;
    let body = case("alice");
    let keys: Vec<String> = (0..10).map(|i| format!("burst-{i}")).collect();
    let sent: Vec<_> = keys
        .iter()
        .map(|key| app.create_ticket_with_key(&body, key))
        .collect();
    let mut statuses: Vec<u16> = Vec::new();
    for resp in futures_util::future::join_all(sent).await {
        statuses.push(resp.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM cases").await, 2);
}

#[tokio::test]
async fn open_tickets_per_user_refuse_a_new_ticket_until_one_is_solved() {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("OPEN_TICKETS_PER_USER".into(), "1".into());
    })
    .await;
    let first = ticket_of(app.create_ticket(&case("alice")).await).await;
    app.wait_for_jobs().await;

    let refused = app.create_ticket(&case("alice")).await;
    assert!(retry_after(&refused) >= 1);
    let body = assert_error(refused, 429, "too_many_open_tickets").await;
    assert!(
        body["ErrorInfo"]
            .as_str()
            .unwrap_or_default()
            .contains("reuse"),
        "{body}"
    );
    // Continuing in the open ticket is always possible.
    let mut reuse = case("alice");
    reuse["reuse"] = json!(true);
    let reused = app.create_ticket(&reuse).await;
    assert_eq!(reused.status(), 200);
    let reused: Value = reused.json().await.expect("JSON");
    assert_eq!(reused["TicketId"], first);
    assert_eq!(reused["Reused"], true);

    // Solved in Zendesk (the webhook tells the bridge): a new case opens a new ticket.
    app.zendesk.set_status(first, "solved").expect("solved");
    wait_until_async(Duration::from_secs(20), || async {
        app.sql_count("SELECT COUNT(*) FROM tickets WHERE status = 'solved'")
            .await
            == 1
    })
    .await;
    let second = ticket_of(app.create_ticket(&case("alice")).await).await;
    assert_ne!(second, first);
}

#[tokio::test]
async fn requests_per_ip_are_limited_on_public_routes_only() {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("REQUESTS_PER_IP_PER_SEC".into(), "5".into());
    })
    .await;
    let usersig = |xff: Option<&str>| {
        let mut req = app.http.get(format!("{}/agent/usersig", app.address));
        if let Some(xff) = xff {
            req = req.header("X-Forwarded-For", xff);
        }
        req.send()
    };
    // A second's worth at once reaches the handler (no token: 401)...
    for _ in 0..5 {
        assert_eq!(usersig(None).await.expect("sent").status(), 401);
    }
    // ...then the address is refused, whatever it claims to forward for.
    let refused = usersig(None).await.expect("sent");
    assert_eq!(retry_after(&refused), 1);
    assert_error(refused, 429, "too_many_requests").await;
    let spoofed = usersig(Some("203.0.113.9")).await.expect("sent");
    assert_eq!(
        spoofed.status(),
        429,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    let refused_case = app.create_ticket(&case("alice")).await;
    assert_error(refused_case, 429, "too_many_requests").await;

    // Zendesk's and IM's routes are not throttled: their senders are checked by signature.
    for _ in 0..20 {
        let webhook = app.post_webhook(r#"{"ticket_id":"1"}"#, 0).await;
        assert_eq!(
            webhook.status(),
            401,
            "refused for its signature, not its rate"
        );
        let callback = app.post_im_callback("SdkAppid=1", "{}").await;
        assert_eq!(callback.status(), 401);
    }
    assert_eq!(health(&app, &app.http).await.expect("sent").status(), 200);

    // Each refusal is counted.
    let refusals = |text: &str| {
        sample(
            text,
            "ticket_bridge_limit_refusals_total",
            &[("limit", "requests_per_ip")],
        )
    };
    assert_eq!(refusals(&scrape(&app).await), 3.0);

    // A moment later the address is served again.
    wait_until_async(Duration::from_secs(5), || async {
        usersig(None).await.expect("sent").status() == 401
    })
    .await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let app = spawn_app_with(|env| {
        env.insert("REQUESTS_PER_IP_PER_SEC".into(), "2".into());
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.0/8".into());
    })
    .await;
    let from = |client: &str| {
        app.http
            .get(format!("{}/agent/usersig", app.address))
            // What the client claimed, then what the proxy saw.
            .header("X-Forwarded-For", format!("198.51.100.1, {client}"))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(from("203.0.113.1").await.expect("sent").status(), 401);
    }
    assert_eq!(from("203.0.113.1").await.expect("sent").status(), 429);
    assert_eq!(
        from("203.0.113.2").await.expect("sent").status(),
        401,
        "another client behind the same proxy has its own budget"
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_503_until_one_closes() {
    let app = spawn_app_with(|env| {
        env.insert("MAX_CONNECTIONS".into(), "3".into());
        env.insert("HEADER_TIMEOUT_SECS".into(), "60".into());
    })
    .await;
    let port = port_of(&app);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect"),
        );
    }
    // Accepted after the three (the listen queue is in order): over the cap.
    let busy = health(&app, &fresh_client()).await.expect("answered");
    assert_eq!(busy.status(), 503);
    assert_eq!(retry_after(&busy), 1);
    assert_error(busy, 503, "overloaded").await;

    drop(held);
    wait_until_async(Duration::from_secs(5), || async {
        health(&app, &fresh_client())
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let text = scrape(&app).await;
    let counted = sample(
        &text,
        "ticket_bridge_limit_refusals_total",
        &[("limit", "connections")],
    );
    assert!(counted >= 1.0, "{text}");
}

/// Sends `request` one byte every `pace` until the server closes the connection (or answers);
/// how long that took, and whether the whole request went out first.
async fn drip(port: u16, request: Vec<u8>, pace: Duration) -> (Duration, bool, String) {
    let start = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut rx, mut tx) = stream.into_split();
    let mut answer = Vec::new();
    let writing = async {
        for b in &request {
            if tx.write_all(&[*b]).await.is_err() {
                return false;
            }
            tokio::time::sleep(pace).await;
        }
        true
    };
    tokio::pin!(writing);
    let finished = tokio::select! {
        _ = rx.read_to_end(&mut answer) => false,
        done = &mut writing => done,
    };
    (
        start.elapsed(),
        finished,
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let app = spawn_app_with(|env| {
        env.insert("HEADER_TIMEOUT_SECS".into(), "1".into());
        env.insert("BODY_TIMEOUT_SECS".into(), "1".into());
        env.insert("MAX_CONNECTIONS".into(), "16".into());
    })
    .await;
    let port = port_of(&app);
    // Headers at 10 bytes a second: about 25 s to send them all.
    let slow_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(200)
    )
    .into_bytes();
    let mut slow: Vec<_> = (0..12)
        .map(|_| tokio::spawn(drip(port, slow_headers.clone(), Duration::from_millis(100))))
        .collect();
    // A body at 10 bytes a second, after complete headers sent at once.
    let body_len = 300;
    let mut slow_body = format!(
        "POST /createticket HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: UserSig abc\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    let headers_len = slow_body.len();
    slow_body.extend(std::iter::repeat_n(b' ', body_len));
    let body_client = tokio::spawn(async move {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (mut rx, mut tx) = stream.into_split();
        tx.write_all(&slow_body[..headers_len])
            .await
            .expect("headers");
        let rest = slow_body[headers_len..].to_vec();
        let dripping = tokio::spawn(async move {
            for b in rest {
                if tx.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut answer = Vec::new();
        let _ = rx.read_to_end(&mut answer).await;
        dripping.abort();
        String::from_utf8_lossy(&answer).into_owned()
    });

    // Meanwhile everyone else is served.
    let http = fresh_client();
    for _ in 0..50 {
        assert_eq!(health(&app, &http).await.expect("served").status(), 200);
    }

    for handle in slow.drain(..) {
        let (took, finished, _) = handle.await.expect("slow client");
        assert!(!finished, "the server waited for a slow client's headers");
        assert!(took < Duration::from_secs(15), "cut off after {took:?}");
    }
    let answer = body_client.await.expect("slow body client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM cases").await, 0);
}

#[tokio::test]
async fn event_streams_per_agent_are_limited_and_freed_when_one_ends() {
    let (app, ticket) = agent_app_with(|env| {
        env.insert("STREAMS_PER_AGENT".into(), "2".into());
    })
    .await;
    let path = format!("/agent/tickets/{ticket}/events");
    let token = session(&app, ticket, 10_001).await;
    let first = get(&app, &path, &token).send().await.expect("sent");
    assert_eq!(first.status(), 200);
    let second = get(&app, &path, &token).send().await.expect("sent");
    assert_eq!(second.status(), 200);
    let third = get(&app, &path, &token).send().await.expect("sent");
    assert!(retry_after(&third) >= 1);
    assert_error(third, 429, "too_many_streams").await;
    // Another agent has streams of their own.
    let other = session(&app, ticket, 10_002).await;
    let theirs = get(&app, &path, &other).send().await.expect("sent");
    assert_eq!(theirs.status(), 200);

    // A closed stream frees its slot: a new one is taken as soon as the bridge sees it end.
    drop(first);
    let until = Instant::now() + Duration::from_secs(30);
    let reopened = loop {
        let resp = fresh_client()
            .get(format!("{}{path}", app.address))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("sent");
        if resp.status() == 200 {
            break resp;
        }
        assert_eq!(resp.status(), 429);
        assert!(Instant::now() < until, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop((second, theirs, reopened));
}

const KINDS: usize = 22;

/// One malformed request of many kinds, on every route.
fn malformed(app: &TestApp, i: usize, sig: &str, webhook_secret: &str) -> reqwest::RequestBuilder {
    let url = |path: &str| format!("{}{path}", app.address);
    let http = &app.http;
    let good_case = case("alice").to_string();
    let create = || {
        http.post(url("/createticket"))
            .header("Authorization", format!("UserSig {sig}"))
            .header("Content-Type", "application/json")
    };
    match i % KINDS {
        0 => http.post(url("/createticket")).body(format!("garbage {i}")),
        1 => http
            .post(url("/createticket"))
            .header("Authorization", format!("UserSig eJ{i}xx*-_"))
            .json(&case("alice")),
        2 => http
            .post(url("/createticket"))
            .header("Authorization", format!("UserSig {sig}"))
            .header("Content-Type", "text/plain")
            .body(good_case),
        3 => create().body(good_case[..i % good_case.len()].to_owned()),
        4 => create()
            .header("Idempotency-Key", "k".repeat(256 + i % 10))
            .body(good_case),
        5 => create().body(json!({"userId": "alice", "caseInfo": {"desc": " "}}).to_string()),
        6 => create().body(json!({"userId": i, "caseInfo": []}).to_string()),
        7 => create().body(format!("[{i}, null]")),
        8 => create().body(vec![b'{'; 256 * 1024 + 1]),
        9 => http.post(url("/webhooks/zendesk")).body("{}"),
        10 => {
            let ts = utc(unix_now());
            http.post(url("/webhooks/zendesk"))
                .header("X-Zendesk-Webhook-Signature", "Zm9yZ2Vk")
                .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
                .body(format!(r#"{{"ticket_id":"{i}"}}"#))
        }
        11 => {
            // Signed, but not a body the bridge can read.
            let ts = utc(unix_now());
            let body = format!("not json {i}");
            http.post(url("/webhooks/zendesk"))
                .header(
                    "X-Zendesk-Webhook-Signature",
                    sign_webhook(webhook_secret, &ts, body.as_bytes()),
                )
                .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
                .body(body)
        }
        12 => http.post(url("/callbacks/im")).body("{}"),
        13 => http
            .post(url(&format!(
                "/callbacks/im?SdkAppid={SDKAPPID}&CallbackCommand=Group.CallbackAfterSendMsg&Sign=00&RequestTime={}",
                unix_now()
            )))
            .body("{}"),
        14 => http
            .post(url(&format!(
                "/callbacks/im?{}",
                app.callback_query("Group.CallbackAfterSendMsg", unix_now())
            )))
            .body(format!(r#"{{"GroupId": "ZENDESK#{i}", "MsgSeq": "x"}}"#)),
        15 => http.post(url("/agent/session")),
        16 => http
            .post(url("/agent/session"))
            .header("Authorization", format!("Bearer a.{i}.c")),
        17 => http.get(url(&format!("/agent/tickets/{i}x/messages"))),
        18 => http
            .get(url("/agent/tickets/1/events"))
            .header("Authorization", format!("Bearer {i}.sig")),
        19 => http
            .post(url("/agent/tickets/1/messages"))
            .header("Authorization", "Bearer x")
            .body("{"),
        20 => http.delete(url("/createticket")),
        _ => http.get(url(&format!("/nothing/{i}?q=%ff"))),
    }
}

#[tokio::test]
async fn ten_thousand_malformed_requests_leave_the_bridge_healthy_and_nothing_recorded() {
    let app = Arc::new(
        spawn_conversation_app(|env| {
            env.insert("ZAF_SHARED_SECRET".into(), "flood-zaf-secret".into());
        })
        .await,
    );
    let sig = app.usersig("alice");
    let secret = app.webhook_secret();

    let next = Arc::new(AtomicUsize::new(0));
    const HTTP_REQUESTS: usize = 9_900;
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (app, next, sig, secret) = (app.clone(), next.clone(), sig.clone(), secret.clone());
            tokio::spawn(async move {
                let mut seen = BTreeMap::<(u16, usize), usize>::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= HTTP_REQUESTS {
                        return seen;
                    }
                    let resp = malformed(&app, i, &sig, &secret)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("request {i} answered: {e}"));
                    *seen.entry((resp.status().as_u16(), i % KINDS)).or_default() += 1;
                }
            })
        })
        .collect();
    // And requests that are not HTTP at all, or barely.
    let port = port_of(&app);
    let raw = [
        "GARBAGE\r\n\r\n".to_owned(),
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_owned(),
        "POST /createticket HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_owned(),
        "POST /createticket HTTP/1.1\r\nConnection: close\r\nAuthorization: UserSig x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_owned(),
        format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000)),
        format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(70_000)),
        "\u{0}\u{1}\u{2}\r\n\r\n".to_owned(),
    ];
    for i in 0..100 {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let _ = stream.write_all(raw[i % raw.len()].as_bytes()).await;
        // The status line, or nothing if the bridge just closed.
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        tokio::time::timeout(Duration::from_secs(5), async {
            while !answer.contains(&b'\n') {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .expect("the bridge answers or closes");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "raw request {i}: {answer}"
        );
    }
    let mut seen = BTreeMap::<(u16, usize), usize>::new();
    for w in workers {
        for (status, n) in w.await.expect("worker") {
            *seen.entry(status).or_default() += n;
        }
    }
    assert_eq!(seen.values().sum::<usize>(), HTTP_REQUESTS);
    assert!(
        seen.keys().all(|(s, _)| (400..500).contains(s)),
        "only 4xx answers ((status, kind of request): count): {seen:?}"
    );

    assert_eq!(health(&app, &app.http).await.expect("sent").status(), 200);
    for table in ["cases", "tickets", "inbound_events", "messages", "jobs"] {
        assert_eq!(
            app.sql_count(&format!("SELECT COUNT(*) FROM {table}"))
                .await,
            0,
            "nothing recorded in {table}"
        );
    }
    app.assert_nothing_created();
    // And the bridge still works.
    ticket_of(app.create_ticket(&case("alice")).await).await;
}
