//! Black-box tests of the IM emulator: served on a random port, called over real HTTP.

mod accounts;
mod callbacks;
mod convention;
mod groups;
mod messages;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{ImEmulator, ImEmulatorConfig};
use crate::sandbox::{serve, Served};
use crate::secret::Secret;
use crate::usersig::UserSigner;

const APP: u64 = 1_400_000_000;
const KEY: &str = "emulator-test-key";
const ADMIN: &str = "administrator";

/// A served emulator and a client for it.
struct TestIm {
    emu: ImEmulator,
    served: Served,
    http: reqwest::Client,
    signer: UserSigner,
}

impl TestIm {
    async fn start() -> Self {
        Self::with_config(ImEmulatorConfig::new(APP, Secret::new(KEY), ADMIN)).await
    }

    async fn with_config(config: ImEmulatorConfig) -> Self {
        let emu = ImEmulator::new(config);
        let served = serve(emu.router(), 0).await.unwrap();
        Self {
            signer: emu.user_signer(),
            emu,
            served,
            http: reqwest::Client::new(),
        }
    }

    /// A correct query for the admin.
    fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("sdkappid", APP.to_string()),
            ("identifier", ADMIN.to_string()),
            (
                "usersig",
                self.signer.generate(ADMIN, 86_400).expose().to_string(),
            ),
            ("random", rand::random::<u32>().to_string()),
            ("contenttype", "json".to_string()),
        ]
    }

    /// POSTs `body` to `/v4/<path>` with `query`; the status and the JSON answer (Null if none).
    async fn post_raw(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}/v4/{path}", self.served.base_url))
            .query(query)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A correctly authenticated call; asserts HTTP 200.
    async fn call(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post_raw(path, &self.query(), body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        answer
    }

    /// A call that must succeed.
    async fn ok(&self, path: &str, body: Value) -> Value {
        let answer = self.call(path, body).await;
        assert_eq!(answer["ActionStatus"], "OK", "{path}: {answer}");
        assert_eq!(answer["ErrorCode"], 0, "{path}: {answer}");
        answer
    }

    /// A call that must fail with `code`; returns the ErrorInfo.
    async fn fails(&self, path: &str, body: Value, code: u64) -> String {
        let answer = self.call(path, body).await;
        assert_eq!(answer["ActionStatus"], "FAIL", "{path}: {answer}");
        assert_eq!(answer["ErrorCode"], code, "{path}: {answer}");
        answer["ErrorInfo"].as_str().unwrap_or_default().to_string()
    }

    async fn import(&self, user_id: &str) {
        self.ok(
            "im_open_login_svc/account_import",
            json!({ "UserID": user_id }),
        )
        .await;
    }

    /// A Public group with a custom id and these members (already imported).
    async fn create_group(&self, group_id: &str, members: &[&str]) {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({ "Member_Account": m }))
            .collect();
        self.ok(
            "group_open_http_svc/create_group",
            json!({ "Type": "Public", "Name": "Refund", "GroupId": group_id, "MemberList": members }),
        )
        .await;
    }

    async fn send_text(&self, group_id: &str, from: &str, random: u32, text: &str) -> Value {
        self.call(
            "group_open_http_svc/send_group_msg",
            json!({
                "GroupId": group_id,
                "From_Account": from,
                "Random": random,
                "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }],
            }),
        )
        .await
    }
}
