//! Group lifecycle and membership.

use serde_json::{json, Value};

use super::{TestIm, ADMIN};

const CREATE: &str = "group_open_http_svc/create_group";
const INFO: &str = "group_open_http_svc/get_group_info";
const ADD: &str = "group_open_http_svc/add_group_member";
const DELETE: &str = "group_open_http_svc/delete_group_member";
const MODIFY: &str = "group_open_http_svc/modify_group_base_info";
const DESTROY: &str = "group_open_http_svc/destroy_group";
const HISTORY: &str = "group_open_http_svc/group_msg_get_simple";

fn accounts(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["Member_Account"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn happy_path_from_import_to_destroy() {
    let im = TestIm::start().await;
    im.ok(
        "im_open_login_svc/account_import",
        json!({ "UserID": "alice", "Nick": "Alice" }),
    )
    .await;
    im.import("zd_7").await;

    let created = im
        .ok(
            CREATE,
            json!({
                "Type": "Public",
                "Name": "Refund for order 42",
                "GroupId": "ZENDESK#123",
                "ApplyJoinOption": "FreeAccess",
                "Introduction": "ticket 123",
                "MemberList": [{ "Member_Account": "alice" }],
            }),
        )
        .await;
    assert_eq!(created["GroupId"], "ZENDESK#123");

    let sent = im.send_text("ZENDESK#123", "alice", 1, "hello").await;
    assert_eq!(sent["ErrorCode"], 0, "{sent}");
    assert_eq!(sent["MsgSeq"], 1);
    assert!(sent["MsgTime"].as_u64().unwrap() > 1_700_000_000);
    let greeting = im.send_text("ZENDESK#123", ADMIN, 2, "We are on it").await;
    assert_eq!(greeting["MsgSeq"], 2);

    let history = im
        .ok(
            HISTORY,
            json!({ "GroupId": "ZENDESK#123", "ReqMsgNumber": 20 }),
        )
        .await;
    assert_eq!(history["GroupId"], "ZENDESK#123");
    assert_eq!(history["IsFinished"], 1);
    let list = history["RspMsgList"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["MsgSeq"], 2, "newest first");
    assert_eq!(list[1]["From_Account"], "alice");
    assert_eq!(list[1]["MsgRandom"], 1);
    assert_eq!(list[1]["IsSystemMsg"], 0);
    assert_eq!(list[1]["IsPlaceMsg"], 0);
    assert_eq!(list[1]["MsgBody"][0]["MsgContent"]["Text"], "hello");

    let info = im.ok(INFO, json!({ "GroupIdList": ["ZENDESK#123"] })).await;
    let g = &info["GroupInfo"][0];
    assert_eq!(g["ErrorCode"], 0, "{g}");
    assert_eq!(g["Type"], "Public");
    assert_eq!(g["Name"], "Refund for order 42");
    assert_eq!(g["Introduction"], "ticket 123");
    assert_eq!(g["Owner_Account"], "");
    assert_eq!(g["ApplyJoinOption"], "FreeAccess");
    assert_eq!(g["ShutUpAllMember"], "Off");
    assert_eq!(g["NextMsgSeq"], 3);
    assert_eq!(g["MemberNum"], 1);
    assert_eq!(g["MemberList"][0]["Member_Account"], "alice");
    assert_eq!(g["MemberList"][0]["Role"], "Member");
    assert!(g["CreateTime"].as_u64().is_some() && g["MaxMemberNum"].as_u64().is_some());

    let added = im
        .ok(
            ADD,
            json!({ "GroupId": "ZENDESK#123", "MemberList": [{ "Member_Account": "zd_7" }] }),
        )
        .await;
    assert_eq!(
        added["MemberList"],
        json!([{ "Member_Account": "zd_7", "Result": 1 }])
    );
    let again = im
        .ok(
            ADD,
            json!({ "GroupId": "ZENDESK#123", "Silence": 1, "MemberList": [{ "Member_Account": "zd_7" }] }),
        )
        .await;
    assert_eq!(again["MemberList"][0]["Result"], 2, "already a member");
    let group = im.emu.group("ZENDESK#123").unwrap();
    assert_eq!(group.members, ["alice", "zd_7"]);
    let notice = &group.messages[2];
    assert!(
        notice.system && notice.seq == 3,
        "the join notice takes a seq"
    );

    let reply = im.send_text("ZENDESK#123", "zd_7", 3, "Hi, I'm Sam").await;
    assert_eq!(reply["MsgSeq"], 4);

    im.ok(
        DELETE,
        json!({ "GroupId": "ZENDESK#123", "Reason": "reassigned", "MemberToDel_Account": ["zd_7", "nobody"] }),
    )
    .await;
    assert_eq!(im.emu.group("ZENDESK#123").unwrap().members, ["alice"]);

    im.ok(DESTROY, json!({ "GroupId": "ZENDESK#123" })).await;
    assert!(im.emu.group("ZENDESK#123").is_none());
    im.fails(DESTROY, json!({ "GroupId": "ZENDESK#123" }), 10010)
        .await;
    let info = im.ok(INFO, json!({ "GroupIdList": ["ZENDESK#123"] })).await;
    assert_eq!(info["GroupInfo"][0]["ErrorCode"], 10015);
}

#[tokio::test]
async fn members_and_owner_must_be_imported() {
    let im = TestIm::start().await;
    im.import("alice").await;
    let info = im
        .fails(
            CREATE,
            json!({ "Type": "Public", "Name": "x", "GroupId": "g1",
                    "MemberList": [{ "Member_Account": "alice" }, { "Member_Account": "ghost" }] }),
            10019,
        )
        .await;
    assert!(info.contains("ghost"), "{info}");
    im.fails(
        CREATE,
        json!({ "Type": "Public", "Name": "x", "GroupId": "g1", "Owner_Account": "ghost" }),
        10019,
    )
    .await;
    assert!(im.emu.groups().is_empty());

    im.create_group("g1", &[]).await;
    // One unknown account fails the whole request: nobody is added.
    im.fails(
        ADD,
        json!({ "GroupId": "g1", "MemberList": [{ "Member_Account": "alice" }, { "Member_Account": "ghost" }] }),
        10019,
    )
    .await;
    assert!(im.emu.group("g1").unwrap().members.is_empty());
    im.fails(
        ADD,
        json!({ "GroupId": "nope", "MemberList": [{ "Member_Account": "alice" }] }),
        10010,
    )
    .await;
}

#[tokio::test]
async fn a_taken_group_id_is_10025_for_its_owner_and_10021_otherwise() {
    let im = TestIm::start().await;
    im.import("alice").await;
    let mine = json!({ "Type": "Public", "Name": "x", "GroupId": "mine", "Owner_Account": ADMIN });
    im.ok(CREATE, mine.clone()).await;
    im.fails(CREATE, mine, 10025).await;

    let theirs =
        json!({ "Type": "Public", "Name": "x", "GroupId": "theirs", "Owner_Account": "alice" });
    im.ok(CREATE, theirs.clone()).await;
    im.fails(CREATE, theirs, 10021).await;
    let group = im.emu.group("theirs").unwrap();
    assert_eq!(group.owner.as_deref(), Some("alice"));
    assert_eq!(group.members, ["alice"], "the owner is a member");
}

#[tokio::test]
async fn create_group_checks_types_names_and_ids() {
    let im = TestIm::start().await;
    im.import("alice").await;
    let create = |extra: Value| {
        let mut body = json!({ "Type": "Public", "Name": "Refund" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let name_30 = "é".repeat(15);
    let answer = im.ok(CREATE, create(json!({ "Name": name_30 }))).await;
    let id = answer["GroupId"].as_str().unwrap();
    assert!(id.starts_with("@TGS#") && !id.starts_with("@TGS#_"), "{id}");
    let community = im
        .ok(CREATE, json!({ "Type": "Community", "Name": "c" }))
        .await;
    assert!(community["GroupId"].as_str().unwrap().starts_with("@TGS#_"));

    for (what, extra, code) in [
        (
            "name over 30 bytes",
            json!({ "Name": "é".repeat(15) + "x" }),
            10004,
        ),
        ("empty name", json!({ "Name": "" }), 10004),
        ("name not a string", json!({ "Name": 5 }), 10004),
        ("unknown type", json!({ "Type": "Work" }), 10004),
        (
            "introduction over 240 bytes",
            json!({ "Introduction": "i".repeat(241) }),
            10004,
        ),
        (
            "notification over 300 bytes",
            json!({ "Notification": "n".repeat(301) }),
            10004,
        ),
        (
            "unknown join option",
            json!({ "ApplyJoinOption": "Anyone" }),
            10004,
        ),
        ("null owner", json!({ "Owner_Account": null }), 10004),
        ("reserved prefix", json!({ "GroupId": "@TGS#mine" }), 10015),
        (
            "id over 48 bytes",
            json!({ "GroupId": "g".repeat(49) }),
            10015,
        ),
        ("non-ASCII id", json!({ "GroupId": "grüppe" }), 10015),
        ("empty id", json!({ "GroupId": "" }), 10015),
        (
            "community id without @TGS#_",
            json!({ "Type": "Community", "GroupId": "c1" }),
            10015,
        ),
        (
            "members in an AVChatRoom",
            json!({ "Type": "AVChatRoom", "MemberList": [{ "Member_Account": "alice" }] }),
            10007,
        ),
        (
            "member without Member_Account",
            json!({ "MemberList": [{ "UserID": "alice" }] }),
            10004,
        ),
        (
            "custom data not configured",
            json!({ "AppDefinedData": [{ "Key": "k", "Value": "v" }] }),
            10004,
        ),
    ] {
        let answer = im.call(CREATE, create(extra)).await;
        assert_eq!(answer["ErrorCode"], code, "{what}: {answer}");
    }
    assert_eq!(im.emu.groups().len(), 2, "failed creates made nothing");
    let ok_id = "g".repeat(48);
    im.ok(CREATE, create(json!({ "GroupId": ok_id }))).await;
}

#[tokio::test]
async fn get_group_info_limits_and_per_group_errors() {
    let im = TestIm::start().await;
    im.import("alice").await;
    im.create_group("g1", &["alice"]).await;
    im.fails(INFO, json!({ "GroupIdList": [] }), 10004).await;
    let many: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
    im.fails(INFO, json!({ "GroupIdList": many }), 10004).await;

    let info = im
        .ok(INFO, json!({ "GroupIdList": ["g1", "missing"] }))
        .await;
    assert_eq!(info["GroupInfo"][0]["ErrorCode"], 0);
    assert_eq!(info["GroupInfo"][1]["GroupId"], "missing");
    assert_eq!(info["GroupInfo"][1]["ErrorCode"], 10015);

    let filtered = im
        .ok(
            INFO,
            json!({ "GroupIdList": ["g1"], "ResponseFilter": { "GroupBaseInfoFilter": ["Name"] } }),
        )
        .await;
    let g = &filtered["GroupInfo"][0];
    assert_eq!(g["Name"], "Refund");
    assert!(
        g.get("Type").is_none() && g.get("MemberList").is_none(),
        "{g}"
    );
    let with_members = im
        .ok(
            INFO,
            json!({ "GroupIdList": ["g1"], "ResponseFilter": { "MemberInfoFilter": ["Role"] } }),
        )
        .await;
    assert_eq!(
        with_members["GroupInfo"][0]["MemberList"],
        json!([{ "Member_Account": "alice", "Role": "Member" }])
    );
}

#[tokio::test]
async fn member_batches_have_limits_and_notices_take_seqs() {
    let im = TestIm::start().await;
    for u in ["alice", "bob", "carol"] {
        im.import(u).await;
    }
    im.create_group("g1", &["alice"]).await;
    let too_many: Vec<Value> = (0..301)
        .map(|i| json!({ "Member_Account": format!("u{i}") }))
        .collect();
    im.fails(
        ADD,
        json!({ "GroupId": "g1", "MemberList": too_many }),
        10005,
    )
    .await;
    im.fails(ADD, json!({ "GroupId": "g1", "MemberList": [] }), 10004)
        .await;
    im.fails(
        ADD,
        json!({ "GroupId": "g1", "Silence": 2, "MemberList": [{ "Member_Account": "bob" }] }),
        10004,
    )
    .await;

    let added = im
        .ok(
            ADD,
            json!({ "GroupId": "g1", "Silence": 1,
                    "MemberList": [{ "Member_Account": "bob" }, { "Member_Account": "alice" }] }),
        )
        .await;
    assert_eq!(accounts(&added["MemberList"]), ["bob", "alice"]);
    assert_eq!(added["MemberList"][1]["Result"], 2);
    assert!(im.emu.group("g1").unwrap().messages.is_empty(), "silent");

    im.ok(
        ADD,
        json!({ "GroupId": "g1", "MemberList": [{ "Member_Account": "carol" }] }),
    )
    .await;
    let sent = im.send_text("g1", "carol", 9, "hi").await;
    assert_eq!(sent["MsgSeq"], 2, "the join notice took seq 1");
    let history = im
        .ok(HISTORY, json!({ "GroupId": "g1", "ReqMsgNumber": 5 }))
        .await;
    assert_eq!(history["RspMsgList"][1]["IsSystemMsg"], 1);

    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    im.fails(
        DELETE,
        json!({ "GroupId": "g1", "MemberToDel_Account": too_many }),
        10005,
    )
    .await;
    im.fails(
        DELETE,
        json!({ "GroupId": "g9", "MemberToDel_Account": ["bob"] }),
        10010,
    )
    .await;
    im.ok(
        DELETE,
        json!({ "GroupId": "g1", "Silence": 1, "MemberToDel_Account": ["bob"] }),
    )
    .await;
    assert_eq!(im.emu.group("g1").unwrap().members, ["alice", "carol"]);
    assert_eq!(
        im.emu.group("g1").unwrap().messages.len(),
        2,
        "silent removal"
    );

    im.ok(
        CREATE,
        json!({ "Type": "Public", "Name": "o", "GroupId": "owned", "Owner_Account": "alice" }),
    )
    .await;
    im.fails(
        DELETE,
        json!({ "GroupId": "owned", "MemberToDel_Account": ["alice"] }),
        10007,
    )
    .await;
    im.ok(
        CREATE,
        json!({ "Type": "AVChatRoom", "Name": "live", "GroupId": "live" }),
    )
    .await;
    im.fails(
        ADD,
        json!({ "GroupId": "live", "MemberList": [{ "Member_Account": "bob" }] }),
        10007,
    )
    .await;
}

#[tokio::test]
async fn a_group_holds_at_most_its_max_member_count() {
    let im = TestIm::start().await;
    for u in ["a", "b", "c"] {
        im.import(u).await;
    }
    im.ok(
        CREATE,
        json!({ "Type": "Private", "Name": "small", "GroupId": "s", "MaxMemberCount": 2,
                          "MemberList": [{ "Member_Account": "a" }, { "Member_Account": "b" }] }),
    )
    .await;
    im.fails(
        ADD,
        json!({ "GroupId": "s", "MemberList": [{ "Member_Account": "c" }] }),
        10014,
    )
    .await;
}

#[tokio::test]
async fn modify_group_base_info_takes_both_mute_spellings() {
    let im = TestIm::start().await;
    im.create_group("g1", &[]).await;
    im.ok(
        MODIFY,
        json!({ "GroupId": "g1", "MuteAllMember": "On", "Name": "Renamed" }),
    )
    .await;
    let group = im.emu.group("g1").unwrap();
    assert!(group.shut_up_all_member);
    assert_eq!(group.name, "Renamed");
    im.ok(MODIFY, json!({ "GroupId": "g1", "ShutUpAllMember": "Off" }))
        .await;
    assert!(!im.emu.group("g1").unwrap().shut_up_all_member);

    im.fails(
        MODIFY,
        json!({ "GroupId": "g1", "ShutUpAllMember": "on" }),
        10004,
    )
    .await;
    im.fails(
        MODIFY,
        json!({ "GroupId": "g1", "ShutUpAllMember": "On", "MuteAllMember": "Off" }),
        10004,
    )
    .await;
    im.fails(
        MODIFY,
        json!({ "GroupId": "g1", "Name": "x".repeat(31) }),
        10004,
    )
    .await;
    im.fails(MODIFY, json!({ "GroupId": "gone", "Name": "x" }), 10010)
        .await;
    assert!(
        !im.emu.group("g1").unwrap().shut_up_all_member,
        "failed calls change nothing"
    );
    let info = im.ok(INFO, json!({ "GroupIdList": ["g1"] })).await;
    assert_eq!(info["GroupInfo"][0]["InfoSeq"], 2);
}
