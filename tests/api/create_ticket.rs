//! `POST /createticket`: the happy path, reuse, and every class of bad input.

use serde_json::{json, Value};

use crate::helpers::{assert_error, case, spawn_app, spawn_app_with, ADMIN};

#[tokio::test]
async fn a_case_creates_one_ticket_one_group_and_one_greeting() {
    let app = spawn_app().await;

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let ticket_id = body["TicketId"].as_u64().expect("TicketId");
    let group_id = format!("ZENDESK#{ticket_id}");
    assert_eq!(
        body,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","GroupId":group_id,"TicketId":ticket_id,"Reused":false})
    );

    let tickets = app.zendesk.tickets();
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    assert_eq!(ticket.id, ticket_id);
    assert_eq!(ticket.subject, "Refund");
    assert_eq!(ticket.description, "Order 42 arrived broken");
    assert!(ticket.tags.contains(&"tencent_im".to_owned()));
    let requester = app
        .zendesk
        .user(ticket.requester_id)
        .expect("requester exists");
    assert_eq!(requester.name, "Alice Example");
    assert_eq!(requester.email.as_deref(), Some("alice@example.com"));
    assert_eq!(requester.role, "end-user");
    assert_eq!(requester.external_id.as_deref(), Some("tencent_im:alice"));
    assert_eq!(ticket.submitter_id, ticket.requester_id);
    assert_eq!(
        ticket.comments[0].author_id, ticket.requester_id,
        "the customer, not the bridge's agent, wrote the description"
    );

    // The 200 means the chat can open; the greeting follows within moments.
    app.wait_for_jobs().await;
    let groups = app.im.groups();
    assert_eq!(groups.len(), 1);
    let group = app.im.group(&group_id).expect("group ZENDESK#<id>");
    assert_eq!(group.group_type, "Public");
    assert_eq!(group.apply_join_option, "FreeAccess");
    assert_eq!(group.name, "Refund");
    assert!(group.members.contains(&"alice".to_owned()));
    let greetings: Vec<_> = group.messages.iter().filter(|m| !m.system).collect();
    assert_eq!(
        greetings.len(),
        1,
        "exactly one greeting: {:?}",
        group.messages
    );
    assert_eq!(greetings[0].from, ADMIN);
    let text = greetings[0].body[0]["MsgContent"]["Text"].as_str().unwrap();
    assert!(text.contains(&format!("#{ticket_id}")), "{text}");
}

#[tokio::test]
async fn optional_fields_get_their_defaults() {
    let app = spawn_app().await;

    let resp = app
        .create_ticket(
            &json!({"userId": "bob", "caseInfo": {"desc": "The app crashes\nwhen I pay"}}),
        )
        .await;

    assert_eq!(resp.status(), 200);
    let ticket = &app.zendesk.tickets()[0];
    assert_eq!(ticket.subject, "The app crashes");
    let requester = app.zendesk.user(ticket.requester_id).unwrap();
    assert_eq!(requester.name, "Anonymous customer");
    assert_eq!(requester.email, None);
    assert_eq!(requester.external_id.as_deref(), Some("tencent_im:bob"));
}

#[tokio::test]
async fn a_customer_without_email_keeps_one_zendesk_identity_of_their_own() {
    let app = spawn_app().await;
    let case = |user: &str| json!({"userId": user, "caseInfo": {"desc": "help", "name": user}});

    for user in ["Bob", "Bob", "bob"] {
        assert_eq!(app.create_ticket(&case(user)).await.status(), 200);
    }

    let tickets = app.zendesk.tickets();
    assert_eq!(tickets.len(), 3);
    assert_eq!(
        tickets[0].requester_id, tickets[1].requester_id,
        "Bob twice: one user"
    );
    assert_ne!(
        tickets[0].requester_id, tickets[2].requester_id,
        "bob is someone else"
    );
    let upper = app
        .zendesk
        .user_by_external_id("tencent_im:^bob")
        .expect("Bob's user");
    assert_eq!(upper.id, tickets[0].requester_id);
}

#[tokio::test]
async fn an_email_that_belongs_to_someone_else_does_not_make_them_the_requester() {
    let app = spawn_app().await;
    let ceo = app.zendesk.seed_end_user("The CEO", "ceo@acme.test");
    let mut body = case("mallory");
    body["caseInfo"]["email"] = json!("CEO@acme.test");

    let resp = app.create_ticket(&body).await;

    assert_eq!(resp.status(), 200);
    let ticket = &app.zendesk.tickets()[0];
    assert_ne!(ticket.requester_id, ceo);
    let requester = app.zendesk.user(ticket.requester_id).unwrap();
    assert_eq!(requester.external_id.as_deref(), Some("tencent_im:mallory"));
    assert_eq!(requester.email, None);
}

#[tokio::test]
async fn a_returning_customer_costs_one_zendesk_call() {
    let app = spawn_app().await;
    app.create_ticket(&case("alice")).await;
    assert_eq!(
        app.zendesk.request_count(),
        2,
        "new customer: create user, create ticket"
    );

    let resp = app.create_ticket(&case("alice")).await;

    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.zendesk.request_count(),
        3,
        "returning customer: create ticket only"
    );
    let tickets = app.zendesk.tickets();
    assert_eq!(tickets[0].requester_id, tickets[1].requester_id);
}

