//! `ticket-bridge sandbox`: the bridge and emulators of both upstreams in one process, so a
//! newcomer without a Zendesk or Tencent account can try every flow.

use std::collections::{BTreeMap, HashMap};

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::im::{CallbackTarget, ImEmulator, ImEmulatorConfig};
use super::pages::{self, zaf_proxy::Installation, Agent, Pages};
use super::zendesk::{ZendeskEmulator, ZendeskEmulatorConfig};
use crate::config::{Config, ConfigError};
use crate::operator;
use crate::secret::Secret;
use crate::startup::{self, Application, StartupError};
use crate::usersig::UserSigner;
use crate::zendesk::{ZendeskAuth, ZendeskClient};

pub const SANDBOX_SDKAPPID: u64 = 1_400_000_000;
pub const SANDBOX_ADMIN: &str = "administrator";
pub const SANDBOX_ZENDESK_EMAIL: &str = "bridge@sandbox.zendesk.test";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not start an emulator: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("could not connect the emulated Zendesk's webhook: {0}")]
    Webhook(#[from] crate::zendesk::ZendeskError),
    #[error("the emulated Zendesk gave no webhook signing secret")]
    NoSecret,
}

/// Runs until Ctrl-C / SIGTERM. The bridge listens on `PORT` (15000); emulators on free ports.
pub async fn run() -> Result<(), SandboxError> {
    let im_key = Secret::new(random_hex(32));
    let callback_token = Secret::new(random_hex(16));
    let zaf_secret = Secret::new(random_hex(24));
    let zendesk_token = Secret::new(random_hex(20));
    let im = ImEmulator::new(ImEmulatorConfig::new(
        SANDBOX_SDKAPPID,
        im_key.clone(),
        SANDBOX_ADMIN,
    ));
    let zendesk = ZendeskEmulator::new(ZendeskEmulatorConfig::new(
        SANDBOX_ZENDESK_EMAIL,
        zendesk_token.clone(),
    ));
    let agent_id = zendesk.seed_agent("Sam Agent", "sam@sandbox.zendesk.test");
    let other_agent = zendesk.seed_agent("Kim Lead", "kim@sandbox.zendesk.test");
    let im_served = super::serve(im.router(), 0).await?;
    let zendesk_served = super::serve(zendesk.router(), 0).await?;
    // The pages' server is bound first: its origin is the one the bridge's CORS must allow.
    let pages_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let pages_origin = format!("http://{}", pages_listener.local_addr()?);

    // Connect the emulated Zendesk's webhooks as an operator would with `setup-zendesk`: the
    // webhook and its secret first, then (once the bridge's port is known) its endpoint.
    let admin_client = ZendeskClient::new(
        crate::upstream::HttpClient::new().map_err(StartupError::from)?,
        zendesk_served.base_url.clone(),
        ZendeskAuth::ApiToken {
            email: SANDBOX_ZENDESK_EMAIL.to_owned(),
            token: zendesk_token.clone(),
        },
        Duration::from_secs(10),
    );
    let webhook_secret = operator::setup_zendesk(&admin_client, "http://127.0.0.1:9", false)
        .await?
        .secret
        .ok_or(SandboxError::NoSecret)?;

    // The emulators forget everything when the sandbox stops, so the bridge's database must too.
    let db = std::env::temp_dir().join(format!("ticket-bridge-sandbox-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    let mut vars: HashMap<&str, String> = HashMap::from([
        ("HOST", "127.0.0.1".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}", db.display())),
        ("ZENDESK_BASE_URL", zendesk_served.base_url.clone()),
        ("ZENDESK_EMAIL", SANDBOX_ZENDESK_EMAIL.to_owned()),
        ("ZENDESK_API_TOKEN", zendesk_token.expose().to_owned()),
        ("IM_BASE_URL", im_served.base_url.clone()),
        ("IM_SDKAPPID", SANDBOX_SDKAPPID.to_string()),
        ("IM_SECRET_KEY", im_key.expose().to_owned()),
        ("IM_ADMIN_USERID", SANDBOX_ADMIN.to_owned()),
        ("CLIENT_AUTH", "usersig".to_owned()),
        ("ZENDESK_WEBHOOK_SECRET", webhook_secret.expose().to_owned()),
        ("IM_CALLBACK_TOKEN", callback_token.expose().to_owned()),
        ("ZAF_SHARED_SECRET", zaf_secret.expose().to_owned()),
        ("CORS_ALLOWED_ORIGINS", pages_origin.clone()),
    ]);
    // The bridge's own knobs may still be set from the environment.
    for name in ["PORT", "GREETING_TEXT", "GREETING_VIA"] {
        if let Ok(v) = std::env::var(name) {
            vars.insert(name, v);
        }
    }
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let app = Application::build(config).await?;

    let bridge = format!("http://127.0.0.1:{}", app.port());
    operator::setup_zendesk(&admin_client, &bridge, false).await?;
    // IM's console: the callback URL and its authentication token.
    im.set_callback(Some(CallbackTarget {
        url: format!("{bridge}/callbacks/im"),
        token: Some(callback_token),
    }));
    let signer = UserSigner::new(SANDBOX_SDKAPPID, im_key);
    let app_dir = pages::find_app_dir();
    let bridge_host = bridge.trim_start_matches("http://").to_owned();
    let pages = pages::router(Pages {
        im: im.clone(),
        bridge_url: bridge.clone(),
        signer: signer.clone(),
        installation: Installation {
            settings: BTreeMap::from([
                ("bridge_url".to_owned(), Secret::new(bridge.clone())),
                ("shared_secret".to_owned(), zaf_secret),
            ]),
            domain_whitelist: vec![bridge_host],
        },
        agents: [
            (agent_id, "Sam Agent", "sam"),
            (other_agent, "Kim Lead", "kim"),
        ]
        .into_iter()
        .map(|(id, name, mail)| Agent {
            id,
            name: name.to_owned(),
            email: format!("{mail}@sandbox.zendesk.test"),
        })
        .collect(),
        app_dir: app_dir.clone(),
        http: reqwest::Client::new(),
    });
    let inspect_served = super::serve_on(
        pages_listener,
        inspect_router(im.clone(), zendesk.clone(), agent_id).merge(pages),
    )?;
    let app_note = if app_dir.is_some() {
        ""
    } else {
        "\n  (the sidebar app is not built yet: run `npm ci && npm run build` in zendesk-app/ first)"
    };
    let sig = signer.generate("alice", 86_400);
    println!(
        r#"
ticket-bridge sandbox is running (Ctrl-C to stop)

  bridge            {bridge}
  Zendesk emulator  {zd}   (agent "Sam Agent" has id {agent_id})
  IM emulator       {im}   (SDKAppID {SANDBOX_SDKAPPID}, admin "{SANDBOX_ADMIN}")
  inspect state     {inspect}/zendesk/tickets   {inspect}/im/groups

In a browser: the customer's chat app, and the agents' Zendesk workspace with the sidebar app
(open a case on the first, then answer it from the second):

  customer chat     {inspect}/customer
  agent workspace   {inspect}/workspace/tickets/1   (as Sam Agent; ?agent={other_agent} for Kim Lead){app_note}

Open a case as the customer "alice" (the UserSig below is alice's, valid for a day):

curl -sS -X POST {bridge}/createticket \
  -H 'Content-Type: application/json' \
  -H 'Authorization: UserSig {sig}' \
  -d '{{"userId":"alice","caseInfo":{{"subject":"Refund","desc":"Order 42 arrived broken","name":"Alice","email":"alice@example.com"}}}}'

Then look at the ticket and the group it made:

curl -sS {inspect}/zendesk/tickets
curl -sS {inspect}/im/groups

Act as Zendesk: assign ticket 1 to Sam (Zendesk calls the bridge's webhook; Sam joins the
group):

curl -sS -X POST {inspect}/zendesk/tickets/1/assign

The conversation. The customer writes in the chat (as her app's IM SDK would; IM calls the
bridge back and the lines become a comment on ticket 1 within seconds):

curl -sS -X POST '{im}/sdk/send_group_msg?sdkappid={SANDBOX_SDKAPPID}&identifier=alice&usersig={sig}&contenttype=json' \
  -d '{{"GroupId":"ZENDESK#1","MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"Hello, any news on my refund?"}}}}]}}'

Sam replies in Zendesk (a public comment: it reaches the group from Sam's IM account), and
writes an internal note (it stays in Zendesk):

curl -sS -X POST {inspect}/zendesk/tickets/1/reply -d 'We have refunded your order today.'
curl -sS -X POST {inspect}/zendesk/tickets/1/note -d 'Refund approved by finance.'

Then look at both sides (the ticket's comments, the group's messages):

curl -sS {inspect}/zendesk/tickets
curl -sS {inspect}/im/groups

The customer can type /status, /close or /help in the chat. Solve and close the ticket (notices
in the group; closing mutes it):

curl -sS -X POST {inspect}/zendesk/tickets/1/status/solved
curl -sS -X POST {inspect}/zendesk/tickets/1/status/closed
"#,
        zd = zendesk_served.base_url,
        im = im_served.base_url,
        inspect = inspect_served.base_url,
        sig = sig.expose(),
    );
    let result = app.run_until(startup::shutdown_signal()).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(result?)
}

/// Views of the emulators' state, so a visitor can see what the bridge did, and the actions
/// an agent would take in Zendesk's UI.
fn inspect_router(im: ImEmulator, zendesk: ZendeskEmulator, agent_id: u64) -> Router {
    let acting = zendesk.clone();
    let status_of = zendesk.clone();
    let replying = zendesk.clone();
    let noting = zendesk.clone();
    Router::new()
        .route(
            "/zendesk/tickets/{id}/reply",
            post(move |Path(id): Path<u64>, body: String| {
                let zendesk = replying.clone();
                async move { outcome(zendesk.add_public_comment(id, agent_id, &body).map(drop)) }
            }),
        )
        .route(
            "/zendesk/tickets/{id}/note",
            post(move |Path(id): Path<u64>, body: String| {
                let zendesk = noting.clone();
                async move { outcome(zendesk.add_internal_note(id, agent_id, &body).map(drop)) }
            }),
        )
        .route(
            "/zendesk/tickets/{id}/assign",
            post(move |Path(id): Path<u64>| {
                let zendesk = acting.clone();
                async move { outcome(zendesk.assign(id, Some(agent_id))) }
            }),
        )
        .route(
            "/zendesk/tickets/{id}/status/{status}",
            post(move |Path((id, status)): Path<(u64, String)>| {
                let zendesk = status_of.clone();
                async move { outcome(zendesk.set_status(id, &status)) }
            }),
        )
        .route(
            "/zendesk/tickets",
            get(move || {
                let zendesk = zendesk.clone();
                async move {
                    let tickets = zendesk.tickets();
                    // The names of everyone on them, for the workspace page.
                    let users: serde_json::Map<String, serde_json::Value> = tickets
                        .iter()
                        .flat_map(|t| {
                            t.comments
                                .iter()
                                .map(|c| c.author_id)
                                .chain([t.requester_id])
                                .chain(t.assignee_id)
                        })
                        .filter_map(|id| zendesk.user(id).map(|u| (id.to_string(), json!(u.name))))
                        .collect();
                    Json(json!({ "tickets": tickets, "users": users }))
                }
            }),
        )
        .route(
            "/im/groups",
            get(move || {
                let im = im.clone();
                async move { Json(json!({ "groups": im.groups() })) }
            }),
        )
}

fn outcome(result: Result<(), String>) -> (StatusCode, Json<serde_json::Value>) {
    match result {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": e })),
        ),
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}
