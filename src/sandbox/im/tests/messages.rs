//! Sending and reading group messages.

use serde_json::{json, Value};

use super::{TestIm, ADMIN};

const SEND: &str = "group_open_http_svc/send_group_msg";
const NOTIFY: &str = "group_open_http_svc/send_group_system_notification";
const HISTORY: &str = "group_open_http_svc/group_msg_get_simple";
const MODIFY: &str = "group_open_http_svc/modify_group_base_info";

/// A group "g1" with alice and bob as members.
async fn group_with_alice_and_bob() -> TestIm {
    let im = TestIm::start().await;
    im.import("alice").await;
    im.import("bob").await;
    im.create_group("g1", &["alice", "bob"]).await;
    im
}

fn text(t: &str) -> Value {
    json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": t } }])
}

#[tokio::test]
async fn a_resent_random_is_dropped_and_answered_with_the_original() {
    let im = group_with_alice_and_bob().await;
    let first = im.send_text("g1", "alice", 42, "hello").await;
    let again = im.send_text("g1", "alice", 42, "hello (retry)").await;
    assert_eq!(again["ErrorCode"], 0, "{again}");
    assert_eq!(again["MsgSeq"], first["MsgSeq"]);
    assert_eq!(again["MsgTime"], first["MsgTime"]);
    assert_eq!(
        im.emu.group("g1").unwrap().messages.len(),
        1,
        "nothing stored"
    );

    // Another sender may use the same Random.
    let bob = im.send_text("g1", "bob", 42, "hi").await;
    assert_eq!(bob["MsgSeq"], 2);
    // After five minutes the Random is free again.
    im.emu.advance_clock(301);
    let later = im.send_text("g1", "alice", 42, "hello again").await;
    assert_eq!(later["MsgSeq"], 3);
}

#[tokio::test]
async fn a_muted_group_refuses_members_but_not_managers() {
    let im = TestIm::start().await;
    im.import("alice").await;
    im.import("owner").await;
    im.ok(
        "group_open_http_svc/create_group",
        json!({ "Type": "Public", "Name": "m", "GroupId": "g1", "Owner_Account": "owner",
                "MemberList": [{ "Member_Account": "alice" }] }),
    )
    .await;
    im.ok(MODIFY, json!({ "GroupId": "g1", "ShutUpAllMember": "On" }))
        .await;
    let muted = im.send_text("g1", "alice", 1, "let me talk").await;
    assert_eq!(muted["ErrorCode"], 10017, "{muted}");
    assert_eq!(
        im.send_text("g1", "owner", 2, "owner").await["ErrorCode"],
        0
    );
    assert_eq!(im.send_text("g1", ADMIN, 3, "admin").await["ErrorCode"], 0);
    im.ok(MODIFY, json!({ "GroupId": "g1", "MuteAllMember": "Off" }))
        .await;
    assert_eq!(
        im.send_text("g1", "alice", 4, "finally").await["ErrorCode"],
        0
    );
}

#[tokio::test]
async fn senders_must_exist_and_belong_to_the_group() {
    let im = group_with_alice_and_bob().await;
    im.import("mallory").await;
    assert_eq!(
        im.send_text("g1", "mallory", 1, "x").await["ErrorCode"],
        10007
    );
    assert_eq!(
        im.send_text("g1", "ghost", 1, "x").await["ErrorCode"],
        10019
    );
    assert_eq!(
        im.send_text("nope", "alice", 1, "x").await["ErrorCode"],
        10010
    );
    // Without From_Account the admin sends; admins need not be members.
    let answer = im
        .ok(
            SEND,
            json!({ "GroupId": "g1", "Random": 5, "MsgBody": text("from admin") }),
        )
        .await;
    assert_eq!(answer["MsgSeq"], 1);
    assert_eq!(im.emu.group("g1").unwrap().messages[0].from, ADMIN);
}

