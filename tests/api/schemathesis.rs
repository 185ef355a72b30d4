//! Schemathesis (PyPI, installed by `scripts/test` into the test virtualenv) against the
//! bridge with both emulators, every route, from `openapi.yaml` as the bridge serves it: a
//! bounded number of generated requests per route, valid and invalid, every check it has (no
//! 5xx, status, content type, headers and body as documented, invalid data refused, valid data
//! accepted, authentication enforced), and its stateful phase, which retries `/createticket`
//! with and without `Idempotency-Key` through the spec's links. The hooks
//! (`tests/interop/schemathesis_hooks.py`) sign each request as its real caller would, and add
//! a check that one key never gets two tickets.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::agent::jwt;
use ticket_bridge::secret::Secret;

use crate::contract::ZAF_SECRET;
use crate::helpers::*;

/// Generated requests per route and phase: enough to find what the inputs the tests were
/// written for miss, within a minute or two on the CI machine.
const EXAMPLES_PER_ROUTE: &str = "30";

#[tokio::test]
async fn schemathesis_finds_nothing_against_the_bridge() {
    let app = spawn_conversation_app(|env| {
        env.insert("ZAF_SHARED_SECRET".into(), ZAF_SECRET.into());
    })
    .await;
    // A ticket with an agent session, so the agent routes are reached past authentication.
    let ticket = app.open_case("alice").await;
    let agent = app.zendesk.seed_agent("Sam Agent", "sam@support.test");
    let now = now_ms() / 1000;
    let zaf_jwt = jwt::sign(
        &json!({"ticket_id": ticket, "agent_id": agent, "agent_name": "Sam Agent",
                "agent_email": "sam@support.test", "iat": now, "exp": now + 3600}),
        &Secret::new(ZAF_SECRET),
    );
    let session: Value = app
        .http
        .post(format!("{}/agent/session", app.address))
        .header("Authorization", format!("Bearer {zaf_jwt}"))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("JSON");
    let token = session["token"].as_str().expect("a session token");

    let python = std::env::var("TB_PYTHON").unwrap_or_else(|_| "python3".into());
    let interop = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
    let run = tokio::process::Command::new(python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(format!("{interop}/schemathesis.toml"))
        .args(["--no-color", "run"])
        .arg(format!("{}/openapi.yaml", app.address))
        .args([
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            EXAMPLES_PER_ROUTE,
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
        ])
        .env("PYTHONPATH", interop)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("TB_SDKAPPID", SDKAPPID.to_string())
        .env("TB_IM_KEY", IM_KEY)
        .env("TB_WEBHOOK_SECRET", app.webhook_secret())
        .env("TB_CALLBACK_TOKEN", CALLBACK_TOKEN)
        .env("TB_ZAF_JWT", &zaf_jwt)
        .env("TB_AGENT_TOKEN", token)
        .current_dir(app.db.work_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("schemathesis finished within 10 minutes")
        .expect("schemathesis runs (scripts/test installs it into target/pyenv)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown with `--nocapture`: what ran, and how many cases.
    println!("{report}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // Not a run that tested nothing: every operation of the spec was exercised, but the one
    // serving the document itself, which schemathesis leaves out when loading from it.
    let operations = crate::openapi::operations(&crate::openapi::spec()).len() - 1;
    assert!(
        report.contains(&format!("Tested: {operations}\n")),
        "schemathesis did not test the {operations} operations:\n{report}"
    );
}
