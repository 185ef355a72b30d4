//! Ticket create / show / update, comments and users: the happy paths and 404s.

use serde_json::json;

use super::{header_str, json_of, TestZendesk};

#[tokio::test]
async fn create_with_requester_makes_the_user_who_authors_the_first_comment() {
    let zd = TestZendesk::start().await;

    let resp = zd
        .create_ticket(json!({"ticket": {
            "subject": "Refund", "comment": {"body": "Order 42 never arrived"},
            "requester": {"name": "Alice", "email": "Alice@Example.com"},
            "tags": ["Tencent_IM", "vip", "vip", "two words"], "external_id": "ZENDESK#pending",
            "priority": "high", "type": "question", "some_future_field": 1
        }}))
        .await;

    assert_eq!(resp.status(), 201);
    let location = header_str(&resp, "location").unwrap_or_default();
    assert_eq!(location, zd.url("/api/v2/tickets/1.json"));
    assert_eq!(header_str(&resp, "x-rate-limit").as_deref(), Some("700"));
    assert!(header_str(&resp, "x-idempotency-lookup").is_none());
    let body = json_of(resp).await;
    let t = &body["ticket"];
    let alice = zd.emu.user_by_email("alice@example.com");
    let alice_id = alice.as_ref().map(|u| u.id).unwrap_or(0);
    assert_eq!(
        alice.map(|u| (u.name, u.role)),
        Some(("Alice".into(), "end-user".into()))
    );
    assert_eq!(t["id"], 1);
    assert_eq!(t["url"], location);
    assert_eq!(t["subject"], "Refund");
    assert_eq!(t["raw_subject"], "Refund");
    assert_eq!(t["description"], "Order 42 never arrived");
    assert_eq!(t["status"], "new");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["type"], "question");
    assert_eq!(t["requester_id"], alice_id);
    assert_eq!(t["submitter_id"], alice_id);
    assert!(t["assignee_id"].is_null());
    assert_eq!(t["tags"], json!(["tencent_im", "vip", "two", "words"]));
    assert_eq!(t["external_id"], "ZENDESK#pending");
    assert_eq!(t["via"]["channel"], "api");
    assert!(t["created_at"]
        .as_str()
        .is_some_and(|s| s.len() == 20 && s.ends_with('Z')));
    assert_eq!(body["audit"]["ticket_id"], 1);
    assert_eq!(body["audit"]["events"][0]["type"], "Comment");

    let stored = zd.emu.ticket(1);
    let first = stored.as_ref().and_then(|t| t.comments.first().cloned());
    assert_eq!(first.as_ref().map(|c| c.author_id), Some(alice_id));
    assert_eq!(first.map(|c| c.public), Some(true));
    assert!(zd.emu.user(alice_id).is_some());
}

#[tokio::test]
async fn create_finds_an_existing_requester_by_email_and_defaults_the_rest() {
    let zd = TestZendesk::start().await;
    let bob = zd.emu.seed_end_user("Bob", "bob@example.com");
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");

    let first = zd
        .new_ticket(json!({"ticket": {
            "comment": {"body": "\nFirst line here\nsecond line"},
            "requester": {"name": "Robert", "email": "BOB@example.com"},
            "assignee_id": agent
        }}))
        .await;
    let second = zd
        .new_ticket(json!({"ticket": {"comment": {"body": "No requester given"}}}))
        .await;

    assert_eq!((first, second), (1, 2));
    let t1 = zd.emu.ticket(first);
    assert_eq!(t1.as_ref().map(|t| t.requester_id), Some(bob));
    assert_eq!(
        t1.as_ref().map(|t| t.subject.as_str()),
        Some("First line here")
    );
    assert_eq!(t1.as_ref().map(|t| t.status.as_str()), Some("open"));
    assert_eq!(zd.emu.user(bob).map(|u| u.name), Some("Bob".into()));
    let t2 = zd.emu.ticket(second);
    assert_eq!(t2.as_ref().map(|t| t.requester_id), Some(zd.emu.admin_id()));
    assert_eq!(
        t2.and_then(|t| t.comments.first().map(|c| c.author_id)),
        Some(zd.emu.admin_id())
    );
    assert_eq!(zd.emu.tickets().len(), 2);
}

#[tokio::test]
async fn get_ticket_with_and_without_json_suffix() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;

    for path in [
        format!("/api/v2/tickets/{id}"),
        format!("/api/v2/tickets/{id}.json"),
    ] {
        let resp = zd.get(&path).await;
        assert_eq!(resp.status(), 200);
        let body = json_of(resp).await;
        assert_eq!(body["ticket"]["id"], id);
        assert_eq!(body["ticket"]["subject"], "Help");
        assert!(body.get("audit").is_none());
    }
}

