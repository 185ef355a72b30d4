//! The Zendesk client against the Zendesk emulator: calls, retries and error classes.

use axum::http::StatusCode;
use serde_json::json;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};
use ticket_bridge::zendesk::types::{NewComment, NewTicket, TicketRequester, TicketUpdate};
use ticket_bridge::zendesk::ZendeskError;

use crate::helpers::{zendesk_client, Upstreams, ZENDESK_TOKEN};

fn new_ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        comment: NewComment {
            body: "It broke".into(),
            public: true,
            author_id: None,
        },
        requester: TicketRequester::New {
            name: "Alice".into(),
            email: "alice@example.com".into(),
        },
        submitter_id: None,
        tags: vec!["tencent_im".into()],
        external_id: None,
    }
}

fn unavailable() -> Fault {
    Fault::Respond {
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: json!({"error": "Unavailable"}),
    }
}

#[tokio::test]
async fn create_read_update_and_users() {
    let up = Upstreams::start().await;
    let zd = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    let agent = up.zendesk.seed_agent("Sam Agent", "sam@acme.test");

    let t = zd
        .create_ticket(&new_ticket("Printer"), None)
        .await
        .unwrap();
    assert_eq!(
        zd.get_ticket(t.id).await.unwrap().subject.as_deref(),
        Some("Printer")
    );

    let updated = zd
        .update_ticket(
            t.id,
            &TicketUpdate {
                comment: Some(NewComment {
                    body: "On it".into(),
                    public: true,
                    author_id: Some(agent),
                }),
                status: Some("open".into()),
                assignee_id: Some(agent),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.status.as_str(), updated.assignee_id),
        ("open", Some(agent))
    );
    assert_eq!(up.zendesk.ticket(t.id).unwrap().comments.len(), 2);

    let user = zd.get_user(agent).await.unwrap();
    assert_eq!(user.name, "Sam Agent");
    assert!(matches!(
        zd.get_ticket(999_999).await,
        Err(ZendeskError::NotFound)
    ));
}

#[tokio::test]
async fn an_idempotency_key_makes_a_lost_create_safe_to_retry() {
    let up = Upstreams::start().await;
    let zd = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    up.zendesk
        .faults()
        .inject(FaultRule::new("/api/v2/tickets", Fault::LoseResponse, 1));

    let t = zd
        .create_ticket(&new_ticket("Once"), Some("case-1"))
        .await
        .unwrap();

    assert_eq!(
        up.zendesk.tickets().len(),
        1,
        "the retry replayed the first ticket"
    );
    assert_eq!(up.zendesk.tickets()[0].id, t.id);
    let err = zd
        .create_ticket(&new_ticket("Other"), Some("case-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::IdempotencyConflict), "{err}");
}

#[tokio::test]
async fn a_create_without_a_key_is_not_retried_after_an_ambiguous_failure() {
    let up = Upstreams::start().await;
    let zd = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    up.zendesk
        .faults()
        .inject(FaultRule::new("/api/v2/tickets", Fault::LoseResponse, 1));

    let err = zd
        .create_ticket(&new_ticket("Once"), None)
        .await
        .unwrap_err();

    assert!(
        matches!(err, ZendeskError::Unavailable { status: 502 }),
        "{err}"
    );
    assert_eq!(up.zendesk.tickets().len(), 1, "not created a second time");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_429_after_retry_after() {
    let up = Upstreams::start().await;
    let zd = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    let t = zd.create_ticket(&new_ticket("T"), None).await.unwrap();
    up.zendesk
        .faults()
        .inject(FaultRule::new("/api/v2/tickets/", unavailable(), 2));
    assert_eq!(zd.get_ticket(t.id).await.unwrap().id, t.id);

    up.zendesk.faults().inject(FaultRule::new(
        "",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    ));
    // A 429 means Zendesk did not process it: even a keyless create is retried.
    zd.create_ticket(&new_ticket("After 429"), None)
        .await
        .unwrap();
    assert_eq!(up.zendesk.tickets().len(), 2);
}

#[tokio::test]
async fn permanent_errors_are_classified() {
    let up = Upstreams::start().await;
    let bad = zendesk_client(&up.zendesk_served.base_url, "wrong-token");
    let err = bad.get_ticket(1).await.unwrap_err();
    assert!(
        matches!(err, ZendeskError::Unauthorized) && !err.is_retryable(),
        "{err}"
    );

    let zd = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    let mut t = new_ticket("Bad email");
    t.requester = TicketRequester::New {
        name: "Alice".into(),
        email: "not an email".into(),
    };
    let err = zd.create_ticket(&t, None).await.unwrap_err();
    assert!(
        matches!(err, ZendeskError::Rejected { status: 422, .. }) && !err.is_retryable(),
        "{err}"
    );
    assert!(err.to_string().contains("requester"), "{err}");

    up.zendesk
        .faults()
        .inject(FaultRule::always("", unavailable()));
    let err = zd.get_ticket(1).await.unwrap_err();
    assert!(
        matches!(err, ZendeskError::Unavailable { status: 503 }) && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn oauth_tokens_authenticate_as_bearer() {
    use std::time::Duration;
    use ticket_bridge::sandbox::zendesk::{ZendeskEmulator, ZendeskEmulatorConfig};
    use ticket_bridge::secret::Secret;
    use ticket_bridge::zendesk::{ZendeskAuth, ZendeskClient};

    let emulator = ZendeskEmulator::new(ZendeskEmulatorConfig {
        oauth_token: Some(Secret::new("oauth-access-token")),
        ..ZendeskEmulatorConfig::new("bridge@acme.test", Secret::new("api-token"))
    });
    let served = ticket_bridge::sandbox::serve(emulator.router(), 0)
        .await
        .unwrap();
    let client = |token: &str| {
        ZendeskClient::new(
            ticket_bridge::upstream::HttpClient::new().expect("HTTP client"),
            served.base_url.clone(),
            ZendeskAuth::OAuth {
                token: Secret::new(token),
            },
            Duration::from_secs(3),
        )
    };

    let t = client("oauth-access-token")
        .create_ticket(&new_ticket("Via OAuth"), None)
        .await
        .unwrap();
    assert_eq!(emulator.ticket(t.id).unwrap().subject, "Via OAuth");
    let err = client("revoked-token").get_ticket(t.id).await.unwrap_err();
    assert!(matches!(err, ZendeskError::Unauthorized), "{err}");
}
