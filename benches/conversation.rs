//! `cargo bench --bench conversation`: the release binary with IM's callbacks and Zendesk's
//! webhooks connected to it, against the emulators over HTTP (all on one machine).
//!
//! 1. Chat → comment: 50 customers each send 20 lines at once; lines/s until every line is on
//!    its ticket, and the bridge's CPU time per line. Baseline, same run: the same callbacks
//!    answered by a receiver that does nothing, then the same Zendesk updates (one comment per
//!    ticket with its lines) made directly — what mirroring costs upstream at the least.
//! 2. Comment → chat: assignees add 40 public comments in Zendesk; messages/s until every one
//!    is in its group, and CPU per message. Baseline: the same IM posts made directly.
//! 3. Delay: one line on an idle ticket, from the client's send to the comment on the ticket,
//!    under the limits; reported above the batch window (`COMMENT_BATCH_MS`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use ticket_bridge::im::types::TextMessage;
use ticket_bridge::operator;
use ticket_bridge::sandbox::im::CallbackTarget;
use ticket_bridge::sandbox::serve;
use ticket_bridge::secret::Secret;
use ticket_bridge::zendesk::types::{CommentUpdate, NewComment};
use tokio::time::Instant;

use common::*;

const CHAT_TICKETS: usize = 50;
const LINES: usize = 20;
const REPLY_TICKETS: usize = 40;
const DELAY_SAMPLES: usize = 20;
const BATCH_MS: u64 = 200;
const CALLBACK_TOKEN: &str = "bench-callback-token";

/// The bridge with webhooks and callbacks connected, and `tickets` cases open.
async fn conversation(up: &Upstreams, tickets: usize) -> (Bridge, Vec<u64>) {
    let (zd, _) = clients(up);
    let secret = operator::setup_zendesk(&zd, "http://127.0.0.1:9", false)
        .await
        .expect("webhook")
        .secret
        .expect("secret");
    let batch = BATCH_MS.to_string();
    let mut settings = vec![
        ("ZENDESK_WEBHOOK_SECRET", secret.expose()),
        ("IM_CALLBACK_TOKEN", CALLBACK_TOKEN),
        ("COMMENT_BATCH_MS", &batch),
    ];
    settings.extend(UNPACED);
    let bridge = Bridge::start(up, &settings).await;
    operator::setup_zendesk(&zd, &bridge.base, false)
        .await
        .expect("webhook pointed at the bridge");
    up.im.set_callback(Some(CallbackTarget {
        url: format!("{}/callbacks/im", bridge.base),
        token: Some(Secret::new(CALLBACK_TOKEN)),
    }));
    let http = reqwest::Client::new();
    for i in 0..tickets {
        let user = format!("chat-{i}");
        up.im.import_account(&user, None);
        open_case(&http, &bridge.base, &user, &format!("chat-case-{i}")).await;
    }
    // One case each, in order: the emulated Zendesk numbers tickets from 1.
    let ids = up.zendesk.tickets().iter().map(|t| t.id).collect();
    (bridge, ids)
}

