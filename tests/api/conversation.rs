//! The conversation both ways: chat lines become public comments, public comments reach the
//! group, exactly once, with no echo, whatever is lost on the way.

use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};

use crate::helpers::*;

const CUSTOMER: &str = "alice";

/// The app with a case open for alice; (app, ticket).
async fn conversation() -> (TestApp, u64) {
    let app = spawn_conversation_app(|_| {}).await;
    let ticket = app.open_case(CUSTOMER).await;
    (app, ticket)
}

fn say(app: &TestApp, ticket: u64, from: &str, text: &str) -> u64 {
    app.im
        .client_send_text(&group_of(ticket), from, text)
        .unwrap_or_else(|e| panic!("{from} could not send: {e}"))
        .0
}

#[tokio::test]
async fn chat_lines_that_arrive_together_become_one_public_comment_by_the_requester() {
    let (app, ticket) = conversation().await;
    for line in ["Hello", "The vase was broken", "Can I get a refund?"] {
        say(&app, ticket, CUSTOMER, line);
    }
    app.settle().await;

    let comments = app.comments_after_description(ticket);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let c = &comments[0];
    let requester = app.zendesk.ticket(ticket).map(|t| t.requester_id);
    assert_eq!(Some(c.author_id), requester);
    assert!(c.public);
    let lines: Vec<&str> = c.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", c.body);
    for (line, text) in lines
        .iter()
        .zip(["Hello", "The vase was broken", "Can I get a refund?"])
    {
        assert!(line.ends_with(&format!("Alice Example: {text}")), "{line}");
        assert!(line.starts_with('[') && line.contains(" UTC] "), "{line}");
    }
    // The marker that lets a retry find it, and nothing echoed back to the chat.
    assert!(
        c.metadata_custom["ticket_bridge_batch"].is_string(),
        "{c:?}"
    );
    assert!(
        app.group_texts_from(ticket, ADMIN).len() == 1,
        "only the greeting"
    );
    assert_eq!(app.zendesk.rate_limited_count(), 0);
}

#[tokio::test]
async fn a_single_line_is_the_comment_and_an_agents_im_line_is_authored_by_the_agent() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    say(&app, ticket, CUSTOMER, "Any news?");
    app.settle().await;
    say(
        &app,
        ticket,
        &format!("zd_{agent}"),
        "Checking with the warehouse",
    );
    app.settle().await;

    let comments = app.comments_after_description(ticket);
    let bodies: Vec<(&str, u64)> = comments
        .iter()
        .map(|c| (c.body.as_str(), c.author_id))
        .collect();
    let requester = app.zendesk.ticket(ticket).map_or(0, |t| t.requester_id);
    assert_eq!(
        bodies,
        [
            ("Any news?", requester),
            ("Checking with the warehouse", agent)
        ]
    );
    assert!(comments.iter().all(|c| c.public));
}

#[tokio::test]
async fn every_element_type_reaches_the_ticket_in_a_readable_form() {
    let (app, ticket) = conversation().await;
    let body = json!([
        {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "img1", "ImageFormat": 1, "ImageInfoArray": [
            {"Type": 1, "Size": 20480, "Width": 640, "Height": 480, "URL": "https://cos.example/img1.jpg"}]}},
        {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://cos.example/receipt.pdf", "FileSize": 2048, "FileName": "receipt.pdf", "UUID": "f1", "Download_Flag": 2}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "Pickup point", "Latitude": 22.5, "Longitude": 114.1}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 2}}
    ]);
    app.im
        .client_send(&group_of(ticket), CUSTOMER, body, None)
        .expect("sent");
    app.settle().await;
    let comments = app.comments_after_description(ticket);
    assert_eq!(comments.len(), 1);
    let text = &comments[0].body;
    for part in [
        "[Image (640×480, 20.0 KB)] https://cos.example/img1.jpg",
        "[File: receipt.pdf (2.0 KB)] https://cos.example/receipt.pdf",
        "[Location: Pickup point",
        "[Sticker #2]",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
}

#[tokio::test]
async fn a_public_reply_in_zendesk_reaches_the_group_from_the_assignees_account_once() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    app.zendesk
        .add_public_comment(ticket, agent, "We have refunded your order.")
        .expect("comment");
    app.settle().await;

    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["We have refunded your order."]
    );
    // Not mirrored back to the ticket.
    assert_eq!(app.comments_after_description(ticket).len(), 1);
}