#[tokio::test]
async fn a_long_subject_still_makes_a_valid_group_name() {
    let app = spawn_app().await;
    let subject = "Überweisung nicht angekommen, bitte dringend prüfen";
    let mut body = case("carol");
    body["caseInfo"]["subject"] = json!(subject);

    let resp = app.create_ticket(&body).await;

    assert_eq!(resp.status(), 200);
    let group = &app.im.groups()[0];
    assert!(
        group.name.len() <= 30 && subject.starts_with(&group.name),
        "{}",
        group.name
    );
    assert_eq!(app.zendesk.tickets()[0].subject, subject);
}

#[tokio::test]
async fn reuse_returns_the_open_ticket_and_opens_a_new_one_once_it_is_solved() {
    let app = spawn_app().await;
    let first: Value = app.create_ticket(&case("dave")).await.json().await.unwrap();
    let mut again = case("dave");
    again["reuse"] = json!(true);

    let reused: Value = app.create_ticket(&again).await.json().await.unwrap();

    assert_eq!(reused["TicketId"], first["TicketId"]);
    assert_eq!(reused["GroupId"], first["GroupId"]);
    assert_eq!(reused["Reused"], true);
    assert_eq!(app.zendesk.tickets().len(), 1);
    assert_eq!(app.im.groups().len(), 1);

    // Another customer's open ticket is never reused.
    let mut other = case("erin");
    other["reuse"] = json!(true);
    let theirs: Value = app.create_ticket(&other).await.json().await.unwrap();
    assert_ne!(theirs["TicketId"], first["TicketId"]);
    assert_eq!(theirs["Reused"], false);

    // Once the agent solves it in Zendesk, a new case opens a new ticket.
    let id = first["TicketId"].as_u64().unwrap();
    app.zendesk_client()
        .update_ticket(
            id,
            &ticket_bridge::zendesk::types::TicketUpdate {
                status: Some("solved".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let fresh: Value = app.create_ticket(&again).await.json().await.unwrap();
    assert_ne!(fresh["TicketId"], first["TicketId"]);
    assert_eq!(fresh["Reused"], false);
    assert_eq!(app.zendesk.tickets().len(), 3);
}

/// One bad request: its content type (`None` = no header), body, and the expected error.
struct BadRequest {
    content_type: Option<&'static str>,
    body: String,
    code: &'static str,
    says: &'static str,
}

fn bad(
    content_type: Option<&'static str>,
    body: impl ToString,
    code: &'static str,
    says: &'static str,
) -> BadRequest {
    BadRequest {
        content_type,
        body: body.to_string(),
        code,
        says,
    }
}

#[tokio::test]
async fn bad_input_gets_a_400_naming_the_problem_and_creates_nothing() {
    let app = spawn_app().await;
    let json = Some("application/json");
    let cases = [
        bad(json, "{\"userId\": ", "invalid_json", "not valid JSON"),
        bad(json, "[]", "invalid_json", "JSON object"),
        bad(None, case("alice"), "invalid_content_type", "Content-Type"),
        bad(
            Some("application/x-www-form-urlencoded"),
            "userId=alice",
            "invalid_content_type",
            "application/json",
        ),
        bad(
            json,
            json!({"caseInfo": {"desc": "x"}}),
            "invalid_field",
            "userId is required",
        ),
        bad(
            json,
            json!({"userId": "a".repeat(33), "caseInfo": {"desc": "x"}}),
            "invalid_field",
            "32 bytes",
        ),
        bad(
            json,
            json!({"userId": "alice", "caseInfo": {"subject": "x"}}),
            "invalid_field",
            "caseInfo.desc is required",
        ),
        bad(
            json,
            json!({"userId": "alice", "caseInfo": {"desc": "d".repeat(64 * 1024 + 1)}}),
            "invalid_field",
            "65536 bytes",
        ),
        bad(
            json,
            json!({"userId": "alice", "caseInfo": {"desc": "x", "subject": "s".repeat(256)}}),
            "invalid_field",
            "255",
        ),
        bad(
            json,
            json!({"userId": "alice", "caseInfo": {"desc": "x", "email": "alice-at-example"}}),
            "invalid_field",
            "caseInfo.email",
        ),
        bad(
            json,
            json!({"userId": "alice", "caseInfo": {"desc": "x"}, "reuse": "yes"}),
            "invalid_field",
            "reuse",
        ),
    ];
    let auth = ("Authorization", format!("UserSig {}", app.usersig("alice")));
    for c in cases {
        let mut headers = vec![auth.clone()];
        if let Some(ct) = c.content_type {
            headers.push(("Content-Type", ct.to_owned()));
        }
        let err = assert_error(app.post_raw(&headers, c.body.clone()).await, 400, c.code).await;
        assert!(
            err["ErrorInfo"].as_str().unwrap().contains(c.says),
            "{}: {err}",
            c.body
        );
    }

    let huge = "x".repeat(256 * 1024 + 1);
    let headers = [auth, ("Content-Type", "application/json".to_owned())];
    assert_error(app.post_raw(&headers, huge).await, 413, "payload_too_large").await;

    app.assert_nothing_created();
    assert_eq!(
        app.zendesk.request_count(),
        0,
        "Zendesk was not even called"
    );
}

#[tokio::test]
async fn open_client_auth_accepts_callers_without_a_usersig() {
    let app = spawn_app_with(|env| {
        env.insert("CLIENT_AUTH".into(), "none".into());
    })
    .await;

    let resp = app
        .post_raw(
            &[("Content-Type", "application/json".to_owned())],
            case("frank").to_string(),
        )
        .await;

    assert_eq!(resp.status(), 200);
    assert_eq!(app.zendesk.tickets().len(), 1);
}