/// Lines on the ticket after its description.
fn lines_on(up: &Upstreams, ticket: u64) -> usize {
    up.zendesk.ticket(ticket).map_or(0, |t| {
        t.comments
            .iter()
            .skip(1)
            .map(|c| c.body.lines().count())
            .sum()
    })
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// Every customer sends its lines; returns the sends' start.
fn chat(up: &Upstreams, tickets: &[u64]) -> Instant {
    let start = Instant::now();
    for (i, t) in tickets.iter().enumerate() {
        for l in 0..LINES {
            up.im
                .client_send_text(
                    &format!("ZENDESK#{t}"),
                    &format!("chat-{i}"),
                    &format!("line {l}"),
                )
                .expect("sent");
        }
    }
    start
}

async fn chat_to_comment() {
    let lines = CHAT_TICKETS * LINES;
    println!("## Chat → comment: {CHAT_TICKETS} customers send {LINES} lines each at once ({lines} lines)\n");

    // Baseline: callbacks to a receiver that only counts, then one update per ticket.
    let up = upstreams(0).await;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let receiver = serve(
        Router::new().route(
            "/cb",
            post(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                async { Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})) }
            }),
        ),
        0,
    )
    .await
    .expect("receiver");
    let (zd, im) = clients(&up);
    let mut tickets = Vec::new();
    for i in 0..CHAT_TICKETS {
        let user = format!("chat-{i}");
        up.im.import_account(&user, None);
        let requester = up
            .zendesk
            .seed_end_user(&user, &format!("{user}@example.com"));
        let ticket = zd
            .create_ticket(
                &ticket_bridge::zendesk::types::NewTicket {
                    subject: "Refund".into(),
                    comment: NewComment {
                        body: "Order 42".into(),
                        public: true,
                        author_id: None,
                    },
                    requester: ticket_bridge::zendesk::types::TicketRequester::Existing(requester),
                    submitter_id: Some(requester),
                    tags: vec![],
                    external_id: None,
                },
                None,
            )
            .await
            .expect("ticket");
        im.create_group(&ticket_bridge::im::types::NewGroup {
            group_id: format!("ZENDESK#{}", ticket.id),
            name: "Refund".into(),
            group_type: "Public".into(),
            apply_join_option: "FreeAccess".into(),
            introduction: None,
            members: vec![user],
        })
        .await
        .expect("group");
        tickets.push((ticket.id, requester));
    }
    up.im.set_callback(Some(CallbackTarget {
        url: format!("{}/cb", receiver.base_url),
        token: Some(Secret::new(CALLBACK_TOKEN)),
    }));
    let ids: Vec<u64> = tickets.iter().map(|t| t.0).collect();
    let start = chat(&up, &ids);
    wait_for("baseline callbacks", Duration::from_secs(120), || {
        received.load(Ordering::Relaxed) == lines
    })
    .await;
    let mut updates = tokio::task::JoinSet::new();
    for (ticket, requester) in tickets {
        let zd = zd.clone();
        updates.spawn(async move {
            let body = (0..LINES)
                .map(|l| format!("[00:00:00 UTC] Customer: line {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            zd.add_comment(
                ticket,
                &CommentUpdate {
                    comment: NewComment {
                        body,
                        public: true,
                        author_id: Some(requester),
                    },
                    status: None,
                    metadata: json!({"ticket_bridge_batch": ticket.to_string()}),
                },
            )
            .await
            .expect("update");
        });
    }
    while updates.join_next().await.is_some() {}
    let base_wall = start.elapsed();
    drop(up);

    // The bridge.
    let up = upstreams(0).await;
    let (bridge, ids) = conversation(&up, CHAT_TICKETS).await;
    let cpu_before = bridge.cpu_seconds();
    let start = chat(&up, &ids);
    wait_for(
        "chat lines on the tickets",
        Duration::from_secs(300),
        || ids.iter().map(|t| lines_on(&up, *t)).sum::<usize>() >= lines,
    )
    .await;
    let wall = start.elapsed();
    let cpu = bridge.cpu_seconds() - cpu_before;
    let comments: usize = ids
        .iter()
        .filter_map(|t| up.zendesk.ticket(*t))
        .map(|t| t.comments.len() - 1)
        .sum();
    assert_eq!(up.zendesk.rate_limited_count(), 0);

    let rate = lines as f64 / wall.as_secs_f64();
    let base_rate = lines as f64 / base_wall.as_secs_f64();
    println!("| | lines/s | wall s | bridge CPU per line | Zendesk updates |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| baseline: the callbacks answered, the updates made directly | {base_rate:.0} | {:.2} | — | {CHAT_TICKETS} |",
        base_wall.as_secs_f64()
    );
    println!(
        "| ticket-bridge (batch window {BATCH_MS} ms) | {rate:.0} | {:.2} | {:.3} ms | {comments} |",
        wall.as_secs_f64(),
        cpu * 1000.0 / lines as f64
    );
    println!(
        "| ratio bridge / baseline | {:.2}× | {:.2}× | | |\n",
        rate / base_rate,
        wall.as_secs_f64() / base_wall.as_secs_f64()
    );
}

