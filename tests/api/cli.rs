//! The `ticket-bridge` binary: sandbox as a newcomer runs it, start-up errors, `usersig`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

use crate::helpers::{
    case, free_port, wait_ready, KillOnDrop, TempDb, Upstreams, ADMIN, IM_KEY, SDKAPPID,
    ZENDESK_EMAIL, ZENDESK_TOKEN,
};

/// The binary with an empty environment, run in `dir`.
fn bridge(dir: &TempDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket-bridge"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.work_dir());
    cmd
}

#[tokio::test]
async fn the_sandbox_opens_a_case_with_the_curl_it_prints() {
    let dir = TempDb::new();
    let mut child = KillOnDrop(
        bridge(&dir)
            .arg("sandbox")
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox starts"),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    // The banner ends with the commands that act as Zendesk.
    while !banner
        .iter()
        .any(|l: &String| l.ends_with("/status/closed"))
    {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("banner incomplete:\n{}", banner.join("\n")));
        banner.push(line);
    }
    let text = banner.join("\n");
    let start = text.find("curl -sS -X POST").expect("a curl command");
    let create = &text[start..text[start..].find("\n\n").map_or(text.len(), |e| start + e)];
    let groups_cmd = banner
        .iter()
        .find(|l| l.ends_with("/im/groups") && l.starts_with("curl"))
        .unwrap();

    let run = |cmd: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON answer")
    };
    let created = run(create);
    let groups = run(groups_cmd);
    // Act as Zendesk with the printed command: the seeded agent joins through the webhook.
    let assign = banner
        .iter()
        .find(|l| l.ends_with("/assign"))
        .expect("an assign command");
    assert_eq!(run(assign)["status"], "ok");
    let until = std::time::Instant::now() + Duration::from_secs(15);
    let joined = loop {
        let now = run(groups_cmd);
        // In the group, and announced (the notice follows the membership).
        let members = now["groups"][0]["members"].clone();
        let announced = now["groups"][0]["messages"]
            .to_string()
            .contains("Sam Agent");
        if announced
            && members
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m.as_str().unwrap().starts_with("zd_"))
        {
            break now;
        }
        assert!(
            std::time::Instant::now() < until,
            "the agent never joined: {now}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(child);
    let texts: Vec<&str> = joined["groups"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"][0]["MsgContent"]["Text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("Sam Agent")), "{texts:?}");

    assert_eq!(created["ActionStatus"], "OK", "{created}");
    let group_id = created["GroupId"].as_str().unwrap();
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == group_id)
        .unwrap_or_else(|| panic!("{group_id} in {groups}"));
    assert!(group["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "alice"));
    assert_eq!(
        group["messages"].as_array().unwrap().len(),
        1,
        "one greeting"
    );
}

#[test]
fn serve_lists_every_missing_setting_and_exits_2() {
    let dir = TempDb::new();
    let out = bridge(&dir)
        .arg("serve")
        .env("PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "PORT",
        "ZENDESK_SUBDOMAIN",
        "ZENDESK_API_TOKEN",
        "IM_SDKAPPID",
        "IM_SECRET_KEY",
    ] {
        assert!(err.contains(name), "{name} missing from:\n{err}");
    }
}

#[test]
fn the_usersig_command_prints_a_valid_sig() {
    let dir = TempDb::new();
    let out = bridge(&dir)
        .args(["usersig", "bob", "--expire", "600"])
        .env("IM_SDKAPPID", "1400000009")
        .env("IM_SECRET_KEY", "cli-key")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = String::from_utf8(out.stdout).unwrap();
    let claims = UserSigner::new(1_400_000_009, Secret::new("cli-key"))
        .verify("bob", sig.trim())
        .unwrap();
    assert_eq!(claims.expire, 600);
}

/// The reference backend's `.env`, unchanged (its six variables, with `EMAIL` ending in
/// `/token` as its HTTP Basic needs), plus where the emulators are and a free port: the bridge
/// authenticates to the emulated Zendesk (which checks `{email}/token:{token}` strictly) and
/// opens a case.
#[tokio::test]
async fn the_reference_backends_env_file_works_unchanged() {
    let up = Upstreams::start().await;
    let dir = TempDb::new();
    let port = free_port();
    let env_file = format!(
        "YOUR_SDKAPPID={SDKAPPID}\nYOUR_SECRET={IM_KEY}\nADMIN_USERID={ADMIN}\nSUB_DOMAIN=acme\n\
         EMAIL={ZENDESK_EMAIL}/token\nTOKEN={ZENDESK_TOKEN}\n\
         ZENDESK_BASE_URL={}\nIM_BASE_URL={}\nPORT={port}\n",
        up.zendesk_served.base_url, up.im_served.base_url
    );
    std::fs::write(dir.work_dir().join(".env"), env_file).unwrap();
    let _bridge = KillOnDrop(
        bridge(&dir)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the bridge starts"),
    );
    wait_ready(port).await;
    let sig = UserSigner::new(SDKAPPID, Secret::new(IM_KEY)).generate("alice", 600);
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/createticket"))
        .header("Authorization", format!("UserSig {}", sig.expose()))
        .json(&case("alice"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let ticket = body["TicketId"].as_u64().expect("a ticket id");
    assert!(up.zendesk.ticket(ticket).is_some(), "ticket {ticket} made");
}
