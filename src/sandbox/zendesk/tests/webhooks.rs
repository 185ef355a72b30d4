//! The Webhooks API: create, show, replace, merge, delete, list, signing secrets; admins only,
//! with the `{"errors": [...]}` error shape.

use reqwest::{header, Method, Response};
use serde_json::{json, Value};

use super::{json_of, TestZendesk, API_TOKEN};

const MERGE_PATCH: &str = "application/merge-patch+json";

/// A webhook subscribed to Zendesk ticket events, at `endpoint`.
pub(super) fn event_webhook(name: &str, endpoint: &str, events: &[&str]) -> Value {
    let subscriptions: Vec<String> = events
        .iter()
        .map(|e| format!("zen:event-type:ticket.{e}"))
        .collect();
    json!({"webhook": {
        "name": name, "endpoint": endpoint, "http_method": "POST", "request_format": "json",
        "status": "active", "subscriptions": subscriptions
    }})
}

impl TestZendesk {
    /// A request to the Webhooks API as `authorization`, with a JSON body of `content_type`.
    pub(super) async fn webhooks_call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, &Value)>,
        authorization: &str,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header(header::AUTHORIZATION, authorization);
        if let Some((content_type, body)) = body {
            req = req
                .header(header::CONTENT_TYPE, content_type)
                .body(body.to_string());
        }
        self.send(req).await
    }

    pub(super) async fn create_webhook(&self, body: &Value) -> Response {
        self.webhooks_call(
            Method::POST,
            "/api/v2/webhooks",
            Some(("application/json", body)),
            &Self::admin_auth(),
        )
        .await
    }

    /// Creates a webhook (asserting 201) and returns its id.
    pub(super) async fn new_webhook(&self, body: &Value) -> String {
        let resp = self.create_webhook(body).await;
        assert_eq!(resp.status(), 201);
        json_of(resp).await["webhook"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn webhook_json(&self, id: &str) -> Value {
        let resp = self.get(&format!("/api/v2/webhooks/{id}")).await;
        assert_eq!(resp.status(), 200);
        json_of(resp).await["webhook"].clone()
    }

    async fn put_webhook(&self, id: &str, body: &Value) -> Response {
        self.webhooks_call(
            Method::PUT,
            &format!("/api/v2/webhooks/{id}"),
            Some(("application/json", body)),
            &Self::admin_auth(),
        )
        .await
    }

    async fn patch_webhook(&self, id: &str, content_type: &str, body: &Value) -> Response {
        self.webhooks_call(
            Method::PATCH,
            &format!("/api/v2/webhooks/{id}"),
            Some((content_type, body)),
            &Self::admin_auth(),
        )
        .await
    }
}

/// Asserts a status with an `{"errors": [...]}` body, and returns the `detail` texts.
async fn assert_errors(resp: Response, status: u16) -> Vec<String> {
    assert_eq!(resp.status(), status);
    let body = json_of(resp).await;
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty(), "no errors in {body}");
    for e in &errors {
        assert!(e["code"].is_string() && e["title"].is_string(), "{e}");
    }
    errors
        .iter()
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect()
}

fn mentions(details: &[String], needle: &str) -> bool {
    details.iter().any(|d| d.contains(needle))
}