#[tokio::test]
async fn send_group_msg_checks_its_fields() {
    let im = group_with_alice_and_bob().await;
    let send = |extra: Value| {
        let mut body =
            json!({ "GroupId": "g1", "From_Account": "alice", "Random": 1, "MsgBody": text("x") });
        let obj = body.as_object_mut().unwrap();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
        body
    };
    let custom = json!({ "MsgType": "TIMCustomElem", "MsgContent": { "Data": "{}" } });
    for (what, extra) in [
        ("Random missing", json!({ "Random": null })),
        ("Random negative", json!({ "Random": -1 })),
        ("Random over uint32", json!({ "Random": 4_294_967_296_u64 })),
        ("Random a string", json!({ "Random": "1" })),
        ("MsgBody missing", json!({ "MsgBody": null })),
        ("MsgBody empty", json!({ "MsgBody": [] })),
        (
            "MsgBody an object",
            json!({ "MsgBody": { "MsgType": "TIMTextElem" } }),
        ),
        (
            "unknown element",
            json!({ "MsgBody": [{ "MsgType": "TIMHtmlElem", "MsgContent": {} }] }),
        ),
        (
            "Text not a string",
            json!({ "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": 1 } }] }),
        ),
        (
            "no MsgContent",
            json!({ "MsgBody": [{ "MsgType": "TIMTextElem" }] }),
        ),
        (
            "custom without Data",
            json!({ "MsgBody": [{ "MsgType": "TIMCustomElem", "MsgContent": {} }] }),
        ),
        (
            "two custom elements",
            json!({ "MsgBody": [custom.clone(), custom.clone()] }),
        ),
        ("GroupId missing", json!({ "GroupId": null })),
        (
            "CloudCustomData not a string",
            json!({ "CloudCustomData": { "id": 1 } }),
        ),
        (
            "unknown callback control",
            json!({ "ForbidCallbackControl": ["ForbidAll"] }),
        ),
        (
            "controls with online-only",
            json!({ "OnlineOnlyFlag": 1, "SendMsgControl": ["NoUnread"] }),
        ),
    ] {
        let answer = im.call(SEND, send(extra)).await;
        assert_eq!(answer["ErrorCode"], 10004, "{what}: {answer}");
    }
    assert!(im.emu.group("g1").unwrap().messages.is_empty());

    let answer = im
        .ok(
            SEND,
            send(json!({
                "MsgBody": [custom, { "MsgType": "TIMTextElem", "MsgContent": { "Text": "t" } }],
                "CloudCustomData": "{\"zendesk_comment_id\":1}",
                "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"],
                "SendMsgControl": ["NoLastMsg"],
            })),
        )
        .await;
    assert_eq!(answer["MsgSeq"], 1);
    let stored = &im.emu.group("g1").unwrap().messages[0];
    assert_eq!(
        stored.cloud_custom_data.as_deref(),
        Some("{\"zendesk_comment_id\":1}")
    );
    assert!(!stored.system);
}

#[tokio::test]
async fn a_message_over_8_kb_is_80002() {
    let im = group_with_alice_and_bob().await;
    let overhead = text("").to_string().len();
    let fits = "a".repeat(8 * 1024 - overhead);
    assert_eq!(im.send_text("g1", "alice", 1, &fits).await["ErrorCode"], 0);
    let too_long = fits + "a";
    assert_eq!(
        im.send_text("g1", "alice", 2, &too_long).await["ErrorCode"],
        80002
    );
}

#[tokio::test]
async fn history_pages_backwards_by_seq() {
    let im = group_with_alice_and_bob().await;
    for i in 1..=25 {
        im.send_text("g1", "alice", i, &format!("m{i}")).await;
    }
    im.fails(
        HISTORY,
        json!({ "GroupId": "g1", "ReqMsgNumber": 21 }),
        10004,
    )
    .await;
    im.fails(
        HISTORY,
        json!({ "GroupId": "g1", "ReqMsgNumber": 0 }),
        10004,
    )
    .await;
    im.fails(HISTORY, json!({ "GroupId": "g1" }), 10004).await;
    im.fails(
        HISTORY,
        json!({ "GroupId": "gone", "ReqMsgNumber": 1 }),
        10010,
    )
    .await;

    let seqs = |page: &Value| -> Vec<u64> {
        page["RspMsgList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["MsgSeq"].as_u64().unwrap())
            .collect()
    };
    let first = im
        .ok(HISTORY, json!({ "GroupId": "g1", "ReqMsgNumber": 20 }))
        .await;
    assert_eq!(seqs(&first), (6..=25).rev().collect::<Vec<_>>());
    assert_eq!(first["IsFinished"], 0);
    let rest = im
        .ok(
            HISTORY,
            json!({ "GroupId": "g1", "ReqMsgNumber": 20, "ReqMsgSeq": 5 }),
        )
        .await;
    assert_eq!(seqs(&rest), [5, 4, 3, 2, 1]);
    assert_eq!(rest["IsFinished"], 1);
    let exact = im
        .ok(
            HISTORY,
            json!({ "GroupId": "g1", "ReqMsgNumber": 5, "ReqMsgSeq": 5 }),
        )
        .await;
    assert_eq!(exact["IsFinished"], 1, "nothing older remains");
}

#[tokio::test]
async fn system_notifications_take_a_seq_but_stay_out_of_history() {
    let im = group_with_alice_and_bob().await;
    im.ok(
        NOTIFY,
        json!({ "GroupId": "g1", "Content": "ticket solved" }),
    )
    .await;
    im.fails(NOTIFY, json!({ "GroupId": "gone", "Content": "x" }), 10010)
        .await;
    im.fails(NOTIFY, json!({ "GroupId": "g1" }), 10004).await;
    let group = im.emu.group("g1").unwrap();
    let notice = &group.messages[0];
    assert!(notice.system);
    assert_eq!(notice.body, text("ticket solved"));
    assert_eq!(notice.seq, 1);

    let sent = im.send_text("g1", "alice", 1, "thanks").await;
    assert_eq!(sent["MsgSeq"], 2);
    let history = im
        .ok(HISTORY, json!({ "GroupId": "g1", "ReqMsgNumber": 20 }))
        .await;
    assert_eq!(history["RspMsgList"].as_array().unwrap().len(), 1);
}
