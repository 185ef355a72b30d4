//! Comments as the bridge mirrors them: audit metadata, the channel each comment came through,
//! internal notes, attachments, the events agents' and requesters' comments cause, newest-first
//! listing, and the count of 429s the emulator answered.

use std::time::Duration;

use serde_json::{json, Value};

use super::webhook_events::{endpoint, Receiver};
use super::webhooks::event_webhook;
use super::{assert_record_invalid, json_of, text_of, TestZendesk};
use crate::sandbox::faults::{Fault, FaultRule};

impl TestZendesk {
    /// The ticket's comments, oldest first (one page of at most 100).
    async fn comments(&self, ticket: u64) -> Vec<Value> {
        let resp = self
            .get(&format!("/api/v2/tickets/{ticket}/comments.json"))
            .await;
        assert_eq!(resp.status(), 200);
        match json_of(resp).await["comments"].take() {
            Value::Array(list) => list,
            other => panic!("no comments list: {other}"),
        }
    }

    /// Adds a public comment through `PUT /tickets/{id}` and returns the response body.
    async fn put_comment(&self, ticket: u64, body: &str, metadata: Value) -> Value {
        let resp = self
            .update_ticket(
                ticket,
                json!({"ticket": {"comment": {"body": body, "public": true}, "metadata": metadata}}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        json_of(resp).await
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn audit_metadata_is_the_custom_metadata_of_the_audit_and_its_comment() {
    let zd = TestZendesk::start().await;
    let created = zd
        .create_ticket(json!({"ticket": {
            "comment": {"body": "It broke"}, "metadata": {"ticket_bridge_batch": "b-0"},
            "requester": {"name": "Carol", "email": "carol@example.com"}
        }}))
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    assert_eq!(
        created["audit"]["metadata"]["custom"],
        json!({"ticket_bridge_batch": "b-0"})
    );
    let ticket = created["ticket"]["id"].as_u64().unwrap_or(0);

    let updated = zd
        .put_comment(ticket, "From chat", json!({"ticket_bridge_batch": "b-1"}))
        .await;
    let audit = &updated["audit"];
    assert_eq!(audit["metadata"]["custom"]["ticket_bridge_batch"], "b-1");
    assert!(audit["metadata"]["system"].is_object());
    assert_eq!(audit["via"]["channel"], "api");
    // Write only: the ticket doesn't show it.
    assert!(updated["ticket"].get("metadata").is_none());

    // "The data is specified in the custom property": what is sent is kept whole, so a
    // `custom` key sent in it is nested one level down.
    zd.put_comment(
        ticket,
        "Nested",
        json!({"custom": {"ticket_bridge_batch": "b-2"}}),
    )
    .await;
    zd.update_ticket(
        ticket,
        json!({"ticket": {"comment": {"body": "No metadata"}}}),
    )
    .await;

    let customs: Vec<Value> = zd
        .comments(ticket)
        .await
        .iter()
        .map(|c| c["metadata"]["custom"].clone())
        .collect();
    assert_eq!(
        customs,
        vec![
            json!({"ticket_bridge_batch": "b-0"}),
            json!({"ticket_bridge_batch": "b-1"}),
            json!({"custom": {"ticket_bridge_batch": "b-2"}}),
            json!({}),
        ]
    );
    let stored = zd
        .emu
        .ticket(ticket)
        .map(|t| t.comments)
        .unwrap_or_default();
    assert_eq!(
        stored.get(1).map(|c| c.metadata_custom.clone()),
        Some(json!({"ticket_bridge_batch": "b-1"}))
    );
}

#[tokio::test]
async fn metadata_that_is_not_an_object_is_refused_and_nothing_is_written() {
    let zd = TestZendesk::start().await;
    let ticket = zd.simple_ticket().await;
    let before = zd.emu.ticket(ticket).map(|t| t.updated_at);

    for metadata in [json!("b-1"), json!(7), json!(["b-1"]), Value::Null] {
        let resp = zd
            .update_ticket(
                ticket,
                json!({"ticket": {"comment": {"body": "lost"}, "status": "open", "metadata": metadata}}),
            )
            .await;
        let body = assert_record_invalid(resp, "metadata").await;
        assert_eq!(body["details"]["metadata"][0]["error"], "InvalidValue");
    }
    let t = zd.emu.ticket(ticket);
    assert_eq!(t.as_ref().map(|t| t.comments.len()), Some(1));
    assert_eq!(t.as_ref().map(|t| t.status.as_str()), Some("new"));
    assert_eq!(t.map(|t| t.updated_at), before);

    let resp = zd
        .create_ticket(json!({"ticket": {"comment": {"body": "hi"}, "metadata": "b-1"}}))
        .await;
    assert_record_invalid(resp, "metadata").await;
    assert_eq!(zd.emu.tickets().len(), 1);
}

#[tokio::test]
async fn each_comment_records_the_channel_it_came_through() {
    let zd = TestZendesk::start().await;
    let ticket = zd.simple_ticket().await;
    let carol = zd.carol();
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");
    zd.put_comment(ticket, "By API", json!({})).await;
    ok(zd.emu.add_public_comment(ticket, agent, "By agent"));
    let note = ok(zd.emu.add_internal_note(ticket, agent, "Between us"));
    let reply = ok(zd.emu.add_email_reply(ticket, "By mail"));
    let log = ok(zd.emu.add_public_comment_with_attachment(
        ticket,
        agent,
        "Log attached",
        "crash.log",
        "https://files.example.com/crash.log",
        2532,
    ));

    let stored = zd
        .emu
        .ticket(ticket)
        .map(|t| t.comments)
        .unwrap_or_default();
    let seen: Vec<(&str, u64, bool)> = stored
        .iter()
        .map(|c| (c.via.as_str(), c.author_id, c.public))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("api", carol, true),
            ("api", zd.emu.admin_id(), true),
            ("web", agent, true),
            ("web", agent, false),
            ("email", carol, true),
            ("web", agent, true),
        ]
    );

    let listed = zd.comments(ticket).await;
    let by_id = |id: u64| {
        listed
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(listed[0]["via"]["channel"], "api");
    assert_eq!(by_id(note)["via"]["channel"], "web");
    assert_eq!(by_id(note)["public"], false);
    let mail = by_id(reply);
    assert_eq!(mail["via"]["channel"], "email");
    assert_eq!(
        mail["via"]["source"]["from"],
        json!({"address": "carol@example.com", "name": "Carol"})
    );
    assert_eq!(mail["author_id"], carol);
    let attachments = &by_id(log)["attachments"];
    assert_eq!(attachments.as_array().map(Vec::len), Some(1));
    let a = &attachments[0];
    assert_eq!(a["file_name"], "crash.log");
    assert_eq!(a["content_url"], "https://files.example.com/crash.log");
    assert_eq!(a["content_type"], "text/plain");
    assert_eq!(a["size"], 2532);
    assert!(a["id"].is_u64() && a["thumbnails"] == json!([]));
    assert_eq!(listed[0]["attachments"], json!([]));

    assert!(zd.emu.add_email_reply(999, "nobody").is_err());
    assert!(zd.emu.add_internal_note(ticket, 424_242, "ghost").is_err());
}

#[tokio::test]
async fn email_replies_and_agent_comments_cause_comment_added_events() {
    let zd = TestZendesk::fast_webhooks().await;
    let (rx, served) = Receiver::start(&[]).await;
    zd.new_webhook(&event_webhook(
        "comments",
        &endpoint(&served),
        &["comment_added"],
    ))
    .await;
    let ticket = zd.simple_ticket().await;
    let agent = zd.emu.seed_agent("Agnes", "agnes@example.com");

    let reply = ok(zd.emu.add_email_reply(ticket, "Still broken"));
    zd.emu.idle().await;
    let from_agent = ok(zd.emu.add_public_comment(ticket, agent, "Try again now"));
    zd.emu.idle().await;

    let events: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
    assert_eq!(events.len(), 2);
    let carol = zd.carol().to_string();
    let mail = &events[0];
    assert_eq!(mail["detail"]["actor_id"], carol);
    assert_eq!(
        mail["event"]["comment"],
        json!({
            "id": reply.to_string(), "body": "Still broken",
            "html_body": mail["event"]["comment"]["html_body"], "is_public": true,
            "author": {"id": carol, "name": "Carol", "is_staff": false}
        })
    );
    let web = &events[1]["event"]["comment"];
    assert_eq!(web["id"], from_agent.to_string());
    assert_eq!(web["is_public"], true);
    assert_eq!(
        web["author"],
        json!({"id": agent.to_string(), "name": "Agnes", "is_staff": true})
    );
    // Only the documented fields: no channel, metadata or attachments.
    for e in &events {
        let keys: Vec<&str> = e["event"]["comment"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["author", "body", "html_body", "id", "is_public"]);
    }
}

#[tokio::test]
async fn comments_list_newest_first_with_offset_and_cursor_pages() {
    let zd = TestZendesk::start().await;
    let ticket = zd.simple_ticket().await;
    for body in ["two", "three"] {
        zd.put_comment(ticket, body, json!({})).await;
    }
    let bodies = |v: &Value| -> Vec<String> {
        v["comments"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let path = format!("/api/v2/tickets/{ticket}/comments");

    let offset = json_of(zd.get(&format!("{path}?sort_order=desc")).await).await;
    assert_eq!(bodies(&offset), ["three", "two", "It broke"]);
    let cursor = json_of(
        zd.get(&format!("{path}?page[size]=2&sort=-created_at"))
            .await,
    )
    .await;
    assert_eq!(bodies(&cursor), ["three", "two"]);
    let after = cursor["meta"]["after_cursor"].as_str().unwrap_or_default();
    let rest = json_of(
        zd.get(&format!(
            "{path}?page[size]=2&sort=-created_at&page[after]={after}"
        ))
        .await,
    )
    .await;
    assert_eq!(bodies(&rest), ["It broke"]);
    assert_eq!(rest["meta"]["has_more"], false);

    let bad = zd.get(&format!("{path}?sort_order=newest")).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn rate_limited_count_counts_only_the_emulators_own_429s() {
    let zd = TestZendesk::start().await;
    let ticket = zd.simple_ticket().await;

    // The 31st update of one ticket by one user within 10 minutes.
    for i in 0..30 {
        zd.put_comment(ticket, &format!("msg {i}"), json!({})).await;
    }
    assert_eq!(zd.emu.rate_limited_count(), 0);
    let resp = zd
        .update_ticket(ticket, json!({"ticket": {"comment": {"body": "31st"}}}))
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(zd.emu.rate_limited_count(), 1);

    // The 101st Update Ticket request within a minute, over four fresh tickets.
    zd.emu.advance_clock(Duration::from_secs(600));
    let mut tickets = Vec::new();
    for _ in 0..4 {
        tickets.push(zd.simple_ticket().await);
    }
    for i in 0..100 {
        let t = tickets[i % tickets.len()];
        zd.put_comment(t, &format!("burst {i}"), json!({})).await;
    }
    let resp = zd
        .update_ticket(tickets[0], json!({"ticket": {"priority": "low"}}))
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        text_of(resp).await,
        "Number of allowed ticket update requests per minute exceeded"
    );
    assert_eq!(zd.emu.rate_limited_count(), 2);
    // Agent UI updates count toward the Update Ticket endpoint limit too (spec §3.2).
    let ui = zd.emu.add_public_comment(ticket, zd.carol(), "from the UI");
    assert!(ui.is_err_and(|e| e.starts_with("429")));
    assert_eq!(zd.emu.rate_limited_count(), 3);

    // An injected 429 is a fault, not the emulator's limit.
    zd.emu.faults().inject(FaultRule::new(
        "/api/v2/users/me",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    ));
    assert_eq!(zd.get("/api/v2/users/me").await.status(), 429);
    assert_eq!(zd.emu.rate_limited_count(), 3);
}

#[tokio::test]
async fn rate_limited_count_includes_the_account_limit() {
    let zd = TestZendesk::with_config(|c| c.rate_limit_per_minute = 1).await;
    assert_eq!(zd.get("/api/v2/users/me").await.status(), 200);
    assert_eq!(zd.get("/api/v2/users/me").await.status(), 429);
    assert_eq!(zd.emu.rate_limited_count(), 1);
}
