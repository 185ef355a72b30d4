//! Third-party callbacks (`Group.CallbackAfterSendMsg`) and client sends, against a receiver
//! served on a random port that records what it gets.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{TestIm, ADMIN, APP};
use crate::sandbox::im::CallbackTarget;
use crate::sandbox::{serve, Served};
use crate::secret::Secret;

const SEND: &str = "group_open_http_svc/send_group_msg";
const MODIFY: &str = "group_open_http_svc/modify_group_base_info";
const TOKEN: &str = "my-callback-token";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    query: String,
    content_type: String,
    body: Value,
}

impl Received {
    /// A query parameter (the emulator's values need no decoding).
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    fn seq(&self) -> u64 {
        self.body["MsgSeq"].as_u64().unwrap()
    }
}

#[derive(Clone, Default)]
struct Log {
    got: Arc<Mutex<Vec<Received>>>,
    /// The status to answer with; 0 = 200.
    status: Arc<AtomicU16>,
}

/// The app's callback endpoint.
struct Receiver {
    served: Served,
    log: Log,
}

impl Receiver {
    async fn start() -> Self {
        async fn record(
            State(log): State<Log>,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            log.got.lock().unwrap().push(Received {
                query: uri.query().unwrap_or_default().to_string(),
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            match log.status.load(Ordering::SeqCst) {
                0 => StatusCode::OK,
                s => StatusCode::from_u16(s).unwrap(),
            }
        }
        let log = Log::default();
        let router = Router::new()
            .route("/im/callback", post(record))
            .with_state(log.clone());
        Self {
            served: serve(router, 0).await.unwrap(),
            log,
        }
    }

    fn target(&self, token: Option<&str>) -> CallbackTarget {
        CallbackTarget {
            url: format!("{}/im/callback", self.served.base_url),
            token: token.map(Secret::new),
        }
    }

    fn got(&self) -> Vec<Received> {
        self.log.got.lock().unwrap().clone()
    }

    fn seqs(&self) -> Vec<u64> {
        self.got().iter().map(Received::seq).collect()
    }
}

/// Group "g1" with alice and bob, callbacks to a fresh receiver signed with `token`.
async fn setup(token: Option<&str>) -> (TestIm, Receiver) {
    let im = TestIm::start().await;
    im.import("alice").await;
    im.import("bob").await;
    im.create_group("g1", &["alice", "bob"]).await;
    let receiver = Receiver::start().await;
    im.emu.set_callback(Some(receiver.target(token)));
    (im, receiver)
}

fn text(t: &str) -> Value {
    json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": t } }])
}

fn sha256_hex(s: &str) -> String {
    crate::hex::lower(&Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn a_rest_send_fires_one_signed_callback() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    im.emu.advance_clock(1000);
    let answer = im
        .ok(
            SEND,
            json!({ "GroupId": "g1", "From_Account": "alice", "Random": 77,
                    "MsgBody": text("hello"), "CloudCustomData": "{\"k\":1}" }),
        )
        .await;
    im.emu.callbacks_idle().await;

    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let cb = &got[0];
    assert_eq!(cb.content_type, "application/json");
    let app = APP.to_string();
    for (name, value) in [
        ("SdkAppid", app.as_str()),
        ("CallbackCommand", "Group.CallbackAfterSendMsg"),
        ("contenttype", "json"),
        ("ClientIP", "127.0.0.1"),
        ("OptPlatform", "RESTAPI"),
    ] {
        assert_eq!(cb.param(name), Some(value), "{name} in {}", cb.query);
    }
    // RequestTime is the emulator's clock (moved on above) when the message was stored.
    let request_time = cb.param("RequestTime").unwrap();
    assert_eq!(request_time, answer["MsgTime"].to_string());
    assert_eq!(
        cb.param("Sign"),
        Some(sha256_hex(&format!("{TOKEN}{request_time}")).as_str())
    );

    let body = &cb.body;
    assert_eq!(body["CallbackCommand"], "Group.CallbackAfterSendMsg");
    assert_eq!(body["GroupId"], "g1");
    assert_eq!(body["Type"], "Public");
    assert_eq!(body["From_Account"], "alice");
    assert_eq!(body["Operator_Account"], ADMIN);
    assert_eq!(body["Random"], 77);
    assert_eq!(body["MsgSeq"], answer["MsgSeq"]);
    assert_eq!(body["MsgTime"], answer["MsgTime"]);
    assert!(!body["MsgId"].as_str().unwrap().is_empty());
    assert_eq!(body["OnlineOnlyFlag"], 0);
    assert_eq!(body["MsgBody"], text("hello"));
    assert_eq!(body["CloudCustomData"], "{\"k\":1}");
    assert_eq!(
        body["EventTime"].as_u64().unwrap() / 1000,
        answer["MsgTime"].as_u64().unwrap()
    );

    let records = im.emu.callbacks();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.command, "Group.CallbackAfterSendMsg");
    assert_eq!((record.group_id.as_str(), record.msg_seq), ("g1", 1));
    assert_eq!(record.query, cb.query);
    assert_eq!(
        serde_json::from_str::<Value>(&record.body).unwrap(),
        cb.body
    );
    assert_eq!((record.status, record.dropped), (Some(200), false));
}

#[tokio::test]
async fn without_a_token_there_is_no_sign_and_without_a_target_nothing() {
    let (im, receiver) = setup(None).await;
    im.send_text("g1", "alice", 1, "unsigned").await;
    im.emu.callbacks_idle().await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].param("Sign"), None);
    assert_eq!(got[0].param("RequestTime"), None);
    assert!(got[0].body.get("CloudCustomData").is_none(), "only if set");

