//! The crash test: concurrent customers open cases and retry with their keys while the real
//! binary is killed with SIGKILL several times and restarted on the same SQLite file. The
//! emulators (in this process) outlive every crash; the assertions read their state.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{
    bridge_process, free_port, open_case_until_done, KillOnDrop, TempDb, Upstreams,
};

const CLIENTS: usize = 16;
const KILLS: u32 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_survives_repeated_sigkills_exactly_once() {
    let up = Upstreams::start().await;
    // Some latency upstream, so that kills land between the steps of a case.
    up.zendesk.faults().set_latency(Duration::from_millis(30));
    up.im.faults().set_latency(Duration::from_millis(15));
    let db = TempDb::new();
    let port = free_port();
    let mut env = up.env(&db);
    env.insert("PORT".into(), port.to_string());
    env.insert("JOB_LEASE_SECS".into(), "2".into());
    env.insert("REQUEST_DEADLINE_SECS".into(), "2".into());
    env.insert("RUST_LOG".into(), "warn".into());
    // Killed when the test ends, even if it fails half-way.
    let start = || {
        KillOnDrop(
            bridge_process(&env, &db)
                .spawn()
                .expect("the bridge starts"),
        )
    };
    let mut bridge = start();

    let base = format!("http://127.0.0.1:{port}");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let bases = vec![base.clone()];
            tokio::spawn(async move {
                let pause = Duration::from_millis(80 + 10 * i as u64);
                open_case_until_done(&bases, &format!("crash-{i}"), pause).await
            })
        })
        .collect();

    // Kill it again and again while the cases are under way.
    let mut unfinished_at_kill = Vec::new();
    for k in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + 170 * u64::from(k))).await;
        let greeted = up
            .im
            .groups()
            .iter()
            .filter(|g| g.messages.iter().any(|m| !m.system))
            .count();
        unfinished_at_kill.push(CLIENTS - greeted);
        bridge.0.kill().expect("SIGKILL");
        bridge.0.wait().expect("reaped");
        bridge = start();
    }
    let mut answers = Vec::new();
    for c in clients {
        answers.push(c.await.expect("client finished"));
    }
    // A 200 means the chat can open; the greetings follow within moments.
    crate::helpers::wait_until(Duration::from_secs(30), || {
        let groups = up.im.groups();
        groups.len() == CLIENTS && groups.iter().all(|g| g.messages.iter().any(|m| !m.system))
    })
    .await;
    drop(bridge);

    let mid_run = unfinished_at_kill.iter().filter(|&&n| n > 0).count();
    assert!(
        mid_run >= 3,
        "the kills must land while cases are unfinished: {unfinished_at_kill:?}"
    );

    let tickets = up.zendesk.tickets();
    assert_eq!(tickets.len(), CLIENTS, "one ticket per case, none twice");
    for (i, ids) in answers.iter().enumerate() {
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "client {i} always got the same TicketId: {ids:?}"
        );
        let id = ids[0];
        let ticket = up.zendesk.ticket(id).expect("the ticket exists");
        let requester = up.zendesk.user(ticket.requester_id).unwrap();
        assert_eq!(
            requester.email.as_deref(),
            Some(format!("crash-{i}@example.com").as_str())
        );
        let group = up
            .im
            .group(&format!("ZENDESK#{id}"))
            .expect("the group exists");
        assert!(
            group.members.contains(&format!("crash-{i}")),
            "customer {i} is in the group"
        );
        let greetings = group.messages.iter().filter(|m| !m.system).count();
        assert_eq!(greetings, 1, "exactly one greeting in {}", group.group_id);
    }
    assert_eq!(up.im.groups().len(), CLIENTS);
}
