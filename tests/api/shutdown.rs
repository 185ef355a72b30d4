//! SIGTERM: stop accepting, finish what is in flight, hand unfinished jobs back so the next
//! start resumes them at once (not after their lease).

use std::time::Duration;

use serde_json::Value;
use ticket_bridge::sandbox::faults::{Fault, FaultRule};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

use crate::helpers::{
    assert_clean_exit, bridge_process, case, serve_binary, sigterm, wait_until, KillOnDrop, TempDb,
    Upstreams, IM_KEY, SDKAPPID,
};

#[tokio::test]
async fn sigterm_hands_unfinished_jobs_to_the_next_start() {
    let up = Upstreams::start().await;
    let db = TempDb::new();
    let (bridge, port, env) = serve_binary(
        &up,
        &db,
        &[
            ("REQUEST_DEADLINE_SECS", "1"),
            // Without the hand-back, the next start would wait this long for the job.
            ("JOB_LEASE_SECS", "60"),
            ("SHUTDOWN_GRACE_SECS", "1"),
        ],
    )
    .await;
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

    sigterm(&bridge);
    assert_clean_exit(bridge, port).await;

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