    im.emu.set_callback(None);
    im.send_text("g1", "alice", 2, "nobody listens").await;
    im.emu.callbacks_idle().await;
    assert_eq!(receiver.got().len(), 1);
    assert_eq!(im.emu.callbacks().len(), 1, "nothing recorded either");
}

#[tokio::test]
async fn forbid_after_send_msg_callback_and_duplicates_fire_nothing() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    im.ok(
        SEND,
        json!({ "GroupId": "g1", "From_Account": "alice", "Random": 1, "MsgBody": text("quiet"),
                "ForbidCallbackControl": ["ForbidAfterSendMsgCallback"] }),
    )
    .await;
    // Forbidding only the before-callback leaves the after-callback on.
    im.ok(
        SEND,
        json!({ "GroupId": "g1", "From_Account": "alice", "Random": 2, "MsgBody": text("loud"),
                "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback"] }),
    )
    .await;
    let again = im.send_text("g1", "alice", 2, "loud (retry)").await;
    assert_eq!(again["MsgSeq"], 2, "{again}");
    im.emu.callbacks_idle().await;
    assert_eq!(receiver.seqs(), [2]);
    assert_eq!(im.emu.callbacks().len(), 1);
}

#[tokio::test]
async fn a_client_send_fires_from_web_with_the_sender_as_operator() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    let (seq, time) = im
        .emu
        .client_send("g1", "bob", text("from the app"), Some("{\"c\":2}"))
        .unwrap();
    let (seq2, _) = im.emu.client_send_text("g1", "alice", "me too").unwrap();
    assert_eq!((seq, seq2), (1, 2));
    im.emu.callbacks_idle().await;

    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].param("OptPlatform"), Some("Web"));
    let body = &got[0].body;
    assert_eq!(body["From_Account"], "bob");
    assert_eq!(body["Operator_Account"], "bob");
    assert_eq!(body["MsgTime"], time);
    assert_eq!(body["CloudCustomData"], "{\"c\":2}");
    assert_ne!(got[0].body["MsgId"], got[1].body["MsgId"]);
    assert_eq!(got[1].body["Operator_Account"], "alice");

    let history = im.emu.group("g1").unwrap().messages;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].from, "bob");
    assert_eq!(history[0].random, body["Random"]);
}

#[tokio::test]
async fn refused_client_sends_store_and_fire_nothing() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    im.import("mallory").await;
    let code = |r: Result<(u64, u64), String>| r.unwrap_err();
    assert!(code(im.emu.client_send_text("g1", "mallory", "x")).contains("10007"));
    assert!(code(im.emu.client_send_text("g1", "ghost", "x")).contains("10019"));
    assert!(code(im.emu.client_send_text("gone", "alice", "x")).contains("10010"));
    assert!(code(im.emu.client_send("g1", "alice", json!([]), None)).contains("10004"));
    let too_long = "a".repeat(8 * 1024);
    assert!(code(im.emu.client_send_text("g1", "alice", &too_long)).contains("80002"));
    im.ok(MODIFY, json!({ "GroupId": "g1", "ShutUpAllMember": "On" }))
        .await;
    assert!(code(im.emu.client_send_text("g1", "alice", "x")).contains("10017"));

    im.emu.callbacks_idle().await;
    assert!(im.emu.group("g1").unwrap().messages.is_empty());
    assert!(receiver.got().is_empty());
    assert!(im.emu.callbacks().is_empty());
}

#[tokio::test]
async fn drop_callbacks_drops_exactly_n() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    im.emu.drop_callbacks(2);
    for i in 1..=3 {
        im.emu
            .client_send_text("g1", "alice", &format!("m{i}"))
            .unwrap();
    }
    im.emu.callbacks_idle().await;
    assert_eq!(receiver.seqs(), [3]);
    let records = im.emu.callbacks();
    let dropped: Vec<(bool, Option<u16>)> = records.iter().map(|r| (r.dropped, r.status)).collect();
    assert_eq!(dropped, [(true, None), (true, None), (false, Some(200))]);
}