#[tokio::test]
async fn create_show_and_delete() {
    let zd = TestZendesk::start().await;
    let mut body = event_webhook(
        "Bridge",
        "https://bridge.example.com/zendesk",
        &["comment_added", "agent_assignment_changed"],
    );
    body["webhook"]["description"] = json!("to the IM bridge");
    body["webhook"]["authentication"] = json!({"type": "basic_auth", "add_position": "header",
        "data": {"username": "zd", "password": "hunter2"}});
    body["webhook"]["custom_headers"] = json!({"X-Env": "test"});
    body["webhook"]["id"] = json!("ignored");

    let resp = zd.create_webhook(&body).await;
    assert_eq!(resp.status(), 201);
    let created = json_of(resp).await["webhook"].clone();
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 26);
    assert!(id.starts_with("01"), "{id}");
    assert_eq!(created["name"], "Bridge");
    assert_eq!(created["description"], "to the IM bridge");
    assert_eq!(created["endpoint"], "https://bridge.example.com/zendesk");
    assert_eq!(created["http_method"], "POST");
    assert_eq!(created["request_format"], "json");
    assert_eq!(created["status"], "active");
    assert_eq!(created["subscriptions"], body["webhook"]["subscriptions"]);
    assert_eq!(created["custom_headers"], json!({"X-Env": "test"}));
    assert_eq!(created["created_by"], zd.emu.admin_id().to_string());
    assert!(created["created_at"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));
    // Secrets never come back: no signing secret, no password.
    assert!(created.get("signing_secret").is_none());
    assert_eq!(
        created["authentication"],
        json!({"type": "basic_auth", "add_position": "header", "data": {"username": "zd"}})
    );
    assert!(!created.to_string().contains("hunter2"));

    assert_eq!(zd.webhook_json(&id).await, created);
    let listed = zd.emu.webhooks();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].status, "active");

    let resp = zd
        .webhooks_call(
            Method::DELETE,
            &format!("/api/v2/webhooks/{id}"),
            None,
            &TestZendesk::admin_auth(),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let gone = zd.get(&format!("/api/v2/webhooks/{id}")).await;
    assert_errors(gone, 404).await;
    assert!(zd.emu.webhooks().is_empty());
    // The Webhooks API takes no `.json` suffix.
    assert_eq!(zd.get("/api/v2/webhooks.json").await.status(), 404);
}

#[tokio::test]
async fn put_replaces_and_patch_merges() {
    let zd = TestZendesk::start().await;
    let mut body = event_webhook("Bridge", "https://a.example.com/", &["comment_added"]);
    body["webhook"]["description"] = json!("first");
    let id = zd.new_webhook(&body).await;

    // PUT: what the request leaves out is cleared.
    let replacement = event_webhook("Renamed", "https://b.example.com/", &["status_changed"]);
    assert_eq!(zd.put_webhook(&id, &replacement).await.status(), 204);
    let w = zd.webhook_json(&id).await;
    assert_eq!(w["name"], "Renamed");
    assert_eq!(w["endpoint"], "https://b.example.com/");
    assert!(w.get("description").is_none());
    assert_eq!(
        w["subscriptions"],
        json!(["zen:event-type:ticket.status_changed"])
    );
    // PUT is a whole webhook: a missing required field is refused.
    let mut partial = replacement.clone();
    if let Some(m) = partial["webhook"].as_object_mut() {
        m.remove("status");
    }
    let details = assert_errors(zd.put_webhook(&id, &partial).await, 400).await;
    assert!(mentions(&details, "status is required"), "{details:?}");

    // PATCH: a JSON merge patch, sent as one.
    let patch = json!({"webhook": {"status": "inactive", "description": "second"}});
    assert_errors(zd.patch_webhook(&id, "application/json", &patch).await, 400).await;
    assert_eq!(
        zd.patch_webhook(&id, MERGE_PATCH, &patch).await.status(),
        204
    );
    let w = zd.webhook_json(&id).await;
    assert_eq!(
        (w["name"].clone(), w["status"].clone()),
        (json!("Renamed"), json!("inactive"))
    );
    assert_eq!(w["description"], "second");
    let clear = json!({"webhook": {"description": null}});
    assert_eq!(
        zd.patch_webhook(&id, MERGE_PATCH, &clear).await.status(),
        204
    );
    assert!(zd.webhook_json(&id).await.get("description").is_none());
    // The merged result is validated as a whole.
    let bad = json!({"webhook": {"http_method": "GET", "endpoint": null}});
    let details = assert_errors(zd.patch_webhook(&id, MERGE_PATCH, &bad).await, 400).await;
    assert!(mentions(&details, "must be POST"), "{details:?}");
    assert!(mentions(&details, "endpoint is required"), "{details:?}");
    // The connection method is fixed at creation.
    let switch = json!({"webhook": {"subscriptions": ["conditional_ticket_events"]}});
    assert_errors(zd.patch_webhook(&id, MERGE_PATCH, &switch).await, 400).await;
    // Admins can't set the signing secret.
    let secret = json!({"webhook": {"signing_secret": {"secret": "mine"}}});
    assert_errors(zd.patch_webhook(&id, MERGE_PATCH, &secret).await, 400).await;
    assert_eq!(zd.webhook_json(&id).await["status"], "inactive");

    for resp in [
        zd.put_webhook("01NOSUCHWEBHOOK00000000000", &replacement)
            .await,
        zd.patch_webhook("01NOSUCHWEBHOOK00000000000", MERGE_PATCH, &patch)
            .await,
    ] {
        assert_errors(resp, 404).await;
    }
}