#[tokio::test]
async fn another_agents_reply_comes_from_the_admin_with_their_name_and_attachments_as_links() {
    let (app, ticket) = conversation().await;
    app.assign_agent(ticket, "Sam Agent").await;
    let other = app.zendesk.seed_agent("Kim Lead", "kim@support.test");
    app.zendesk
        .add_public_comment_with_attachment(
            ticket,
            other,
            "Here is your label.",
            "label.pdf",
            "https://acme.zendesk.test/attachments/label.pdf",
            4096,
        )
        .expect("comment");
    app.settle().await;
    let texts = app.group_texts_from(ticket, ADMIN);
    let reply = texts
        .iter()
        .find(|t| t.starts_with("Kim Lead: "))
        .unwrap_or_else(|| panic!("no reply in {texts:?}"));
    assert_eq!(
        reply,
        "Kim Lead: Here is your label.\n[Attachment: label.pdf] https://acme.zendesk.test/attachments/label.pdf"
    );
}

#[tokio::test]
async fn internal_notes_never_reach_the_chat() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    app.zendesk
        .add_internal_note(ticket, agent, "Customer is a VIP, refund quickly")
        .expect("note");
    app.settle().await;
    app.zendesk
        .add_public_comment(ticket, agent, "Refund on its way")
        .expect("comment");
    app.settle().await;
    let group = app.im.group(&group_of(ticket)).expect("group");
    let all = serde_json::to_string(&group.messages).expect("json");
    assert!(!all.contains("VIP"), "{all}");
    // The public comment after it did arrive, so the note was looked at and left out.
    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["Refund on its way"]
    );
    let recorded = app
        .sql_count("SELECT COUNT(*) FROM messages WHERE text LIKE '%VIP%'")
        .await;
    assert_eq!(
        recorded, 0,
        "an internal note is not part of the chat's transcript"
    );
}

