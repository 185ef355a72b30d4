//! Rate limits: the account's per-minute budget and the per-(user, ticket) update limit.

use std::time::Duration;

use serde_json::json;

use super::{header_str, text_of, TestZendesk};

#[tokio::test]
async fn over_the_account_limit_is_429_until_the_window_resets() {
    let zd = TestZendesk::with_config(|c| c.rate_limit_per_minute = 3).await;

    for remaining in ["2", "1", "0"] {
        let resp = zd.get("/api/v2/users/me").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header_str(&resp, "x-rate-limit").as_deref(), Some("3"));
        assert_eq!(
            header_str(&resp, "x-rate-limit-remaining").as_deref(),
            Some(remaining)
        );
    }

    let limited = zd.get("/api/v2/users/me").await;
    assert_eq!(limited.status(), 429);
    assert!(header_str(&limited, "content-type").is_some_and(|c| c.starts_with("text/plain")));
    assert_eq!(
        header_str(&limited, "x-rate-limit-remaining").as_deref(),
        Some("0")
    );
    let retry_after: u64 = header_str(&limited, "retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        text_of(limited).await,
        "Number of allowed API requests per minute exceeded"
    );

    // Limited before authentication: bad credentials are 429 too while the window is spent.
    let anon = zd.get_as("/api/v2/users/me", "Basic junk").await;
    assert_eq!(anon.status(), 429);

    zd.emu.advance_clock(Duration::from_secs(retry_after));
    let after = zd.get("/api/v2/users/me").await;
    assert_eq!(after.status(), 200);
    assert_eq!(
        header_str(&after, "x-rate-limit-remaining").as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn an_unlimited_account_sends_no_rate_limit_headers() {
    let zd = TestZendesk::with_config(|c| c.rate_limit_per_minute = 0).await;
    let resp = zd.get("/api/v2/users/me").await;
    assert_eq!(resp.status(), 200);
    assert!(header_str(&resp, "x-rate-limit").is_none());
}

#[tokio::test]
async fn thirty_updates_per_ten_minutes_per_user_and_ticket() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;
    let other = zd.simple_ticket().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");
    let agent_auth = TestZendesk::basic("agnes@example.com", super::API_TOKEN);

    for i in 0..30 {
        let resp = zd
            .update_ticket(
                id,
                json!({"ticket": {"comment": {"body": format!("msg {i}")}}}),
            )
            .await;
        assert_eq!(resp.status(), 200, "update {i}");
    }
    let limited = zd
        .update_ticket(id, json!({"ticket": {"comment": {"body": "one too many"}}}))
        .await;
    assert_eq!(limited.status(), 429);
    assert!(header_str(&limited, "content-type").is_some_and(|c| c.starts_with("text/plain")));
    let retry_after: u64 = header_str(&limited, "retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        (1..=600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(zd.emu.ticket(id).map(|t| t.comments.len()), Some(31));

    // Other tickets, and other users on this ticket, have their own budget.
    assert_eq!(
        zd.update_ticket(other, json!({"ticket": {"priority": "low"}}))
            .await
            .status(),
        200
    );
    let by_agent = zd
        .update_ticket_as(id, json!({"ticket": {"assignee_id": agent}}), &agent_auth)
        .await;
    assert_eq!(by_agent.status(), 200);

    zd.emu.advance_clock(Duration::from_secs(retry_after));
    let later = zd
        .update_ticket(id, json!({"ticket": {"comment": {"body": "back again"}}}))
        .await;
    assert_eq!(later.status(), 200);
}