#[tokio::test]
async fn update_adds_a_comment_and_changes_status_and_assignee() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");

    let resp = zd
        .update_ticket(
            id,
            json!({"ticket": {
                "comment": {"body": "We are on it"}, "status": "pending", "assignee_id": agent
            }}),
        )
        .await;

    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["ticket"]["status"], "pending");
    assert_eq!(body["ticket"]["assignee_id"], agent);
    let events = body["audit"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        events.first().map(|e| e["type"].clone()),
        Some(json!("Comment"))
    );
    assert!(events
        .iter()
        .any(|e| e["field_name"] == "status" && e["previous_value"] == "new"));
    let t = zd.emu.ticket(id);
    assert_eq!(t.as_ref().map(|t| t.assignee_id), Some(Some(agent)));
    let last = t.and_then(|t| t.comments.last().cloned());
    assert_eq!(last.as_ref().map(|c| c.body.as_str()), Some("We are on it"));
    assert_eq!(last.as_ref().map(|c| c.author_id), Some(zd.emu.admin_id()));
    assert_eq!(last.map(|c| c.public), Some(true));
}

#[tokio::test]
async fn update_comment_author_and_privacy() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;
    let carol = zd
        .emu
        .user_by_email("carol@example.com")
        .map(|u| u.id)
        .unwrap_or(0);

    let resp = zd
        .update_ticket(
            id,
            json!({"ticket": {"comment": {"body": "From chat", "author_id": carol}}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = zd
        .update_ticket(
            id,
            json!({"ticket": {"comment": {"body": "note", "public": false}}}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let comments = zd.emu.ticket(id).map(|t| t.comments).unwrap_or_default();
    let seen: Vec<_> = comments.iter().map(|c| (c.author_id, c.public)).collect();
    assert_eq!(
        seen,
        vec![(carol, true), (carol, true), (zd.emu.admin_id(), false)]
    );
}

#[tokio::test]
async fn list_comments_in_order_with_offset_pages() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;
    zd.update_ticket(
        id,
        json!({"ticket": {"comment": {"html_body": "<p>Second &amp; last</p>"}}}),
    )
    .await;

    let resp = zd.get(&format!("/api/v2/tickets/{id}/comments.json")).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["count"], 2);
    assert!(body["next_page"].is_null() && body["previous_page"].is_null());
    let c = &body["comments"];
    assert_eq!(c[0]["type"], "Comment");
    assert_eq!(c[0]["body"], "It broke");
    assert_eq!(c[0]["plain_body"], "It broke");
    assert!(c[0]["html_body"]
        .as_str()
        .is_some_and(|h| h.contains("It broke")));
    assert_eq!(c[0]["public"], true);
    assert!(c[0]["author_id"].is_u64() && c[0]["created_at"].is_string());
    assert_eq!(c[1]["body"], "Second & last");
    assert_eq!(c[1]["html_body"], "<p>Second &amp; last</p>");

    let page = json_of(
        zd.get(&format!("/api/v2/tickets/{id}/comments?per_page=1"))
            .await,
    )
    .await;
    assert_eq!(page["comments"].as_array().map(Vec::len), Some(1));
    assert!(page["next_page"]
        .as_str()
        .is_some_and(|u| u.contains("page=2")));

    let cursor = json_of(
        zd.get(&format!(
            "/api/v2/tickets/{id}/comments?page[size]=1&sort=-created_at"
        ))
        .await,
    )
    .await;
    assert_eq!(cursor["comments"][0]["body"], "Second & last");
    assert_eq!(cursor["meta"]["has_more"], true);
}

#[tokio::test]
async fn users_show_and_me() {
    let zd = TestZendesk::start().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");

    let resp = zd.get(&format!("/api/v2/users/{agent}.json")).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["user"]["id"], agent);
    assert_eq!(body["user"]["name"], "Agnes");
    assert_eq!(body["user"]["email"], "agnes@example.com");
    assert_eq!(body["user"]["role"], "agent");
    assert_eq!(body["user"]["active"], true);
    assert_eq!(
        body["user"]["url"],
        zd.url(&format!("/api/v2/users/{agent}.json"))
    );

    let me = json_of(zd.get("/api/v2/users/me.json").await).await;
    assert_eq!(me["user"]["id"], zd.emu.admin_id());
    assert_eq!(me["user"]["role"], "admin");
    assert!(me["user"]["authenticity_token"].is_string());

    // "Allowed For: Anonymous users": no credentials at all is not a 401 here.
    let anon = zd.http.get(zd.url("/api/v2/users/me")).send().await;
    let anon = match anon {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(anon.status(), 200);
    let anon = json_of(anon).await;
    assert!(anon["user"]["id"].is_null());
    assert_eq!(anon["user"]["role"], "end-user");
}

#[tokio::test]
async fn unknown_records_are_404_record_not_found() {
    let zd = TestZendesk::start().await;
    let id = zd.simple_ticket().await;

    for path in [
        "/api/v2/tickets/999".to_owned(),
        "/api/v2/tickets/abc.json".to_owned(),
        "/api/v2/tickets/+1".to_owned(),
        "/api/v2/tickets/0".to_owned(),
        "/api/v2/tickets/999/comments.json".to_owned(),
        "/api/v2/users/42".to_owned(),
        format!("/api/v2/users/{id}x"),
    ] {
        let resp = zd.get(&path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            json_of(resp).await,
            json!({"error": "RecordNotFound", "description": "Not found"}),
            "{path}"
        );
    }
    let resp = zd
        .update_ticket(999, json!({"ticket": {"status": "open"}}))
        .await;
    assert_eq!(resp.status(), 404);

    let resp = zd.get("/api/v2/nothing_here.json").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(json_of(resp).await["error"], "InvalidEndpoint");
}