#[tokio::test]
async fn an_email_reply_by_the_customer_reaches_the_group_marked_as_such() {
    let (app, ticket) = conversation().await;
    app.zendesk
        .add_email_reply(ticket, "I replied to your email instead")
        .expect("email reply");
    app.settle().await;
    let texts = app.group_texts_from(ticket, ADMIN);
    assert!(
        texts.contains(
            &"Alice Example (replied by email): I replied to your email instead".to_owned()
        ),
        "{texts:?}"
    );
    // The description (the customer's, through the API) was never posted to the chat.
    assert!(
        !texts.iter().any(|t| t.contains("Order 42 arrived broken")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn forged_stale_and_other_app_callbacks_are_refused_with_nothing_recorded() {
    let (app, ticket) = conversation().await;
    let body = json!({
        "CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": group_of(ticket), "Type": "Public",
        "From_Account": CUSTOMER, "Operator_Account": CUSTOMER, "Random": 7, "MsgSeq": 99,
        "MsgTime": unix_now(), "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "forged"}}]
    })
    .to_string();
    let now = unix_now();
    let good = app.callback_query("Group.CallbackAfterSendMsg", now);
    let cases = [
        (
            "unsigned",
            format!(
                "SdkAppid={SDKAPPID}&CallbackCommand=Group.CallbackAfterSendMsg&RequestTime={now}"
            ),
        ),
        ("wrong sign", good.replace("Sign=", "Sign=00")),
        (
            "stale",
            app.callback_query("Group.CallbackAfterSendMsg", now - 61),
        ),
        (
            "future",
            app.callback_query("Group.CallbackAfterSendMsg", now + 61),
        ),
        (
            "other app",
            good.replace(&format!("SdkAppid={SDKAPPID}"), "SdkAppid=1400000001"),
        ),
        ("no query", String::new()),
    ];
    let before = app.message_count().await;
    for (what, query) in cases {
        let resp = app.post_im_callback(&query, &body).await;
        assert_eq!(resp.status(), 401, "{what}");
        let answer: Value = resp.json().await.expect("JSON");
        assert_eq!(answer["ActionStatus"], "FAIL", "{what}");
        assert_ne!(answer["ErrorCode"], 0, "{what}");
        assert!(
            answer["ErrorInfo"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}"
        );
    }
    assert_eq!(app.message_count().await, before);
    app.settle().await;
    assert!(app.comments_after_description(ticket).is_empty());

    // Signed but not readable: 400 in IM's envelope, nothing recorded.
    let resp = app.post_im_callback(&good, "{not json").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(app.message_count().await, before);
    // Signed and well-formed: accepted.
    let resp = app.post_im_callback(&good, &body).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("JSON");
    assert_eq!(
        answer,
        json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    );
    assert_eq!(app.message_count().await, before + 1);
    // Commands the bridge does not use are acknowledged and ignored.
    let join = app.callback_query("Group.CallbackAfterNewMemberJoin", unix_now());
    let resp = app
        .post_im_callback(
            &join,
            r#"{"CallbackCommand":"Group.CallbackAfterNewMemberJoin"}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn without_a_callback_token_every_callback_is_refused() {
    let app = spawn_app_with_webhooks(|_| {}).await;
    let query = app.callback_query("Group.CallbackAfterSendMsg", unix_now());
    let resp = app.post_im_callback(&query, "{}").await;
    assert_eq!(resp.status(), 401);
    let answer: Value = resp.json().await.expect("JSON");
    assert!(answer["ErrorInfo"]
        .as_str()
        .is_some_and(|s| s.contains("IM_CALLBACK_TOKEN")));
}

#[tokio::test]
async fn duplicate_and_reordered_callbacks_land_once_in_order() {
    let (app, ticket) = conversation().await;
    app.im.hold_callbacks(true);
    for line in ["one", "two", "three"] {
        say(&app, ticket, CUSTOMER, line);
    }
    app.im.release_held_callbacks(true).await;
    app.im.hold_callbacks(false);
    // IM delivers one of them a second time.
    let first = app.im.callbacks().into_iter().next().expect("a callback");
    let resp = app
        .post_im_callback(
            &app.callback_query("Group.CallbackAfterSendMsg", unix_now()),
            &first.body,
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.settle().await;
    assert_eq!(app.chat_lines(ticket), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_lost_callback_is_recovered_from_the_groups_history() {
    let (app, ticket) = conversation().await;
    app.im.drop_callbacks(1);
    say(&app, ticket, CUSTOMER, "lost on the way");
    say(&app, ticket, CUSTOMER, "arrived");
    app.settle().await;
    let comments = app.comments_after_description(ticket);
    let all: Vec<&str> = comments.iter().flat_map(|c| c.body.lines()).collect();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all[0].ends_with("lost on the way") && all[1].ends_with("arrived"),
        "{all:?}"
    );
}

#[tokio::test]
async fn the_sweep_recovers_the_last_line_whose_callback_was_lost() {
    let app = spawn_conversation_app(|env| {
        env.insert("CONVERSATION_SWEEP_SECS".into(), "1".into());
    })
    .await;
    let ticket = app.open_case(CUSTOMER).await;
    app.im.drop_callbacks(1);
    say(&app, ticket, CUSTOMER, "nobody told the bridge");
    wait_until(Duration::from_secs(20), || {
        app.comments_after_description(ticket)
            .iter()
            .any(|c| c.body == "nobody told the bridge")
    })
    .await;
    app.settle().await;
    assert_eq!(app.comments_after_description(ticket).len(), 1);
}

#[tokio::test]
async fn a_lost_webhook_is_recovered_by_reconcile() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    app.zendesk.hold_deliveries(true);
    app.zendesk
        .add_public_comment(ticket, agent, "Did you get this?")
        .expect("comment");
    app.settle().await;
    assert!(app
        .group_texts_from(ticket, &format!("zd_{agent}"))
        .is_empty());
    let out = app.run_cli(&["reconcile"]).await;
    assert!(out.contains("conversations caught up: 1"), "{out}");
    app.settle().await;
    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["Did you get this?"]
    );
    // The webhook arrives late after all: nothing is posted twice.
    app.zendesk.release_held(false).await;
    app.settle().await;
    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")).len(),
        1
    );
}

#[tokio::test]
async fn a_lost_zendesk_answer_does_not_duplicate_the_comment() {
    let (app, ticket) = conversation().await;
    app.zendesk.faults().inject(FaultRule::new(
        format!("/api/v2/tickets/{ticket}"),
        Fault::LoseResponse,
        1,
    ));
    say(&app, ticket, CUSTOMER, "Is anyone there?");
    app.settle().await;
    app.wait_for_jobs_within(Duration::from_secs(30)).await;
    let comments = app.comments_after_description(ticket);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].body, "Is anyone there?");
    let batches = app
        .sql_count(
            "SELECT COUNT(*) FROM comment_batches WHERE state = 'sent' AND comment_id IS NOT NULL",
        )
        .await;
    assert_eq!(batches, 1, "the comment was found by its marker");
}

#[tokio::test]
async fn a_lost_im_answer_does_not_duplicate_the_message() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    app.im
        .faults()
        .inject(FaultRule::new("send_group_msg", Fault::LoseResponse, 1));
    app.zendesk
        .add_public_comment(ticket, agent, "Sent once")
        .expect("comment");
    app.settle().await;
    app.wait_for_jobs_within(Duration::from_secs(30)).await;
    assert_eq!(
        app.group_texts_from(ticket, &format!("zd_{agent}")),
        ["Sent once"]
    );
}

