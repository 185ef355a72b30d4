//! The IM client against the IM emulator: every command, and how failures are classified.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use ticket_bridge::im::types::{NewGroup, TextMessage};
use ticket_bridge::im::ImError;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::{im_client, Upstreams, ADMIN};

fn group(id: &str, members: &[&str]) -> NewGroup {
    NewGroup {
        group_id: id.into(),
        name: "Test".into(),
        group_type: "Public".into(),
        apply_join_option: "FreeAccess".into(),
        introduction: Some("intro".into()),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn text(group_id: &str, random: u32, text: &str) -> TextMessage {
    TextMessage {
        group_id: group_id.into(),
        from: None,
        random,
        text: text.into(),
        cloud_custom_data: None,
    }
}

#[tokio::test]
async fn every_command_works_against_the_emulator() {
    let up = Upstreams::start().await;
    let im = im_client(&up.im_served.base_url, Duration::from_secs(2));

    im.account_import("cust", None).await.unwrap();
    im.account_import("agent", Some("Agent Smith"))
        .await
        .unwrap();
    assert_eq!(
        up.im.account("agent").unwrap().nick.as_deref(),
        Some("Agent Smith")
    );

    let id = im
        .create_group(&group("ZENDESK#1", &["cust"]))
        .await
        .unwrap();
    assert_eq!(id, "ZENDESK#1");

    let added = im
        .add_group_member("ZENDESK#1", &["agent", "cust"], true)
        .await
        .unwrap();
    let result = |acc: &str| added.iter().find(|m| m.account == acc).unwrap().result;
    assert_eq!(
        (result("agent"), result("cust")),
        (1, 2),
        "added / already a member"
    );

    let sent = im
        .send_group_msg(&text("ZENDESK#1", 7, "hello"))
        .await
        .unwrap();
    im.send_group_system_notification("ZENDESK#1", "notice")
        .await
        .unwrap();

    let info = im
        .get_group_info(&["ZENDESK#1", "ZENDESK#404"])
        .await
        .unwrap();
    assert_eq!(info.len(), 2);
    let found = info.iter().find(|g| g.group_id == "ZENDESK#1").unwrap();
    assert_eq!(found.error_code, 0);
    assert_eq!(found.introduction, "intro");
    assert!(found.member_list.iter().any(|m| m.account == "agent"));
    assert_ne!(
        info.iter()
            .find(|g| g.group_id == "ZENDESK#404")
            .unwrap()
            .error_code,
        0
    );

    let history = im
        .group_msg_get_simple("ZENDESK#1", 20, None)
        .await
        .unwrap();
    let mine = history
        .messages
        .iter()
        .find(|m| Some(m.seq) == sent.msg_seq)
        .unwrap();
    assert_eq!(mine.from, ADMIN);
    assert_eq!(mine.random, 7);

    im.delete_group_member("ZENDESK#1", &["agent"], Some("reassigned"), true)
        .await
        .unwrap();
    assert!(!up
        .im
        .group("ZENDESK#1")
        .unwrap()
        .members
        .contains(&"agent".to_owned()));

    im.destroy_group("ZENDESK#1").await.unwrap();
    assert!(up.im.group("ZENDESK#1").is_none());
}

#[tokio::test]
async fn a_repeated_random_does_not_post_twice() {
    let up = Upstreams::start().await;
    let im = im_client(&up.im_served.base_url, Duration::from_secs(2));
    im.create_group(&group("G", &[])).await.unwrap();

    im.send_group_msg(&text("G", 42, "once")).await.unwrap();
    im.send_group_msg(&text("G", 42, "once")).await.unwrap();

    let texts = up
        .im
        .group("G")
        .unwrap()
        .messages
        .iter()
        .filter(|m| !m.system)
        .count();
    assert_eq!(texts, 1);
}

#[tokio::test]
async fn errors_are_classified_retryable_or_permanent() {
    let up = Upstreams::start().await;
    let im = im_client(&up.im_served.base_url, Duration::from_millis(500));

    // A member that was never imported: the request is wrong, retrying won't help.
    let err = im.create_group(&group("G1", &["ghost"])).await.unwrap_err();
    assert_eq!(err.code(), Some(10019), "{err}");
    assert!(!err.is_retryable());

    im.create_group(&group("G2", &[])).await.unwrap();
    let err = im.create_group(&group("G2", &[])).await.unwrap_err();
    assert!(matches!(err.code(), Some(10021) | Some(10025)), "{err}");
    assert!(!err.is_retryable());

    up.im.faults().inject(FaultRule::new(
        "",
        Fault::Respond {
            status: StatusCode::OK,
            body: json!({"ActionStatus": "FAIL", "ErrorCode": 10002, "ErrorInfo": "internal"}),
        },
        1,
    ));
    let err = im.destroy_group("G2").await.unwrap_err();
    assert!(err.is_retryable() && err.code() == Some(10002), "{err}");

    up.im
        .faults()
        .inject(FaultRule::new("", Fault::LoseResponse, 1));
    let err = im.destroy_group("G2").await.unwrap_err();
    assert!(
        matches!(err, ImError::Http { status: 502, .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(
        up.im.group("G2").is_none(),
        "the work was done before the response was lost"
    );

    up.im
        .faults()
        .inject(FaultRule::new("", Fault::Delay(Duration::from_secs(2)), 1));
    let err = im.account_import("x", None).await.unwrap_err();
    assert!(
        matches!(err, ImError::Timeout { .. }) && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn the_admin_sig_is_checked_by_the_emulator() {
    let up = Upstreams::start().await;
    // A client whose admin is not an App admin of the emulated app.
    let signer = ticket_bridge::usersig::UserSigner::new(
        crate::helpers::SDKAPPID,
        ticket_bridge::secret::Secret::new("wrong-key"),
    );
    let im = ticket_bridge::im::ImClient::new(
        ticket_bridge::upstream::HttpClient::new().expect("HTTP client"),
        up.im_served.base_url.clone(),
        crate::helpers::SDKAPPID,
        ticket_bridge::usersig::AdminSig::new(signer, ADMIN, Duration::from_secs(3600)),
        Duration::from_secs(2),
    );
    let err = im.account_import("x", None).await.unwrap_err();
    assert_eq!(err.code(), Some(70009), "{err}");
    assert!(!err.is_retryable());
}