#[tokio::test]
async fn held_callbacks_are_released_newest_first() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    im.emu.hold_callbacks(true);
    for i in 1..=3 {
        im.send_text("g1", "alice", i, &format!("m{i}")).await;
    }
    im.emu.callbacks_idle().await;
    assert!(receiver.got().is_empty(), "held ones are not sent");
    assert!(im.emu.callbacks().iter().all(|r| r.status.is_none()));

    im.emu.hold_callbacks(false);
    im.emu.release_held_callbacks(true).await;
    assert_eq!(receiver.seqs(), [3, 2, 1]);
    // Released ones don't jump ahead of later callbacks, which go straight out again.
    im.send_text("g1", "alice", 4, "m4").await;
    im.emu.callbacks_idle().await;
    assert_eq!(receiver.seqs(), [3, 2, 1, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callbacks_go_out_in_the_order_messages_were_stored() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    let mut senders = tokio::task::JoinSet::new();
    for i in 0..20 {
        let emu = im.emu.clone();
        let from = if i % 2 == 0 { "alice" } else { "bob" };
        senders.spawn(async move { emu.client_send_text("g1", from, "x").unwrap() });
    }
    while let Some(sent) = senders.join_next().await {
        sent.unwrap();
    }
    im.emu.callbacks_idle().await;
    assert_eq!(receiver.seqs(), (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_failing_or_absent_receiver_never_fails_the_send() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    receiver.log.status.store(500, Ordering::SeqCst);
    assert_eq!(im.send_text("g1", "alice", 1, "a").await["ErrorCode"], 0);
    im.emu.callbacks_idle().await;

    // A port that was free a moment ago: the callback gets no answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    im.emu.set_callback(Some(CallbackTarget {
        url: format!("http://{closed}/cb"),
        token: None,
    }));
    assert_eq!(im.send_text("g1", "alice", 2, "b").await["ErrorCode"], 0);
    im.emu.callbacks_idle().await;

    let statuses: Vec<Option<u16>> = im.emu.callbacks().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), None]);
    assert_eq!(im.emu.group("g1").unwrap().messages.len(), 2);
}

/// POSTs to the SDK entry as `user` with `usersig`; the JSON answer.
async fn sdk_send(im: &TestIm, user: &str, usersig: &str, body: Value) -> Value {
    let res = im
        .http
        .post(format!("{}/sdk/send_group_msg", im.served.base_url))
        .query(&[
            ("sdkappid", APP.to_string()),
            ("identifier", user.to_string()),
            ("usersig", usersig.to_string()),
            ("contenttype", "json".to_string()),
        ])
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_sdk_entry_needs_the_users_own_sig() {
    let (im, receiver) = setup(Some(TOKEN)).await;
    let body = json!({ "GroupId": "g1", "MsgBody": text("hi from the SDK") });
    let sig = |who: &str| im.signer.generate(who, 3600).expose().to_string();

    let bob_as_alice = sdk_send(&im, "alice", &sig("bob"), body.clone()).await;
    assert_eq!(bob_as_alice["ErrorCode"], 70013, "{bob_as_alice}");
    let garbage = sdk_send(&im, "alice", "abc*def", body.clone()).await;
    assert_eq!(garbage["ErrorCode"], 70003, "{garbage}");
    let impersonating = sdk_send(
        &im,
        "alice",
        &sig("alice"),
        json!({ "GroupId": "g1", "MsgBody": text("x"), "From_Account": "bob" }),
    )
    .await;
    assert_eq!(impersonating["ErrorCode"], 10004, "{impersonating}");
    im.import("mallory").await;
    let outsider = sdk_send(&im, "mallory", &sig("mallory"), body.clone()).await;
    assert_eq!(outsider["ErrorCode"], 10007, "{outsider}");
    im.emu.callbacks_idle().await;
    assert!(im.emu.group("g1").unwrap().messages.is_empty());
    assert!(receiver.got().is_empty());

    let ok = sdk_send(&im, "alice", &sig("alice"), body).await;
    assert_eq!(ok["ActionStatus"], "OK", "{ok}");
    assert_eq!(
        (ok["ErrorCode"].clone(), ok["ErrorInfo"].clone()),
        (json!(0), json!(""))
    );
    assert_eq!(ok["MsgSeq"], 1);
    im.emu.callbacks_idle().await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].param("OptPlatform"), Some("Web"));
    assert_eq!(got[0].body["Operator_Account"], "alice");
    assert_eq!(got[0].body["MsgTime"], ok["MsgTime"]);
}
