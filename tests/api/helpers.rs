//! Spawns the bridge on a random port against both emulators (over real HTTP) with its own
//! SQLite file, and offers one helper per endpoint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::config::Config;
use ticket_bridge::im::ImClient;
use ticket_bridge::sandbox::im::{CallbackTarget, ImEmulator, ImEmulatorConfig};
use ticket_bridge::sandbox::zendesk::{ZendeskEmulator, ZendeskEmulatorConfig};
use ticket_bridge::sandbox::{serve, Served};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::{AdminSig, UserSigner};
use ticket_bridge::zendesk::{ZendeskAuth, ZendeskClient};
use ticket_bridge::{operator, Application};

pub const SDKAPPID: u64 = 1_400_000_000;
pub const IM_KEY: &str = "test-im-secret-key-5bd2850fff3ecb11d7c805251c51ee46";
pub const ADMIN: &str = "administrator";
pub const ZENDESK_EMAIL: &str = "bridge@acme.test";
pub const ZENDESK_TOKEN: &str = "test-zendesk-api-token-8f14e45fceea167a";
pub const CALLBACK_TOKEN: &str = "test-im-callback-token-c9f0f895fb98ab91";

pub struct TestApp {
    pub address: String,
    /// The environment the app was configured with (for running the CLI on the same setup).
    pub env: HashMap<String, String>,
    pub http: reqwest::Client,
    pub im: ImEmulator,
    pub zendesk: ZendeskEmulator,
    pub signer: UserSigner,
    pub db: TempDb,
    /// The PostgreSQL database the app runs on, when it does (else SQLite in `db`).
    pub pg: Option<PgDb>,
    pub im_url: String,
    pub zendesk_url: String,
    _im_served: Served,
    _zendesk_served: Served,
}

/// A fresh PostgreSQL database on this machine's server (`TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test` to administer), dropped when the test ends.
pub struct PgDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDb {
    pub async fn create() -> Self {
        let admin_url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("tb_test_{:016x}", rand::random::<u64>());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL is running (scripts/test starts it)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl PgDb {
    /// Drops the database now, under the app's feet (its connections are closed).
    pub async fn drop_now(&self) {
        drop_database(&self.admin_url, &self.name)
            .await
            .expect("database dropped");
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .map(drop)
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop is not async: a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(drop_database(&admin_url, &name))
                .map_err(std::io::Error::other)
        })
        .join();
    }
}

/// The file of a `sqlite://` URL.
fn sqlite_file(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .map(|rest| rest.split_once('?').map_or(rest, |(file, _)| file))
}

/// A connection of the test's own to a bridge's SQLite file (beside the bridge's: WAL).
fn sqlite(file: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(file)
        .unwrap_or_else(|e| panic!("open the bridge's database {file}: {e}"));
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn
}

async fn pg(url: &str) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("open the bridge's database {url}: {e}"))
}

/// A SQLite file removed when the test ends.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "ticket-bridge-test-{}-{:016x}.db",
            std::process::id(),
            rand::random::<u64>()
        )))
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }

    /// An empty directory of this test's own, to run binaries in (no stray `.env`).
    pub fn work_dir(&self) -> PathBuf {
        let dir = PathBuf::from(format!("{}.cwd", self.0.display()));
        std::fs::create_dir_all(&dir).expect("create a working directory");
        dir
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
        let _ = std::fs::remove_dir_all(format!("{}.cwd", self.0.display()));
    }
}

/// The emulators, served, with the settings that point the bridge at them.
pub struct Upstreams {
    pub im: ImEmulator,
    pub zendesk: ZendeskEmulator,
    pub im_served: Served,
    pub zendesk_served: Served,
}

