//! SIGTERM: stop accepting, finish what is in flight, hand unfinished jobs back so the next
//! start resumes them at once (not after their lease).

use std::time::Duration;

use serde_json::Value;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

use crate::helpers::{
    bridge_process, case, free_port, wait_ready, wait_until, KillOnDrop, TempDb, Upstreams, IM_KEY,
    SDKAPPID,
};

#[tokio::test]
async fn sigterm_hands_unfinished_jobs_to_the_next_start() {
    let up = Upstreams::start().await;
    let db = TempDb::new();
    let port = free_port();
    let mut env = up.env(&db);
    env.insert("PORT".into(), port.to_string());
    env.insert("REQUEST_DEADLINE_SECS".into(), "1".into());
    // Without the hand-back, the next start would wait this long for the job.
    env.insert("JOB_LEASE_SECS".into(), "60".into());
    env.insert("SHUTDOWN_GRACE_SECS".into(), "1".into());
    let mut bridge = KillOnDrop(bridge_process(&env, &db).spawn().unwrap());
    wait_ready(port).await;
    // IM hangs on the group: the case's job is still running when the stop comes.
    up.im.faults().inject(FaultRule::always(
        "create_group",
        Fault::Delay(Duration::from_secs(30)),
    ));
    let sig = UserSigner::new(SDKAPPID, Secret::new(IM_KEY)).generate("alice", 3600);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/createticket"))
        .header("Authorization", format!("UserSig {}", sig.expose()))
        .header("Idempotency-Key", "k-1")
        .json(&case("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();

    let term = std::process::Command::new("kill")
        .args(["-TERM", &bridge.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped = tokio::task::spawn_blocking(move || bridge.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(stopped.success(), "clean exit: {stopped:?}");
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "no longer accepting"
    );

    up.im.faults().clear();
    let restarted = KillOnDrop(bridge_process(&env, &db).spawn().unwrap());
    let group = format!("ZENDESK#{}", body["TicketId"]);
    wait_until(Duration::from_secs(10), || {
        up.im
            .group(&group)
            .is_some_and(|g| g.messages.iter().any(|m| !m.system))
    })
    .await;
    drop(restarted);
    assert_eq!(up.zendesk.tickets().len(), 1);
}