#[tokio::test]
async fn the_customers_chat_commands() {
    let (app, ticket) = conversation().await;
    app.assign_agent(ticket, "Sam Agent").await;
    say(&app, ticket, CUSTOMER, "/help");
    app.settle().await;
    say(&app, ticket, CUSTOMER, "/status");
    app.settle().await;
    say(&app, ticket, CUSTOMER, "/shrug is just text");
    app.settle().await;
    let texts = app.group_texts_from(ticket, ADMIN);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("/status to see where your case stands")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t
            == &format!(
                "Case #{ticket} is open, an agent is working on it. Sam Agent is handling it."
            )),
        "{texts:?}"
    );
    let bodies: Vec<String> = app
        .comments_after_description(ticket)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(bodies, ["/shrug is just text"], "commands are not comments");

    say(&app, ticket, CUSTOMER, "/close");
    app.settle().await;
    let t = app.zendesk.ticket(ticket).expect("ticket");
    assert_eq!(t.status, "solved");
    assert_eq!(
        t.comments.last().map(|c| c.body.as_str()),
        Some("The customer closed this case from the chat.")
    );
    // The solved notice follows, once.
    let solved: Vec<String> = app
        .group_texts_from(ticket, ADMIN)
        .into_iter()
        .filter(|t| t.contains("marked as solved"))
        .collect();
    assert_eq!(solved.len(), 1);
}

