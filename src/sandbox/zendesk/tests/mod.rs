//! Black-box tests of the emulator over real HTTP, one helper per endpoint.

mod auth;
mod comments;
mod idempotency;
mod limits;
mod ticket_list;
mod tickets;
mod users;
mod validation;
mod webhook_events;
mod webhooks;

use base64::Engine;
use reqwest::{header, Response};
use serde_json::{json, Value};

use super::{ZendeskEmulator, ZendeskEmulatorConfig};
use crate::sandbox::{serve, Served};
use crate::secret::Secret;

const ADMIN_EMAIL: &str = "admin@example.com";
const API_TOKEN: &str = "test-api-token";

/// An emulator served on a free port, and a client for it.
struct TestZendesk {
    emu: ZendeskEmulator,
    served: Served,
    http: reqwest::Client,
}

impl TestZendesk {
    async fn start() -> Self {
        Self::with_config(|_| {}).await
    }

    async fn with_config(tweak: impl FnOnce(&mut ZendeskEmulatorConfig)) -> Self {
        let mut config = ZendeskEmulatorConfig::new(ADMIN_EMAIL, Secret::new(API_TOKEN));
        tweak(&mut config);
        let emu = ZendeskEmulator::new(config);
        let served = match serve(emu.router(), 0).await {
            Ok(s) => s,
            Err(e) => panic!("cannot serve the emulator: {e}"),
        };
        Self {
            emu,
            served,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.base_url)
    }

    fn basic(email: &str, secret: &str) -> String {
        let raw = format!("{email}/token:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn admin_auth() -> String {
        Self::basic(ADMIN_EMAIL, API_TOKEN)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        match req.send().await {
            Ok(r) => r,
            Err(e) => panic!("request failed: {e}"),
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.get_as(path, &Self::admin_auth()).await
    }

    async fn get_as(&self, path: &str, authorization: &str) -> Response {
        self.send(
            self.http
                .get(self.url(path))
                .header(header::AUTHORIZATION, authorization),
        )
        .await
    }

    async fn create_ticket(&self, body: Value) -> Response {
        self.send(self.post_json("/api/v2/tickets.json", &body))
            .await
    }

    async fn create_ticket_with_key(&self, key: &str, body: &Value) -> Response {
        self.send(
            self.post_json("/api/v2/tickets.json", body)
                .header("Idempotency-Key", key),
        )
        .await
    }

    async fn create_user(&self, body: Value) -> Response {
        self.send(self.post_json("/api/v2/users.json", &body)).await
    }

    /// Creates a user from `body` and returns its id (asserting 201).
    async fn new_user(&self, body: Value) -> u64 {
        let resp = self.create_user(body).await;
        assert_eq!(resp.status(), 201);
        let json = json_of(resp).await;
        json["user"]["id"].as_u64().unwrap_or(0)
    }

    async fn search_users(&self, params: &[(&str, &str)]) -> Response {
        self.send(
            self.http
                .get(self.url("/api/v2/users/search.json"))
                .header(header::AUTHORIZATION, Self::admin_auth())
                .query(params),
        )
        .await
    }

    async fn list_tickets(&self, params: &[(&str, &str)]) -> Response {
        self.send(
            self.http
                .get(self.url("/api/v2/tickets.json"))
                .header(header::AUTHORIZATION, Self::admin_auth())
                .query(params),
        )
        .await
    }

    fn post_json(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header(header::AUTHORIZATION, Self::admin_auth())
            .json(body)
    }

    async fn update_ticket(&self, id: u64, body: Value) -> Response {
        self.update_ticket_as(id, body, &Self::admin_auth()).await
    }

    async fn update_ticket_as(&self, id: u64, body: Value, authorization: &str) -> Response {
        self.send(
            self.http
                .put(self.url(&format!("/api/v2/tickets/{id}.json")))
                .header(header::AUTHORIZATION, authorization)
                .json(&body),
        )
        .await
    }

    /// Creates a ticket from `body` and returns its id (asserting 201).
    async fn new_ticket(&self, body: Value) -> u64 {
        let resp = self.create_ticket(body).await;
        assert_eq!(resp.status(), 201);
        let json = json_of(resp).await;
        json["ticket"]["id"].as_u64().unwrap_or(0)
    }

    /// A minimal valid ticket with a new requester.
    async fn simple_ticket(&self) -> u64 {
        self.new_ticket(json!({"ticket": {
            "subject": "Help", "comment": {"body": "It broke"},
            "requester": {"name": "Carol", "email": "carol@example.com"}
        }}))
        .await
    }
}

async fn json_of(resp: Response) -> Value {
    match resp.json::<Value>().await {
        Ok(v) => v,
        Err(e) => panic!("response is not JSON: {e}"),
    }
}

async fn text_of(resp: Response) -> String {
    resp.text().await.unwrap_or_default()
}

fn header_str(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Asserts a 422 `RecordInvalid` whose `details` has `field`, and returns the body.
async fn assert_record_invalid(resp: Response, field: &str) -> Value {
    assert_eq!(resp.status(), 422);
    let body = json_of(resp).await;
    assert_eq!(body["error"], "RecordInvalid");
    assert_eq!(body["description"], "Record validation errors");
    assert!(
        body["details"][field].is_array(),
        "details.{field} missing in {body}"
    );
    body
}
