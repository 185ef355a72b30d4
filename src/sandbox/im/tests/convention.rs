//! The calling convention: query parameters, UserSig, body, rate limit, faults.

use reqwest::StatusCode;
use serde_json::json;

use super::{TestIm, ADMIN, APP, KEY};
use crate::sandbox::faults::{Fault, FaultRule};
use crate::sandbox::im::ImEmulatorConfig;
use crate::secret::Secret;
use crate::usersig::UserSigner;

const IMPORT: &str = "im_open_login_svc/account_import";

#[tokio::test]
async fn each_bad_query_gets_its_own_code_and_changes_nothing() {
    let im = TestIm::start().await;
    im.emu.import_account("alice", None);
    let now = im.emu.now();
    let sig = |signer: &UserSigner, who: &str| signer.generate(who, 3600).expose().to_string();
    let other_key = UserSigner::new(APP, Secret::new("another-key"));
    let other_app = UserSigner::new(APP + 1, Secret::new(KEY));
    let expired = im
        .signer
        .generate_at(ADMIN, 60, now - 3600)
        .expose()
        .to_string();
    // (what is wrong, parameter, new value or None to drop it, expected code)
    let cases: Vec<(&str, &str, Option<String>, u64)> = vec![
        ("sdkappid missing", "sdkappid", None, 60012),
        (
            "sdkappid not a number",
            "sdkappid",
            Some("14x".into()),
            60006,
        ),
        (
            "sdkappid of another app",
            "sdkappid",
            Some((APP + 1).to_string()),
            70020,
        ),
        ("identifier missing", "identifier", None, 60004),
        ("usersig missing", "usersig", None, 70002),
        ("usersig empty", "usersig", Some(String::new()), 70002),
        ("usersig garbage", "usersig", Some("abc*def".into()), 70003),
        ("usersig expired", "usersig", Some(expired), 70001),
        (
            "usersig of another key",
            "usersig",
            Some(sig(&other_key, ADMIN)),
            70009,
        ),
        (
            "usersig of another user",
            "usersig",
            Some(sig(&im.signer, "alice")),
            70013,
        ),
        (
            "usersig of another app",
            "usersig",
            Some(sig(&other_app, ADMIN)),
            70014,
        ),
        ("random missing", "random", None, 60002),
        ("random not a number", "random", Some("abc".into()), 60002),
        (
            "random over uint32",
            "random",
            Some("4294967296".into()),
            60002,
        ),
        ("random negative", "random", Some("-1".into()), 60002),
        ("contenttype missing", "contenttype", None, 60002),
        (
            "contenttype not json",
            "contenttype",
            Some("JSON".into()),
            60002,
        ),
    ];
    let n = cases.len() as u64;
    for (what, param, value, code) in cases {
        let mut query: Vec<(&str, String)> = im
            .query()
            .into_iter()
            .filter(|(k, _)| *k != param)
            .collect();
        if let Some(v) = value {
            query.push((param, v));
        }
        let (status, answer) = im
            .post_raw(IMPORT, &query, json!({ "UserID": "probe" }).to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(answer["ActionStatus"], "FAIL", "{what}: {answer}");
        assert_eq!(answer["ErrorCode"], code, "{what}: {answer}");
    }

    // A valid sig of a user who is not an App admin.
    let mut query = im.query();
    query.retain(|(k, _)| *k != "identifier" && *k != "usersig");
    query.push(("identifier", "alice".into()));
    query.push(("usersig", sig(&im.signer, "alice")));
    let (_, answer) = im
        .post_raw(IMPORT, &query, json!({ "UserID": "probe" }).to_string())
        .await;
    assert_eq!(answer["ErrorCode"], 60010, "{answer}");

    // A parameter given twice.
    let mut query = im.query();
    query.push(("random", "7".into()));
    let (_, answer) = im
        .post_raw(IMPORT, &query, json!({ "UserID": "probe" }).to_string())
        .await;
    assert_eq!(answer["ErrorCode"], 60002, "{answer}");

    assert_eq!(im.emu.account("probe"), None);
    assert_eq!(im.emu.calls(IMPORT), n + 2, "rejected calls are counted");
}

#[tokio::test]
async fn the_usersig_expires_on_the_emulator_clock() {
    let im = TestIm::start().await;
    let mut query = im.query();
    query.retain(|(k, _)| *k != "usersig");
    query.push((
        "usersig",
        im.signer.generate(ADMIN, 600).expose().to_string(),
    ));
    let body = json!({ "UserID": "bob" }).to_string();
    let (_, answer) = im.post_raw(IMPORT, &query, body.clone()).await;
    assert_eq!(answer["ErrorCode"], 0, "{answer}");
    im.emu.advance_clock(601);
    let (_, answer) = im.post_raw(IMPORT, &query, body).await;
    assert_eq!(answer["ErrorCode"], 70001, "{answer}");
}

#[tokio::test]
async fn bodies_and_urls_are_checked() {
    let im = TestIm::start().await;
    for (what, body) in [
        ("empty", ""),
        ("blank", "  \n"),
        ("not JSON", "UserID=alice"),
        ("an array", "[]"),
        ("a string", "\"alice\""),
    ] {
        let (status, answer) = im.post_raw(IMPORT, &im.query(), body).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(answer["ErrorCode"], 60003, "{what}: {answer}");
    }
    // `{}` is a valid body; the command then names the field it needs.
    let info = im.fails(IMPORT, json!({}), 70402).await;
    assert!(info.contains("UserID"), "{info}");
    let info = im
        .fails(
            "group_open_http_svc/create_group",
            json!({ "Type": "Public" }),
            10004,
        )
        .await;
    assert!(info.contains("Name"), "{info}");

    im.fails("group_open_http_svc/no_such_command", json!({}), 10003)
        .await;
    im.fails("no_such_svc/account_import", json!({}), 60009)
        .await;
    let (status, answer) = im
        .post_raw("group_open_http_svc/create_group/extra", &im.query(), "{}")
        .await;
    assert_eq!(
        (status, &answer["ErrorCode"]),
        (StatusCode::OK, &json!(60009))
    );

    let res = im
        .http
        .get(format!("{}/v4/{IMPORT}", im.served.base_url))
        .query(&im.query())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn over_the_frequency_limit_calls_get_60007() {
    let mut config = ImEmulatorConfig::new(APP, Secret::new(KEY), ADMIN);
    config.rate_limit_per_sec = 3;
    let im = TestIm::with_config(config).await;
    for i in 0..3 {
        im.ok(IMPORT, json!({ "UserID": format!("user{i}") })).await;
    }
    im.fails(IMPORT, json!({ "UserID": "user3" }), 60007).await;
    assert_eq!(im.emu.account("user3"), None, "a limited call does nothing");
    assert_eq!(im.emu.calls(IMPORT), 4);
    // The limit is per command.
    im.ok(
        "im_open_login_svc/account_check",
        json!({ "CheckItem": [{ "UserID": "user0" }] }),
    )
    .await;
}

#[tokio::test]
async fn a_lost_response_still_changes_the_state() {
    let im = TestIm::start().await;
    im.emu
        .faults()
        .inject(FaultRule::new("create_group", Fault::LoseResponse, 1));
    let body = json!({ "Type": "Public", "Name": "Refund", "GroupId": "ZENDESK#1" });
    let (status, _) = im
        .post_raw(
            "group_open_http_svc/create_group",
            &im.query(),
            body.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(im.emu.group("ZENDESK#1").is_some(), "the work was done");
    // The retry finds the group: in use, and not owned by the admin.
    im.fails("group_open_http_svc/create_group", body, 10021)
        .await;
}
