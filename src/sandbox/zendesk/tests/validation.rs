//! 400 and 422 answers, and that a refused request changes nothing.

use reqwest::header;
use serde_json::json;

use super::{assert_record_invalid, json_of, TestZendesk};

#[tokio::test]
async fn create_without_a_comment_is_record_invalid_on_base() {
    let zd = TestZendesk::start().await;

    let resp = zd
        .create_ticket(json!({"ticket": {"subject": "No body"}}))
        .await;
    let body = assert_record_invalid(resp, "base").await;
    assert_eq!(
        body["details"]["base"][0],
        json!({"description": "Description: cannot be blank", "error": "BlankValue"})
    );

    let blank = zd
        .create_ticket(json!({"ticket": {"comment": {"body": "   ", "html_body": "<p></p>"}}}))
        .await;
    assert_record_invalid(blank, "base").await;
    assert!(zd.emu.tickets().is_empty());
}

#[tokio::test]
async fn create_with_a_bad_requester_email_is_refused_and_creates_nobody() {
    let zd = TestZendesk::start().await;

    let resp = zd
        .create_ticket(json!({"ticket": {
            "comment": {"body": "hi"}, "requester": {"name": "Eve", "email": "eve@nowhere"}
        }}))
        .await;

    let body = assert_record_invalid(resp, "requester").await;
    assert_eq!(body["details"]["requester"][0]["error"], "InvalidValue");
    assert!(zd.emu.user_by_email("eve@nowhere").is_none());
    assert!(zd.emu.tickets().is_empty());
}

#[tokio::test]
async fn unknown_requester_or_submitter_ids_are_refused() {
    let zd = TestZendesk::start().await;

    let resp = zd
        .create_ticket(json!({"ticket": {"comment": {"body": "hi"}, "requester_id": 424242}}))
        .await;
    assert_record_invalid(resp, "requester_id").await;
    let resp = zd
        .create_ticket(json!({"ticket": {"comment": {"body": "hi"}, "submitter_id": 424242}}))
        .await;
    assert_record_invalid(resp, "submitter_id").await;
}

#[tokio::test]
async fn a_non_agent_assignee_is_refused_on_create_and_update() {
    let zd = TestZendesk::start().await;
    let end_user = zd.emu.seed_end_user("Dan", "dan@example.com");

    let resp = zd
        .create_ticket(json!({"ticket": {
            "comment": {"body": "hi"}, "assignee_id": end_user,
            "requester": {"name": "Fay", "email": "fay@example.com"}
        }}))
        .await;
    assert_record_invalid(resp, "assignee_id").await;
    // All-or-nothing: the requester of the refused ticket was not created either.
    assert!(zd.emu.user_by_email("fay@example.com").is_none());

    let id = zd.simple_ticket().await;
    let resp = zd
        .update_ticket(
            id,
            json!({"ticket": {"assignee_id": end_user, "comment": {"body": "x"}}}),
        )
        .await;
    assert_record_invalid(resp, "assignee_id").await;
    let t = zd.emu.ticket(id);
    assert_eq!(t.as_ref().map(|t| t.assignee_id), Some(None));
    assert_eq!(t.map(|t| t.comments.len()), Some(1));
}

#[tokio::test]
async fn a_closed_ticket_cannot_be_updated() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;
    let closed = zd
        .update_ticket(id, json!({"ticket": {"status": "closed"}}))
        .await;
    assert_eq!(closed.status(), 200);

    let resp = zd
        .update_ticket(id, json!({"ticket": {"comment": {"body": "still there?"}}}))
        .await;

    assert_eq!(resp.status(), 422);
    assert_eq!(
        json_of(resp).await,
        json!({"error": "RecordInvalid", "description": "Record validation errors",
               "details": {"status": [{"description": "Status: closed prevents ticket update"}]}})
    );
    assert_eq!(zd.emu.ticket(id).map(|t| t.comments.len()), Some(1));
}

#[tokio::test]
async fn invalid_field_values_are_refused() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;

    let resp = zd
        .create_ticket(json!({"ticket": {"comment": {"body": "hi"}, "status": "closed"}}))
        .await;
    assert_record_invalid(resp, "status").await;
    let resp = zd
        .update_ticket(id, json!({"ticket": {"status": "done"}}))
        .await;
    assert_record_invalid(resp, "status").await;
    let resp = zd
        .update_ticket(id, json!({"ticket": {"priority": "asap"}}))
        .await;
    assert_record_invalid(resp, "priority").await;
    let resp = zd
        .update_ticket(id, json!({"ticket": {"comment": {"body": ""}}}))
        .await;
    assert_record_invalid(resp, "base").await;
    let resp = zd
        .update_ticket(id, json!({"ticket": {"assignee_id": "7"}}))
        .await;
    assert_record_invalid(resp, "assignee_id").await;
    assert_eq!(zd.emu.ticket(id).map(|t| t.status), Some("new".to_owned()));
}

#[tokio::test]
async fn bodies_that_are_not_json_are_400() {
    let zd = TestZendesk::start().await;
    let auth = TestZendesk::admin_auth();
    let post = |content_type: Option<&'static str>, body: &'static str| {
        let mut req = zd
            .http
            .post(zd.url("/api/v2/tickets.json"))
            .header(header::AUTHORIZATION, auth.clone())
            .body(body);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        zd.send(req)
    };

    let malformed = post(Some("application/json"), "{\"ticket\": {\"comment\": ").await;
    assert_eq!(malformed.status(), 400);
    let body = json_of(malformed).await;
    assert_eq!(body["error"], "InvalidJSON");
    assert!(body["description"].is_string());

    let valid = r#"{"ticket":{"comment":{"body":"hi"}}}"#;
    let no_type = post(None, valid).await;
    assert_eq!(no_type.status(), 400);
    assert!(json_of(no_type).await["error"].is_string());
    let form = post(Some("application/x-www-form-urlencoded"), valid).await;
    assert_eq!(form.status(), 400);

    let no_root = post(Some("application/json"), r#"{"comment":{"body":"hi"}}"#).await;
    assert_eq!(no_root.status(), 400);

    let put = zd
        .send(
            zd.http
                .put(zd.url("/api/v2/tickets/1.json"))
                .header(header::AUTHORIZATION, auth.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body("not json"),
        )
        .await;
    assert_eq!(put.status(), 400);
    assert!(zd.emu.tickets().is_empty());
}