async fn comment_to_chat() {
    println!("## Comment → chat: assignees add {REPLY_TICKETS} public comments in Zendesk\n");
    // Baseline: the same IM posts, made directly.
    let up = upstreams(0).await;
    let (_, im) = clients(&up);
    for i in 0..REPLY_TICKETS {
        up.im.import_account(&format!("zd_{i}"), None);
        im.create_group(&ticket_bridge::im::types::NewGroup {
            group_id: format!("ZENDESK#{i}"),
            name: "Refund".into(),
            group_type: "Public".into(),
            apply_join_option: "FreeAccess".into(),
            introduction: None,
            members: vec![format!("zd_{i}")],
        })
        .await
        .expect("group");
    }
    let start = Instant::now();
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..REPLY_TICKETS {
        let im = im.clone();
        posts.spawn(async move {
            im.send_group_msg(&TextMessage {
                group_id: format!("ZENDESK#{i}"),
                from: Some(format!("zd_{i}")),
                random: rand::random(),
                text: "We have refunded your order.".into(),
                cloud_custom_data: None,
            })
            .await
            .expect("post");
        });
    }
    while posts.join_next().await.is_some() {}
    let base_wall = start.elapsed();
    drop(up);

    let up = upstreams(0).await;
    let (bridge, ids) = conversation(&up, REPLY_TICKETS).await;
    let agent = up.zendesk.seed_agent("Sam Agent", "sam@bench.test");
    for t in &ids {
        up.zendesk.assign(*t, Some(agent)).expect("assign");
    }
    let account = format!("zd_{agent}");
    wait_for("agents in the groups", Duration::from_secs(60), || {
        ids.iter().all(|t| {
            up.im
                .group(&format!("ZENDESK#{t}"))
                .is_some_and(|g| g.members.contains(&account))
        })
    })
    .await;
    let replied = |up: &Upstreams| {
        ids.iter()
            .filter(|t| {
                up.im
                    .group(&format!("ZENDESK#{t}"))
                    .is_some_and(|g| g.messages.iter().any(|m| m.from == account))
            })
            .count()
    };
    let cpu_before = bridge.cpu_seconds();
    let start = Instant::now();
    for t in &ids {
        up.zendesk
            .add_public_comment(*t, agent, "We have refunded your order.")
            .expect("comment");
    }
    wait_for("replies in the groups", Duration::from_secs(120), || {
        replied(&up) == REPLY_TICKETS
    })
    .await;
    let wall = start.elapsed();
    let cpu = bridge.cpu_seconds() - cpu_before;
    let rate = REPLY_TICKETS as f64 / wall.as_secs_f64();
    let base_rate = REPLY_TICKETS as f64 / base_wall.as_secs_f64();
    println!("| | messages/s | wall s | bridge CPU per message |");
    println!("|---|---:|---:|---:|");
    println!(
        "| baseline: the IM posts made directly | {base_rate:.0} | {:.3} | — |",
        base_wall.as_secs_f64()
    );
    println!(
        "| ticket-bridge (webhook → comments read → post) | {rate:.0} | {:.3} | {:.3} ms |",
        wall.as_secs_f64(),
        cpu * 1000.0 / REPLY_TICKETS as f64
    );
    println!(
        "| ratio bridge / baseline | {:.2}× | {:.2}× | |\n",
        rate / base_rate,
        wall.as_secs_f64() / base_wall.as_secs_f64()
    );
}

async fn delay() {
    println!("## Delay: one line on an idle ticket, send → comment on the ticket ({DELAY_SAMPLES} samples)\n");
    let up = upstreams(0).await;
    let (_bridge, ids) = conversation(&up, DELAY_SAMPLES).await;
    let mut samples = Vec::new();
    for (i, t) in ids.iter().enumerate() {
        let start = Instant::now();
        up.im
            .client_send_text(&format!("ZENDESK#{t}"), &format!("chat-{i}"), "hello")
            .expect("sent");
        wait_for("the comment", Duration::from_secs(30), || {
            lines_on(&up, *t) == 1
        })
        .await;
        samples.push(start.elapsed());
    }
    samples.sort();
    let window = BATCH_MS as f64;
    println!("| | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!(
        "| send → comment | {:.1} | {:.1} |",
        pct(&samples, 0.5),
        pct(&samples, 0.99)
    );
    println!(
        "| above the {BATCH_MS} ms batch window | {:.1} | {:.1} |\n",
        pct(&samples, 0.5) - window,
        pct(&samples, 0.99) - window
    );
}

fn main() {
    // `cargo test --benches` runs bench targets without --bench: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        chat_to_comment().await;
        comment_to_chat().await;
        delay().await;
    });
}
