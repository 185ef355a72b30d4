//! The conversation through crashes: customers chat and agents reply while the real binary is
//! killed with SIGKILL and restarted on the same SQLite file. Callbacks sent while it is down
//! are lost (IM does not retry them), webhooks may be too; at the end every line is on its
//! ticket once, in order, and every reply in its group once.

use std::time::Duration;

use ticket_bridge::operator;

use crate::helpers::*;

const TICKETS: usize = 3;
const ROUNDS: usize = 12;
const KILLS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_survives_repeated_sigkills_exactly_once() {
    let up = Upstreams::start().await;
    up.zendesk.faults().set_latency(Duration::from_millis(20));
    up.im.faults().set_latency(Duration::from_millis(10));
    let admin = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
    let secret = operator::setup_zendesk(&admin, "http://127.0.0.1:9", false)
        .await
        .expect("webhook")
        .secret
        .expect("secret");
    let db = TempDb::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    operator::setup_zendesk(&admin, &base, false)
        .await
        .expect("webhook pointed at the bridge");
    let mut env = up.env(&db);
    for (k, v) in [
        ("PORT", port.to_string()),
        ("ZENDESK_WEBHOOK_SECRET", secret.expose().to_owned()),
        ("IM_CALLBACK_TOKEN", CALLBACK_TOKEN.to_owned()),
        ("COMMENT_BATCH_MS", "100".to_owned()),
        ("CONVERSATION_SWEEP_SECS", "1".to_owned()),
        ("JOB_LEASE_SECS", "2".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ] {
        env.insert(k.to_owned(), v);
    }
    let start = || {
        KillOnDrop(
            bridge_process(&env, &db)
                .spawn()
                .expect("the bridge starts"),
        )
    };
    let mut bridge = start();
    wait_ready(port).await;
    up.im
        .set_callback(Some(ticket_bridge::sandbox::im::CallbackTarget {
            url: format!("{base}/callbacks/im"),
            token: Some(ticket_bridge::secret::Secret::new(CALLBACK_TOKEN)),
        }));

    // Cases open, an agent on each.
    let http = reqwest::Client::new();
    let signer = ticket_bridge::usersig::UserSigner::new(
        SDKAPPID,
        ticket_bridge::secret::Secret::new(IM_KEY),
    );
    let agent = up.zendesk.seed_agent("Sam Agent", "sam@support.test");
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let user = format!("chat-{i}");
        up.im.import_account(&user, None);
        let resp = http
            .post(format!("{base}/createticket"))
            .header(
                "Authorization",
                format!("UserSig {}", signer.generate(&user, 3600).expose()),
            )
            .json(&case(&user))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.expect("JSON");
        let ticket = body["TicketId"].as_u64().expect("id");
        up.zendesk.assign(ticket, Some(agent)).expect("assigned");
        tickets.push((user, ticket));
    }
    let account = format!("zd_{agent}");
    wait_until(Duration::from_secs(20), || {
        tickets.iter().all(|(_, t)| {
            up.im
                .group(&group_of(*t))
                .is_some_and(|g| g.members.contains(&account))
        })
    })
    .await;

    // Chat both ways, with kills in between.
    let mut unmirrored_at_kill = Vec::new();
    for round in 0..ROUNDS {
        // Some rounds are said while the bridge is down: their callbacks are refused and lost,
        // their webhooks retried (or lost too).
        let down = round % (ROUNDS / KILLS) == 1;
        if down {
            let sent = round * TICKETS;
            let mirrored: usize = tickets
                .iter()
                .map(|(_, t)| customer_lines(&up, *t).len())
                .sum();
            unmirrored_at_kill.push(sent - mirrored);
            bridge.0.kill().expect("SIGKILL");
            bridge.0.wait().expect("reaped");
        }
        for (user, ticket) in &tickets {
            up.im
                .client_send_text(&group_of(*ticket), user, &format!("c{round:02}"))
                .expect("customer sends");
            if round % 2 == 0 {
                up.zendesk
                    .add_public_comment(*ticket, agent, &format!("a{round:02}"))
                    .expect("agent replies");
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        if down {
            bridge = start();
            wait_ready(port).await;
        }
    }
    assert!(
        unmirrored_at_kill.iter().filter(|&&n| n > 0).count() >= 2,
        "the kills must land while lines are on their way: {unmirrored_at_kill:?}"
    );

    let want_customer: Vec<String> = (0..ROUNDS).map(|r| format!("c{r:02}")).collect();
    let want_agent: Vec<String> = (0..ROUNDS).step_by(2).map(|r| format!("a{r:02}")).collect();
    let caught_up = || {
        tickets.iter().all(|(_, t)| {
            customer_lines(&up, *t).len() >= ROUNDS
                && group_texts(&up.im, *t, &account).len() >= want_agent.len()
        })
    };
    // The sweep finds lost callbacks within seconds; lost webhooks at its tenth round.
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while !caught_up() {
        if tokio::time::Instant::now() > until {
            for (_, t) in &tickets {
                eprintln!(
                    "ticket {t}: customer {:?} agent {:?}",
                    customer_lines(&up, *t),
                    group_texts(&up.im, *t, &account)
                );
            }
            panic!("not caught up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stop for good, then let `reconcile` run everything that is left: nothing may come twice.
    drop(bridge);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticket-bridge"))
        .arg("reconcile")
        .env_clear()
        .envs(&env)
        .current_dir(db.work_dir())
        .output()
        .expect("reconcile runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    for (_, ticket) in &tickets {
        assert_eq!(
            customer_lines(&up, *ticket),
            want_customer,
            "ticket {ticket}"
        );
        assert_eq!(
            group_texts(&up.im, *ticket, &account),
            want_agent,
            "group of {ticket}"
        );
    }
    assert_eq!(up.zendesk.rate_limited_count(), 0);
}

/// The customer's lines on the ticket, in comment order.
fn customer_lines(up: &Upstreams, ticket: u64) -> Vec<String> {
    let Some(t) = up.zendesk.ticket(ticket) else {
        return Vec::new();
    };
    let by_customer: Vec<_> = t
        .comments
        .into_iter()
        .skip(1)
        .filter(|c| c.author_id == t.requester_id)
        .collect();
    said(&by_customer)
}
