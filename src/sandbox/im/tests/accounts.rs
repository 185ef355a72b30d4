//! Accounts and profiles.

use serde_json::json;

use super::{TestIm, ADMIN};
use crate::sandbox::im::Account;

const IMPORT: &str = "im_open_login_svc/account_import";
const CHECK: &str = "im_open_login_svc/account_check";
const MULTI: &str = "im_open_login_svc/multiaccount_import";
const PORTRAIT: &str = "profile/portrait_set";

fn account(user_id: &str, nick: Option<&str>, face_url: Option<&str>) -> Option<Account> {
    Some(Account {
        user_id: user_id.into(),
        nick: nick.map(Into::into),
        face_url: face_url.map(Into::into),
    })
}

#[tokio::test]
async fn account_import_is_idempotent_and_keeps_an_unmentioned_nick() {
    let im = TestIm::start().await;
    assert_eq!(
        im.emu.account(ADMIN),
        account(ADMIN, None, None),
        "admins exist"
    );
    im.ok(
        IMPORT,
        json!({ "UserID": "zd_7", "Nick": "Sam", "FaceUrl": "https://x/a.png" }),
    )
    .await;
    im.ok(IMPORT, json!({ "UserID": "zd_7" })).await;
    assert_eq!(
        im.emu.account("zd_7"),
        account("zd_7", Some("Sam"), Some("https://x/a.png"))
    );
    im.ok(IMPORT, json!({ "UserID": "zd_7", "Nick": "Sam (Support)" }))
        .await;
    assert_eq!(
        im.emu.account("zd_7").unwrap().nick.as_deref(),
        Some("Sam (Support)")
    );
    assert_eq!(im.emu.accounts().len(), 2);
}

#[tokio::test]
async fn account_import_checks_the_user_id_and_profile_values() {
    let im = TestIm::start().await;
    for (what, body, code) in [
        ("UserID missing", json!({ "Nick": "x" }), 70402),
        (
            "old field name only",
            json!({ "Identifier": "alice" }),
            70402,
        ),
        ("UserID empty", json!({ "UserID": "" }), 70402),
        (
            "UserID over 32 bytes",
            json!({ "UserID": "u".repeat(33) }),
            70402,
        ),
        ("UserID not ASCII", json!({ "UserID": "zoë" }), 70402),
        ("UserID a number", json!({ "UserID": 7 }), 70402),
        (
            "Nick null",
            json!({ "UserID": "alice", "Nick": null }),
            70402,
        ),
        (
            "Nick over 500 bytes",
            json!({ "UserID": "alice", "Nick": "n".repeat(501) }),
            40601,
        ),
    ] {
        let answer = im.call(IMPORT, body).await;
        assert_eq!(answer["ErrorCode"], code, "{what}: {answer}");
    }
    assert_eq!(im.emu.accounts().len(), 1, "only the admin");
    im.ok(IMPORT, json!({ "UserID": "u".repeat(32) })).await;
}

#[tokio::test]
async fn batch_import_check_and_portrait_set() {
    let im = TestIm::start().await;
    let answer = im
        .ok(
            MULTI,
            json!({ "AccountList": [{ "UserID": "a", "Nick": "A" }, { "UserID": "bad id é" }] }),
        )
        .await;
    assert_eq!(answer["FailAccounts"], json!(["bad id é"]));
    im.fails(MULTI, json!({ "Accounts": [] }), 70206).await;

    let answer = im
        .ok(
            CHECK,
            json!({ "CheckItem": [{ "UserID": "a" }, { "UserID": "b" }] }),
        )
        .await;
    assert_eq!(answer["ResultItem"][0]["AccountStatus"], "Imported");
    assert_eq!(answer["ResultItem"][1]["AccountStatus"], "NotImported");

    im.ok(
        PORTRAIT,
        json!({ "From_Account": "a", "ProfileItem": [{ "Tag": "Tag_Profile_IM_Nick", "Value": "Alice" }] }),
    )
    .await;
    assert_eq!(im.emu.account("a").unwrap().nick.as_deref(), Some("Alice"));
    im.fails(
        PORTRAIT,
        json!({ "From_Account": "b", "ProfileItem": [{ "Tag": "Tag_Profile_IM_Nick", "Value": "B" }] }),
        40003,
    )
    .await;
    im.fails(
        PORTRAIT,
        json!({ "From_Account": "a", "ProfileItem": [{ "Tag": "Tag_Profile_Custom_x", "Value": "1" }] }),
        40009,
    )
    .await;
}