#[tokio::test]
async fn invalid_webhooks_are_refused_with_every_problem_listed() {
    let zd = TestZendesk::start().await;

    let details = assert_errors(
        zd.create_webhook(&json!({"webhook": {"subscriptions": "all"}}))
            .await,
        400,
    )
    .await;
    for field in [
        "name",
        "endpoint",
        "http_method",
        "request_format",
        "status",
    ] {
        assert!(
            mentions(&details, &format!("{field} is required")),
            "{field}: {details:?}"
        );
    }
    assert!(
        mentions(&details, "subscriptions must be an array"),
        "{details:?}"
    );

    let cases = [
        (
            "http://bridge.example.com/hook",
            "POST",
            "json",
            json!(["zen:event-type:ticket.comment_added"]),
            "https://",
        ),
        (
            "https://ok.example.com",
            "GET",
            "json",
            json!(["zen:event-type:ticket.comment_added"]),
            "must be POST",
        ),
        (
            "https://ok.example.com",
            "POST",
            "xml",
            json!(["zen:event-type:ticket.comment_added"]),
            "must be json",
        ),
        (
            "https://ok.example.com",
            "POST",
            "json",
            json!(["conditional_ticket_events", "zen:event-type:ticket.created"]),
            "cannot be combined",
        ),
        (
            "https://ok.example.com",
            "POST",
            "json",
            json!(["ticket.comment_added"]),
            "neither",
        ),
        (
            "https://ok.example.com",
            "post",
            "json",
            json!([]),
            "http_method must be one of",
        ),
    ];
    for (endpoint, method, format, subscriptions, needle) in cases {
        let body = json!({"webhook": {
            "name": "x", "endpoint": endpoint, "http_method": method, "request_format": format,
            "status": "active", "subscriptions": subscriptions
        }});
        let details = assert_errors(zd.create_webhook(&body).await, 400).await;
        assert!(mentions(&details, needle), "{needle}: {details:?}");
    }

    // Not JSON, or without the root object: 400 in the same shape.
    let resp = zd
        .webhooks_call(
            Method::POST,
            "/api/v2/webhooks",
            Some(("text/plain", &json!({}))),
            &TestZendesk::admin_auth(),
        )
        .await;
    assert_errors(resp, 400).await;
    assert_errors(zd.create_webhook(&json!({"name": "x"})).await, 400).await;
    assert!(zd.emu.webhooks().is_empty());

    // A trigger webhook may use any method and format; http is fine on loopback only.
    let trigger = json!({"webhook": {
        "name": "t", "endpoint": "http://127.0.0.1:9/x", "http_method": "PUT",
        "request_format": "form_encoded", "status": "inactive",
        "subscriptions": ["conditional_ticket_events"]
    }});
    assert_eq!(zd.create_webhook(&trigger).await.status(), 201);
}