impl Upstreams {
    pub async fn start() -> Self {
        let im = ImEmulator::new(ImEmulatorConfig::new(SDKAPPID, Secret::new(IM_KEY), ADMIN));
        let zendesk = ZendeskEmulator::new(ZendeskEmulatorConfig::new(
            ZENDESK_EMAIL,
            Secret::new(ZENDESK_TOKEN),
        ));
        let im_served = serve(im.router(), 0).await.expect("serve IM emulator");
        let zendesk_served = serve(zendesk.router(), 0)
            .await
            .expect("serve Zendesk emulator");
        Self {
            im,
            zendesk,
            im_served,
            zendesk_served,
        }
    }

    /// Environment for a bridge using these emulators.
    pub fn env(&self, db: &TempDb) -> HashMap<String, String> {
        [
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
            ("DATABASE_URL", db.url()),
            ("ZENDESK_BASE_URL", self.zendesk_served.base_url.clone()),
            ("ZENDESK_EMAIL", ZENDESK_EMAIL.to_owned()),
            ("ZENDESK_API_TOKEN", ZENDESK_TOKEN.to_owned()),
            ("ZENDESK_TIMEOUT_SECS", "3".to_owned()),
            // The emulators' own limits are what tests exercise; the bridge's pacing is tested
            // on its own.
            ("ZENDESK_RATE_LIMIT_RPM", "60000".to_owned()),
            ("IM_BASE_URL", self.im_served.base_url.clone()),
            ("IM_SDKAPPID", SDKAPPID.to_string()),
            ("IM_SECRET_KEY", IM_KEY.to_owned()),
            ("IM_ADMIN_USERID", ADMIN.to_owned()),
            ("IM_TIMEOUT_SECS", "2".to_owned()),
            // Every test calls from one address and many open several cases per customer; the
            // abuse limits are tested on their own (tests/api/limits.rs).
            ("REQUESTS_PER_IP_PER_SEC", "0".to_owned()),
            ("CASES_PER_USER_PER_HOUR", "0".to_owned()),
            ("OPEN_TICKETS_PER_USER", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Spawns the app connected to the emulated Zendesk's event webhooks the way an operator
/// would: `setup-zendesk` creates the webhook and gives the secret, the app starts with it,
/// and `setup-zendesk` points the webhook at the app's real port.
pub async fn spawn_app_with_webhooks(
    customize: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let upstreams = Upstreams::start().await;
    let zendesk = zendesk_client(&upstreams.zendesk_served.base_url, ZENDESK_TOKEN);
    let placeholder = operator::setup_zendesk(&zendesk, "http://127.0.0.1:9", false)
        .await
        .expect("webhook created");
    let secret = placeholder.secret.expect("a signing secret");
    let mut app = spawn_on(upstreams, |env| {
        env.insert("ZENDESK_WEBHOOK_SECRET".into(), secret.expose().to_owned());
        customize(env);
    })
    .await;
    let report = operator::setup_zendesk(&zendesk, &app.address, false)
        .await
        .expect("webhook pointed at the app");
    assert_eq!(report.action, operator::SetupAction::Updated);
    app.env
        .insert("ZENDESK_WEBHOOK_SECRET".into(), secret.expose().to_owned());
    app
}

/// Spawns the app with Zendesk's webhooks and IM's callbacks connected (the IM emulator calls
/// `/callbacks/im`, signed with [`CALLBACK_TOKEN`]), chat lines batched over 300 ms.
pub async fn spawn_conversation_app(
    customize: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let app = spawn_app_with_webhooks(|env| {
        env.insert("IM_CALLBACK_TOKEN".into(), CALLBACK_TOKEN.into());
        env.insert("COMMENT_BATCH_MS".into(), "300".into());
        customize(env);
    })
    .await;
    app.connect_im_callbacks(&app.address);
    app
}

/// Spawns the app on a fresh PostgreSQL database instead of a SQLite file.
pub async fn spawn_app_on_postgres(
    webhooks: bool,
    customize: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let pg = PgDb::create().await;
    let url = pg.url.clone();
    let on_pg = |env: &mut HashMap<String, String>| {
        env.insert("DATABASE_URL".into(), url);
        customize(env);
    };
    let mut app = if webhooks {
        spawn_app_with_webhooks(on_pg).await
    } else {
        spawn_app_with(on_pg).await
    };
    app.pg = Some(pg);
    app
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `customize` has changed its environment.
pub async fn spawn_app_with(customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    spawn_on(Upstreams::start().await, customize).await
}

async fn spawn_on(
    upstreams: Upstreams,
    customize: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let db = TempDb::new();
    let mut env = upstreams.env(&db);
    customize(&mut env);
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config");
    let cli_env = env.clone();
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        env: cli_env,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        im: upstreams.im,
        zendesk: upstreams.zendesk,
        signer: UserSigner::new(SDKAPPID, Secret::new(IM_KEY)),
        db,
        pg: None,
        im_url: upstreams.im_served.base_url.clone(),
        zendesk_url: upstreams.zendesk_served.base_url.clone(),
        _im_served: upstreams.im_served,
        _zendesk_served: upstreams.zendesk_served,
    }
}

impl TestApp {
    /// Points the IM emulator's callbacks at the bridge at `address`.
    pub fn connect_im_callbacks(&self, address: &str) {
        self.im.set_callback(Some(CallbackTarget {
            url: format!("{address}/callbacks/im"),
            token: Some(Secret::new(CALLBACK_TOKEN)),
        }));
    }

    /// Opens a case for `user` and waits until its group is made and greeted; its ticket id.
    pub async fn open_case(&self, user: &str) -> u64 {
        self.im.import_account(user, None);
        let resp = self.create_ticket(&case(user)).await;
        assert_eq!(resp.status(), 200, "case opened");
        let body: Value = resp.json().await.expect("JSON");
        let ticket = body["TicketId"].as_u64().expect("a ticket id");
        self.wait_for_jobs().await;
        ticket
    }

    /// Assigns the ticket to a new agent in Zendesk and waits until the agent is in the group;
    /// the agent's Zendesk id.
    pub async fn assign_agent(&self, ticket: u64, name: &str) -> u64 {
        let email = format!("{}@support.test", name.to_lowercase().replace(' ', "."));
        let agent = self.zendesk.seed_agent(name, &email);
        self.zendesk.assign(ticket, Some(agent)).expect("assigned");
        let account = format!("zd_{agent}");
        let group = group_of(ticket);
        wait_until(Duration::from_secs(20), || {
            self.im
                .group(&group)
                .is_some_and(|g| g.members.contains(&account))
        })
        .await;
        self.zendesk.idle().await;
        self.wait_for_jobs().await;
        agent
    }

    /// The ticket's comments after the description.
    pub fn comments_after_description(
        &self,
        ticket: u64,
    ) -> Vec<ticket_bridge::sandbox::zendesk::Comment> {
        self.zendesk
            .ticket(ticket)
            .map(|t| t.comments.into_iter().skip(1).collect())
            .unwrap_or_default()
    }

    /// The text of every message in the ticket's group, from `from`.
    pub fn group_texts_from(&self, ticket: u64, from: &str) -> Vec<String> {
        group_texts(&self.im, ticket, from)
    }

    /// What the chat lines on the ticket said, line by line, in comment order (without the
    /// `[time] Name: ` of coalesced lines).
    pub fn chat_lines(&self, ticket: u64) -> Vec<String> {
        said(&self.comments_after_description(ticket))
    }

    /// Waits until everything said has been handled: callbacks sent, webhooks delivered, jobs
    /// finished (twice over, as each side's work can cause the other's).
    pub async fn settle(&self) {
        for _ in 0..2 {
            self.im.callbacks_idle().await;
            self.zendesk.idle().await;
            self.wait_for_jobs().await;
        }
    }

    /// Posts a callback to `/callbacks/im` with this query and body, as IM would.
    pub async fn post_im_callback(&self, query: &str, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/callbacks/im?{query}", self.address))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent")
    }

    /// A valid callback query for `command` at Unix second `at`.
    pub fn callback_query(&self, command: &str, at: i64) -> String {
        let sign = ticket_bridge::im::callback::sign(CALLBACK_TOKEN, &at.to_string());
        format!(
            "SdkAppid={SDKAPPID}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Web&Sign={sign}&RequestTime={at}"
        )
    }

    /// Rows in the bridge's transcript table.
    pub async fn message_count(&self) -> i64 {
        self.sql_count("SELECT COUNT(*) FROM messages").await
    }

    /// A valid UserSig for `user`.
    pub fn usersig(&self, user: &str) -> String {
        self.signer.generate(user, 3600).expose().to_owned()
    }

    /// `POST /createticket` as the body's `userId`, with that user's valid UserSig.
    pub async fn create_ticket(&self, body: &Value) -> reqwest::Response {
        self.post_case(body, None).await
    }

    /// `POST /createticket` as the body's `userId` with an `Idempotency-Key`.
    pub async fn create_ticket_with_key(&self, body: &Value, key: &str) -> reqwest::Response {
        self.post_case(body, Some(key)).await
    }

    async fn post_case(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let user = body["userId"].as_str().unwrap_or("nobody");
        let mut req = self
            .http
            .post(format!("{}/createticket", self.address))
            .header("Authorization", format!("UserSig {}", self.usersig(user)));
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.json(body).send().await.expect("request sent")
    }

    /// Runs the real binary with `args` on this app's database and emulators; its stdout.
    pub async fn run_cli(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticket-bridge"))
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.db.work_dir())
            .output()
            .await
            .expect("binary runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The webhook signing secret the app was configured with.
    pub fn webhook_secret(&self) -> String {
        self.env
            .get("ZENDESK_WEBHOOK_SECRET")
            .cloned()
            .unwrap_or_default()
    }

    /// Posts `body` to `/webhooks/zendesk`, signed with the app's secret at Unix second `at`.
    pub async fn post_webhook(&self, body: &str, at: i64) -> reqwest::Response {
        let ts = utc(at);
        let sig = sign_webhook(&self.webhook_secret(), &ts, body.as_bytes());
        self.http
            .post(format!("{}/webhooks/zendesk", self.address))
            .header("Content-Type", "application/json")
            .header("X-Zendesk-Webhook-Signature", sig)
            .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent")
    }

    /// Inbound events of `event_type` the bridge recorded.
    pub async fn inbound_count(&self, event_type: &str) -> i64 {
        self.sql_count(&format!(
            "SELECT COUNT(*) FROM inbound_events WHERE event_type = '{event_type}'"
        ))
        .await
    }

    /// Waits until no job is queued, running or waiting out a backoff (the bridge's
    /// background work is done: every job is done or failed).
    pub async fn wait_for_jobs(&self) {
        self.wait_for_jobs_within(Duration::from_secs(20)).await;
    }

    /// [`TestApp::wait_for_jobs`], for work that takes longer (rate budgets).
    pub async fn wait_for_jobs_within(&self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let busy = self
                .sql_count("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
                .await;
            if busy == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < until, "jobs still running");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The app's own database (its `DATABASE_URL`).
    fn db_url(&self) -> String {
        self.env
            .get("DATABASE_URL")
            .cloned()
            .unwrap_or_else(|| self.db.url())
    }

    /// A count (or any integer) from the bridge's own database.
    pub async fn sql_count(&self, query: &str) -> i64 {
        let url = self.db_url();
        match sqlite_file(&url) {
            Some(file) => sqlite(file)
                .query_row(query, [], |row| row.get(0))
                .expect("query runs"),
            None => sqlx::query_scalar(query)
                .fetch_one(&mut pg(&url).await)
                .await
                .expect("query runs"),
        }
    }

    /// Runs one SQL statement on the bridge's own database.
    pub async fn sql(&self, statement: &str) {
        let url = self.db_url();
        match sqlite_file(&url) {
            Some(file) => sqlite(file)
                .execute_batch(statement)
                .expect("statement runs"),
            None => {
                sqlx::query(statement)
                    .execute(&mut pg(&url).await)
                    .await
                    .expect("statement runs");
            }
        }
    }

    /// `POST /createticket` with exactly these headers and raw body.
    pub async fn post_raw(
        &self,
        headers: &[(&str, String)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/createticket", self.address))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.expect("request sent")
    }

    /// A Zendesk client acting as the bridge's admin, for arranging state (e.g. solving a ticket).
    pub fn zendesk_client(&self) -> ZendeskClient {
        zendesk_client(&self.zendesk_url, ZENDESK_TOKEN)
    }

    /// Nothing reached either upstream's state.
    pub fn assert_nothing_created(&self) {
        assert!(
            self.zendesk.tickets().is_empty(),
            "no Zendesk ticket expected"
        );
        assert!(self.im.groups().is_empty(), "no IM group expected");
    }
}

pub fn zendesk_client(base_url: &str, token: &str) -> ZendeskClient {
    ZendeskClient::new(
        ticket_bridge::upstream::HttpClient::new().expect("HTTP client"),
        base_url,
        ZendeskAuth::ApiToken {
            email: ZENDESK_EMAIL.to_owned(),
            token: Secret::new(token),
        },
        Duration::from_secs(3),
    )
}

pub fn im_client(base_url: &str, timeout: Duration) -> ImClient {
    let signer = UserSigner::new(SDKAPPID, Secret::new(IM_KEY));
    ImClient::new(
        ticket_bridge::upstream::HttpClient::new().expect("HTTP client"),
        base_url,
        SDKAPPID,
        AdminSig::new(signer, ADMIN, Duration::from_secs(3600)),
        timeout,
    )
}

/// The text of every message in the ticket's group from `from` (system notices aside).
pub fn group_texts(im: &ImEmulator, ticket: u64, from: &str) -> Vec<String> {
    im.group(&group_of(ticket))
        .map(|g| {
            g.messages
                .iter()
                .filter(|m| m.from == from && !m.system)
                .map(|m| {
                    m.body[0]["MsgContent"]["Text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the comments said, line by line, without the `[time] Name: ` of coalesced lines.
pub fn said(comments: &[ticket_bridge::sandbox::zendesk::Comment]) -> Vec<String> {
    comments
        .iter()
        .flat_map(|c| c.body.lines())
        .map(|l| l.rsplit(": ").next().unwrap_or(l).to_owned())
        .collect()
}

/// The IM group of a ticket.
pub fn group_of(ticket: u64) -> String {
    format!("ZENDESK#{ticket}")
}

pub fn case(user: &str) -> Value {
    json!({
        "userId": user,
        "caseInfo": {
            "subject": "Refund",
            "desc": "Order 42 arrived broken",
            "name": "Alice Example",
            "email": format!("{user}@example.com"),
        }
    })
}

/// Asserts the error envelope and returns the body.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let body: Value = resp.json().await.expect("JSON error body");
    assert_eq!(body["ActionStatus"], "FAIL", "{body}");
    assert_ne!(body["ErrorCode"], 0, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["ErrorInfo"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    body
}

/// Polls `done` until it holds; fails the test after `limit`.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < until,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the async condition `done` until it holds; fails the test after `limit`.
pub async fn wait_until_async<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < until,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A local port free right now (for a process that must keep its port across restarts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The real binary, `serve`, with exactly `env`, in `db`'s working directory, output discarded.
pub fn bridge_process(env: &HashMap<String, String>, db: &TempDb) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ticket-bridge"));
    cmd.arg("serve")
        .env_clear()
        .envs(env)
        .current_dir(db.work_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// The real binary serving on a free port with the emulators' settings and `extra`, once it
/// answers; (the process, its port, its environment).
pub async fn serve_binary(
    up: &Upstreams,
    db: &TempDb,
    extra: &[(&str, &str)],
) -> (KillOnDrop, u16, HashMap<String, String>) {
    let port = free_port();
    let mut env = up.env(db);
    env.insert("PORT".into(), port.to_string());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let process = KillOnDrop(bridge_process(&env, db).spawn().expect("binary starts"));
    wait_ready(port).await;
    (process, port, env)
}

/// Sends SIGTERM to the binary.
pub fn sigterm(process: &KillOnDrop) {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
}

/// Waits for the binary to exit; asserts it exited cleanly and no longer accepts on `port`.
pub async fn assert_clean_exit(mut process: KillOnDrop, port: u16) {
    let stopped = tokio::task::spawn_blocking(move || process.0.wait())
        .await
        .expect("waited")
        .expect("exit status");
    assert!(stopped.success(), "clean exit: {stopped:?}");
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "no longer accepting"
    );
}

/// `POST /createticket` at `base` for `user`, with its UserSig and the key `case-of-<user>`.
pub async fn post_case_with_key(
    http: &reqwest::Client,
    base: &str,
    user: &str,
) -> reqwest::Result<reqwest::Response> {
    let sig = UserSigner::new(SDKAPPID, Secret::new(IM_KEY)).generate(user, 3600);
    http.post(format!("{base}/createticket"))
        .header("Authorization", format!("UserSig {}", sig.expose()))
        .header("Idempotency-Key", format!("case-of-{user}"))
        .timeout(Duration::from_secs(5))
        .json(&case(user))
        .send()
        .await
}

/// A customer opening a case and retrying with its key until `200`, after `pause`, at the next
/// of `bases` each time (a refused or cut connection is a crash in progress, or a replica
/// down); every TicketId it was told.
pub async fn open_case_until_done(bases: &[String], user: &str, pause: Duration) -> Vec<u64> {
    let http = reqwest::Client::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut ids = Vec::new();
    for base in bases.iter().cycle() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{user} never got a 200 (saw {ids:?})"
        );
        if let Ok(resp) = post_case_with_key(&http, base, user).await {
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or_default();
            match status {
                200 | 202 => ids.push(body["TicketId"].as_u64().expect("TicketId")),
                503 => {}
                other => panic!("{user}: unexpected {other}: {body}"),
            }
            if status == 200 {
                break;
            }
        }
        tokio::time::sleep(pause).await;
    }
    ids
}

/// Waits until the bridge on `port` answers `/healthz`.
pub async fn wait_ready(port: u16) {
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while !http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(
            tokio::time::Instant::now() < until,
            "the bridge did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix second `unix` as Zendesk writes timestamps (`2021-03-25T05:09:27Z`).
pub fn utc(unix: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Zendesk's webhook signature: base64(HMAC-SHA256(secret, timestamp + body)).
pub fn sign_webhook(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    )
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    now_ms() / 1000
}

/// A spawned process that is killed when the test ends, even when it fails half-way (a
/// panicking test must not leave a server running).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next ticket create is made by Zendesk but answered after 1.5 s: past the bridge's
/// timeout when `ZENDESK_TIMEOUT_SECS` is 1, so the answer is lost after the work was done.
pub fn ticket_made_but_answered_late() -> ticket_bridge::sandbox::faults::FaultRule {
    use ticket_bridge::sandbox::faults::{Fault, FaultRule};
    FaultRule::new(
        "/api/v2/tickets",
        Fault::SlowResponse(Duration::from_millis(1500)),
        1,
    )
}

/// `/metrics` as text, asserting it answered 200 in the OpenMetrics format.
pub async fn scrape(app: &TestApp) -> String {
    let resp = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("scraped");
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    resp.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include every pair of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}
