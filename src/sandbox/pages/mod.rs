//! The sandbox's two pages, so a person can click through the whole product in a browser:
//!
//! - `/customer`: a customer's chat app — open a case (the page's server side plays the app's
//!   backend: it logs the customer into the emulated IM and calls `/createticket` with their
//!   UserSig), then chat in the case's group, live;
//! - `/workspace/tickets/{id}?agent=<id>`: an emulated Zendesk agent workspace that runs the
//!   built sidebar app (`zendesk-app/dist`) unmodified in an iframe and answers the ZAF SDK's
//!   postMessage protocol: ticket and user data, metadata without secure settings, and
//!   `client.request` through [`zaf_proxy`], which substitutes settings and signs the JWT as
//!   Zendesk's proxy does.

pub mod zaf_proxy;

use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::im::ImEmulator;
use crate::usersig::UserSigner;
use zaf_proxy::{Installation, RequestOptions};

const WORKSPACE_HTML: &str = include_str!("workspace.html");
const CUSTOMER_HTML: &str = include_str!("customer.html");

/// A seeded agent the workspace can act as.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: u64,
    pub name: String,
    pub email: String,
}

/// What the pages need.
pub struct Pages {
    pub im: ImEmulator,
    pub bridge_url: String,
    pub signer: UserSigner,
    pub installation: Installation,
    pub agents: Vec<Agent>,
    /// The built app (`zendesk-app/dist`), if it was built.
    pub app_dir: Option<PathBuf>,
    pub http: reqwest::Client,
}

/// Where the built sidebar app is: `ZENDESK_APP_DIST`, else `zendesk-app/dist` here or in the
/// source tree.
pub fn find_app_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var("ZENDESK_APP_DIST").ok().map(PathBuf::from),
        Some(PathBuf::from("zendesk-app/dist")),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/zendesk-app/dist"
        ))),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join("assets/iframe.html").is_file())
}

pub fn router(pages: Pages) -> Router {
    Router::new()
        .route("/customer", get(customer))
        .route("/customer/api/open", post(open_case))
        .route("/customer/api/messages", get(messages))
        .route("/customer/api/send", post(send))
        .route("/workspace/tickets/{id}", get(workspace))
        .route("/app/{*path}", get(app_file))
        .route("/zaf/proxy", post(proxy))
        .with_state(Arc::new(pages))
}

/// The page with its configuration as JSON (`</` escaped so it cannot end the script).
fn page(template: &str, config: &Value) -> Html<String> {
    Html(template.replace("__CONFIG__", &config.to_string().replace("</", "<\\/")))
}

async fn customer() -> Html<&'static str> {
    Html(CUSTOMER_HTML)
}

#[derive(Deserialize)]
struct AgentQuery {
    agent: Option<u64>,
}

async fn workspace(
    State(p): State<Arc<Pages>>,
    Path(ticket): Path<u64>,
    Query(q): Query<AgentQuery>,
) -> Response {
    let Some(agent) = q
        .agent
        .and_then(|id| p.agents.iter().find(|a| a.id == id))
        .or(p.agents.first())
    else {
        return (StatusCode::NOT_FOUND, "no agent").into_response();
    };
    let settings: serde_json::Map<String, Value> = p
        .installation
        .settings
        .iter()
        .filter(|(name, _)| name.as_str() != "shared_secret") // secure: never to the browser
        .map(|(name, value)| (name.clone(), json!(value.expose())))
        .collect();
    let config = json!({
        "ticketId": ticket,
        "appBuilt": p.app_dir.is_some(),
        "appGuid": crate::store::new_id(),
        "settings": settings,
        "agent": {"id": agent.id, "name": agent.name, "email": agent.email, "locale": "en-US"},
        "agents": p.agents.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
    });
    page(WORKSPACE_HTML, &config).into_response()
}

/// The built app's files, by path under `dist/` (no `..`).
async fn app_file(State(p): State<Arc<Pages>>, Path(path): Path<String>) -> Response {
    let Some(dir) = &p.app_dir else {
        return (StatusCode::NOT_FOUND, "the app is not built").into_response();
    };
    let rel = FsPath::new(&path);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(rel)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// `client.request` from the app, proxied.
async fn proxy(State(p): State<Arc<Pages>>, Json(options): Json<RequestOptions>) -> Json<Value> {
    let now = crate::store::now_ms() / 1000;
    let result = match p.installation.prepare(options, now) {
        Ok(ready) => zaf_proxy::send(&p.http, &ready).await,
        Err(e) => Err(e),
    };
    Json(match result {
        Ok(r) => json!({"status": r.status, "contentType": r.content_type, "body": r.body}),
        Err(e) => json!({"status": 0, "error": e.to_string()}),
    })
}

#[derive(Deserialize)]
struct OpenCase {
    user: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    subject: String,
    desc: String,
}

/// The customer's app backend: logs the user in to IM and opens the case with their UserSig.
async fn open_case(State(p): State<Arc<Pages>>, Json(c): Json<OpenCase>) -> Response {
    p.im.import_account(&c.user, None);
    let sig = p.signer.generate(&c.user, 3600);
    let sent = p
        .http
        .post(format!("{}/createticket", p.bridge_url))
        .header(header::AUTHORIZATION, format!("UserSig {}", sig.expose()))
        .header("Idempotency-Key", crate::store::new_id())
        .json(&json!({"userId": c.user, "caseInfo": {"name": c.name, "subject": c.subject, "desc": c.desc}}))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status =
                StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, Json(body)).into_response()
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"ErrorInfo": "the bridge did not answer"})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct GroupQuery {
    group: String,
    #[serde(default)]
    after: u64,
}

/// The group's messages after a seq, as the customer's SDK would receive them.
async fn messages(State(p): State<Arc<Pages>>, Query(q): Query<GroupQuery>) -> Response {
    let Some(group) = p.im.group(&q.group) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such group"})),
        )
            .into_response();
    };
    let accounts = p.im.accounts();
    let nick = |id: &str| {
        accounts
            .iter()
            .find(|a| a.user_id == id)
            .and_then(|a| a.nick.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let list: Vec<Value> = group
        .messages
        .iter()
        .filter(|m| m.seq > q.after && !m.system)
        .map(|m| {
            json!({
                "seq": m.seq,
                "from": m.from,
                "nick": nick(&m.from),
                "time": m.time,
                "text": crate::im::elements::describe(m.body.as_array().map_or(&[][..], Vec::as_slice)),
            })
        })
        .collect();
    Json(json!({"messages": list, "members": group.members})).into_response()
}

#[derive(Deserialize)]
struct Send {
    group: String,
    user: String,
    text: String,
}

/// The customer sends, as their IM SDK would (IM calls the bridge back).
async fn send(State(p): State<Arc<Pages>>, Json(s): Json<Send>) -> Response {
    match p.im.client_send_text(&s.group, &s.user, &s.text) {
        Ok((seq, time)) => Json(json!({"seq": seq, "time": time})).into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": e}))).into_response(),
    }
}