#[tokio::test]
async fn agents_are_forbidden() {
    let zd = TestZendesk::start().await;
    let id = zd
        .new_webhook(&event_webhook(
            "w",
            "https://x.example.com",
            &["comment_added"],
        ))
        .await;
    zd.emu.seed_agent("Agnes", "agnes@example.com");
    let agent = TestZendesk::basic("agnes@example.com", API_TOKEN);
    let body = event_webhook("mine", "https://y.example.com", &["comment_added"]);

    let calls = [
        (Method::GET, "/api/v2/webhooks".to_owned(), None),
        (
            Method::POST,
            "/api/v2/webhooks".to_owned(),
            Some(("application/json", &body)),
        ),
        (Method::GET, format!("/api/v2/webhooks/{id}"), None),
        (
            Method::PUT,
            format!("/api/v2/webhooks/{id}"),
            Some(("application/json", &body)),
        ),
        (
            Method::PATCH,
            format!("/api/v2/webhooks/{id}"),
            Some((MERGE_PATCH, &body)),
        ),
        (Method::DELETE, format!("/api/v2/webhooks/{id}"), None),
        (
            Method::GET,
            format!("/api/v2/webhooks/{id}/signing_secret"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v2/webhooks/{id}/signing_secret"),
            None,
        ),
    ];
    for (method, path, body) in calls {
        let resp = zd.webhooks_call(method.clone(), &path, body, &agent).await;
        assert_eq!(resp.status(), 403, "{method} {path}");
        let json = json_of(resp).await;
        assert_eq!(json["errors"][0]["code"], "Forbidden", "{method} {path}");
    }
    assert_eq!(zd.emu.webhooks().len(), 1);
    // Without credentials it is the gate's 401, as everywhere.
    let anon = zd.send(zd.http.get(zd.url("/api/v2/webhooks"))).await;
    assert_eq!(anon.status(), 401);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let zd = TestZendesk::start().await;
    let a = zd
        .new_webhook(&event_webhook(
            "Bridge A",
            "https://a.example.com",
            &["comment_added"],
        ))
        .await;
    let mut inactive = event_webhook("Bridge B", "https://b.example.com", &["status_changed"]);
    inactive["webhook"]["status"] = json!("inactive");
    let b = zd.new_webhook(&inactive).await;
    let c = zd
        .new_webhook(&event_webhook(
            "Other",
            "https://c.example.com",
            &["comment_added"],
        ))
        .await;
    let ids = |body: &Value| -> Vec<String> {
        body["webhooks"]
            .as_array()
            .map(|ws| {
                ws.iter()
                    .filter_map(|w| w["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };

    let all = json_of(zd.get("/api/v2/webhooks").await).await;
    assert_eq!(ids(&all), vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(all["meta"]["has_more"], false);
    let bridge = json_of(
        zd.get("/api/v2/webhooks?filter[name_contains]=Bridge")
            .await,
    )
    .await;
    assert_eq!(ids(&bridge), vec![a.clone(), b.clone()]);
    let off = json_of(zd.get("/api/v2/webhooks?filter[status]=inactive").await).await;
    assert_eq!(ids(&off), vec![b.clone()]);
    let on = json_of(
        zd.get("/api/v2/webhooks?filter[status]=active&filter[name_contains]=Bridge")
            .await,
    )
    .await;
    assert_eq!(ids(&on), vec![a.clone()]);

    let first = json_of(zd.get("/api/v2/webhooks?page[size]=2").await).await;
    assert_eq!(ids(&first), vec![a, b]);
    assert_eq!(first["meta"]["has_more"], true);
    let next = first["links"]["next"].as_str().unwrap_or_default();
    let path = next.strip_prefix(&zd.served.base_url).unwrap_or(next);
    let second = json_of(zd.get(path).await).await;
    assert_eq!(ids(&second), vec![c]);
    assert_eq!(second["meta"]["has_more"], false);

    for bad in [
        "/api/v2/webhooks?filter[status]=paused",
        "/api/v2/webhooks?page[size]=0",
        "/api/v2/webhooks?sort=name",
    ] {
        assert_errors(zd.get(bad).await, 400).await;
    }
}

#[tokio::test]
async fn an_account_holds_at_most_ten_webhooks() {
    let zd = TestZendesk::start().await;
    for i in 0..10 {
        zd.new_webhook(&event_webhook(
            &format!("w{i}"),
            "https://x.example.com",
            &["comment_added"],
        ))
        .await;
    }
    let resp = zd
        .create_webhook(&event_webhook(
            "w10",
            "https://x.example.com",
            &["comment_added"],
        ))
        .await;
    assert_errors(resp, 403).await;
    assert_eq!(zd.emu.webhooks().len(), 10);
}

#[tokio::test]
async fn signing_secrets_are_shown_and_reset() {
    let zd = TestZendesk::start().await;
    let id = zd
        .new_webhook(&event_webhook(
            "w",
            "https://x.example.com",
            &["comment_added"],
        ))
        .await;
    let path = format!("/api/v2/webhooks/{id}/signing_secret");

    let resp = zd.get(&path).await;
    assert_eq!(resp.status(), 200);
    let shown = json_of(resp).await;
    assert_eq!(shown["signing_secret"]["algorithm"], "SHA256");
    let first = shown["signing_secret"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(first.len() >= 40, "{first}");
    assert_eq!(zd.emu.signing_secret(&id).as_deref(), Some(first.as_str()));

    let resp = zd
        .webhooks_call(Method::POST, &path, None, &TestZendesk::admin_auth())
        .await;
    assert_eq!(resp.status(), 201);
    let reset = json_of(resp).await["signing_secret"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(reset, first);
    assert_eq!(
        json_of(zd.get(&path).await).await["signing_secret"]["secret"],
        reset
    );
    assert_errors(zd.get("/api/v2/webhooks/nope/signing_secret").await, 404).await;
}