#[tokio::test]
async fn nothing_loops_between_the_two_sides() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    let account = format!("zd_{agent}");
    say(&app, ticket, CUSTOMER, "ping from chat");
    app.settle().await;
    app.zendesk
        .add_public_comment(ticket, agent, "pong from Zendesk")
        .expect("comment");
    app.settle().await;
    say(&app, ticket, &account, "pong from the agent's IM app");
    app.settle().await;

    // IM fires a callback for the bridge's own post anyway (ForbidCallbackControl ignored).
    let group = app.im.group(&group_of(ticket)).expect("group");
    let own = group
        .messages
        .iter()
        .find(|m| m.from == account && m.body.to_string().contains("pong from Zendesk"))
        .expect("the mirrored reply");
    let echo = json!({
        "CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": group_of(ticket), "Type": "Public",
        "From_Account": account, "Operator_Account": ADMIN, "Random": own.random, "MsgSeq": own.seq,
        "MsgTime": own.time, "MsgBody": own.body
    });
    let resp = app
        .post_im_callback(
            &app.callback_query("Group.CallbackAfterSendMsg", unix_now()),
            &echo.to_string(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // Zendesk redelivers the events of the bridge's comments too.
    for inv in app.zendesk.invocations() {
        app.zendesk.redeliver(&inv.id).await;
    }
    app.settle().await;

    let comments: Vec<String> = app
        .comments_after_description(ticket)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(
        comments,
        [
            "ping from chat",
            "pong from Zendesk",
            "pong from the agent's IM app"
        ]
    );
    let texts: Vec<String> = app
        .im
        .group(&group_of(ticket))
        .expect("group")
        .messages
        .iter()
        .map(|m| {
            m.body[0]["MsgContent"]["Text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for text in [
        "ping from chat",
        "pong from Zendesk",
        "pong from the agent's IM app",
    ] {
        assert_eq!(
            texts.iter().filter(|t| *t == text).count(),
            1,
            "{text}: {texts:?}"
        );
    }
}

#[tokio::test]
async fn a_burst_of_200_lines_on_one_ticket_lands_once_in_order() {
    let (app, ticket) = conversation().await;
    for i in 0..200 {
        say(&app, ticket, CUSTOMER, &format!("line {i:03}"));
    }
    app.settle().await;
    let want: Vec<String> = (0..200).map(|i| format!("line {i:03}")).collect();
    assert_eq!(app.chat_lines(ticket), want);
    assert!(
        app.comments_after_description(ticket).len() <= 5,
        "lines are batched"
    );
    assert_eq!(app.zendesk.rate_limited_count(), 0);
}

#[tokio::test]
async fn a_burst_across_50_tickets_lands_once_in_order_without_a_429() {
    let app = spawn_conversation_app(|_| {}).await;
    let mut tickets = Vec::new();
    for i in 0..50 {
        tickets.push((
            format!("burst-{i}"),
            app.open_case(&format!("burst-{i}")).await,
        ));
    }
    for round in 0..5 {
        for (user, ticket) in &tickets {
            say(&app, *ticket, user, &format!("{user} says {round}"));
        }
    }
    app.settle().await;
    for (user, ticket) in &tickets {
        let want: Vec<String> = (0..5).map(|r| format!("{user} says {r}")).collect();
        assert_eq!(app.chat_lines(*ticket), want, "ticket {ticket}");
    }
    assert_eq!(app.zendesk.rate_limited_count(), 0);
}

#[tokio::test]
async fn a_ticket_over_its_update_budget_waits_and_loses_nothing() {
    // 25 updates of this ticket in the last ten minutes: its budget is spent.
    over_budget(25, |_, ticket| ticket, 10 * 60 * 1000).await;
}

#[tokio::test]
async fn over_the_accounts_update_budget_lines_wait_for_the_next_minute() {
    // 80 updates across the account in the last minute: the budget is spent.
    over_budget(80, |i, _| 10_000 + i, 60 * 1000).await;
}

/// With `spent` updates already made (on the tickets `on(i, ticket)` gives), two chat lines
/// wait (the job deferred by about `window_ms`, nothing sent), and once the window has passed
/// both go out in one comment, with no 429.
async fn over_budget(spent: u64, on: impl Fn(u64, u64) -> u64, window_ms: i64) {
    let (app, ticket) = conversation().await;
    let now = now_ms();
    for i in 0..spent {
        app.sql(&format!(
            "INSERT INTO comment_batches (id, ticket_id, author_id, body, solve, state, attempt_at, created_at, sent_at)
             VALUES ('earlier-{i}', {}, 1, 'x', 0, 'sent', {now}, {now}, {now})",
            on(i, ticket)
        ))
        .await;
    }
    say(&app, ticket, CUSTOMER, "first");
    say(&app, ticket, CUSTOMER, "second");
    app.im.callbacks_idle().await;
    let key = format!("mirror_chat:{ticket}");
    wait_until_async(Duration::from_secs(20), || async {
        app.sql_count(&format!(
            "SELECT COUNT(*) FROM jobs WHERE dedupe_key = '{key}' AND attempts = 0 AND run_at > {}",
            now + window_ms * 9 / 10
        ))
        .await
            == 1
    })
    .await;
    assert!(
        app.comments_after_description(ticket).is_empty(),
        "nothing sent over budget"
    );
    // The window passes.
    app.sql("UPDATE comment_batches SET attempt_at = 0 WHERE id LIKE 'earlier-%'")
        .await;
    app.sql(&format!(
        "UPDATE jobs SET run_at = 0 WHERE dedupe_key = '{key}'"
    ))
    .await;
    app.settle().await;
    assert_eq!(
        app.comments_after_description(ticket).len(),
        1,
        "both lines in the next comment"
    );
    assert_eq!(app.chat_lines(ticket), ["first", "second"]);
    assert_eq!(app.zendesk.rate_limited_count(), 0);
}

#[tokio::test]
async fn past_ims_duplicate_window_a_post_whose_answer_was_lost_is_found_in_the_history() {
    let (app, ticket) = conversation().await;
    let agent = app.assign_agent(ticket, "Sam Agent").await;
    let account = format!("zd_{agent}");
    // Every post reaches the group but its answer is lost.
    app.im
        .faults()
        .inject(FaultRule::always("send_group_msg", Fault::LoseResponse));
    app.zendesk
        .add_public_comment(ticket, agent, "Posted once, answer lost")
        .expect("comment");
    wait_until(Duration::from_secs(20), || {
        app.group_texts_from(ticket, &account).len() == 1
    })
    .await;
    // Six minutes pass: IM no longer drops a resend with the same Random.
    app.sql(&format!(
        "UPDATE messages SET attempt_at = {} WHERE ticket_id = {ticket} AND origin = 'zendesk'",
        now_ms() - 6 * 60 * 1000
    ))
    .await;
    app.im.advance_clock(6 * 60);
    app.im.faults().clear();
    app.wait_for_jobs_within(Duration::from_secs(30)).await;
    assert_eq!(
        app.group_texts_from(ticket, &account),
        ["Posted once, answer lost"]
    );
    let done = app
        .sql_count(&format!(
            "SELECT COUNT(*) FROM messages WHERE ticket_id = {ticket} AND origin = 'zendesk' AND state = 'done' AND im_seq IS NOT NULL"
        ))
        .await;
    assert_eq!(done, 1, "the post was found, with its seq");
}
