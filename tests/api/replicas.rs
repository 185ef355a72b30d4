//! Several replicas on one PostgreSQL database: real `serve` processes sharing a database of
//! the test's own, the emulators in this process, and a round-robin load balancer (in this
//! process too) in front of them for Zendesk's webhooks and IM's callbacks, passing a request
//! on to the next replica when one refuses the connection, as a real one does.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use ticket_bridge::config::DatabaseConfig;
use ticket_bridge::ids::TicketId;
use ticket_bridge::jobs::sync_ticket_job;
use ticket_bridge::operator;
use ticket_bridge::sandbox::im::CallbackTarget;
use ticket_bridge::sandbox::{serve, Served};
use ticket_bridge::secret::Secret;
use ticket_bridge::store::{NewJob, Store};
use tokio::time::Instant;

use crate::helpers::*;

/// The replicas, their database, the emulators and the load balancer (dropped in this order:
/// the processes are killed before their database goes).
struct Cluster {
    replicas: Vec<Replica>,
    balancer: Balancer,
    pg: PgDb,
    up: Upstreams,
    /// The working directory and the replicas' logs.
    dir: TempDb,
    env: HashMap<String, String>,
    http: reqwest::Client,
}

struct Replica {
    port: u16,
    process: Option<KillOnDrop>,
    log: PathBuf,
}

impl Replica {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Cluster {
    /// `n` replicas (not started) on a fresh database, with webhooks and callbacks connected
    /// through the load balancer; `extra` settings for every replica.
    async fn new(n: usize, extra: &[(&str, &str)]) -> Self {
        let up = Upstreams::start().await;
        let pg = PgDb::create().await;
        let dir = TempDb::new();
        let replicas: Vec<Replica> = (0..n)
            .map(|i| Replica {
                port: free_port(),
                process: None,
                log: dir.work_dir().join(format!("replica-{i}.log")),
            })
            .collect();
        let balancer = Balancer::start(replicas.iter().map(|r| r.port).collect()).await;
        let admin = zendesk_client(&up.zendesk_served.base_url, ZENDESK_TOKEN);
        let secret = operator::setup_zendesk(&admin, &balancer.base_url, false)
            .await
            .expect("webhook")
            .secret
            .expect("signing secret");
        up.im.set_callback(Some(CallbackTarget {
            url: format!("{}/callbacks/im", balancer.base_url),
            token: Some(Secret::new(CALLBACK_TOKEN)),
        }));
        let mut env = up.env(&dir);
        env.insert("DATABASE_URL".into(), pg.url.clone());
        for (k, v) in [
            ("ZENDESK_WEBHOOK_SECRET", secret.expose()),
            ("IM_CALLBACK_TOKEN", CALLBACK_TOKEN),
            ("COMMENT_BATCH_MS", "100"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.insert(k.to_owned(), v.to_owned());
        }
        Self {
            up,
            pg,
            dir,
            env,
            replicas,
            balancer,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    /// Starts replica `i` (its log appended to its file), with `extra` settings of its own.
    fn start(&mut self, i: usize, extra: &[(&str, &str)]) {
        let mut env = self.env.clone();
        env.insert("PORT".into(), self.replicas[i].port.to_string());
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.replicas[i].log)
            .expect("log file");
        let child = bridge_process(&env, &self.dir)
            .stderr(log)
            .spawn()
            .expect("the bridge starts");
        self.replicas[i].process = Some(KillOnDrop(child));
    }

    async fn start_all(&mut self) {
        for i in 0..self.replicas.len() {
            self.start(i, &[]);
        }
        self.wait_ready().await;
    }

    /// Waits until every started replica answers `/healthz`; fails with its log if one exits.
    async fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        for i in 0..self.replicas.len() {
            let url = format!("{}/healthz", self.replicas[i].base());
            loop {
                if self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    break;
                }
                let exited = self.replicas[i]
                    .process
                    .as_mut()
                    .and_then(|p| p.0.try_wait().ok().flatten());
                assert!(exited.is_none(), "replica {i} exited: {}", self.log(i));
                assert!(
                    Instant::now() < until,
                    "replica {i} did not start: {}",
                    self.log(i)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.replicas[i].process.take() {
            p.0.kill().expect("SIGKILL");
            p.0.wait().expect("reaped");
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].log).unwrap_or_default()
    }

    async fn db(&self) -> sqlx::PgConnection {
        <sqlx::PgConnection as sqlx::Connection>::connect(&self.pg.url)
            .await
            .expect("the test database")
    }

    async fn count(&self, query: &str) -> i64 {
        sqlx::query_scalar(query)
            .fetch_one(&mut self.db().await)
            .await
            .expect("query runs")
    }

    /// Waits until every job is done (none queued, running, waiting out a backoff or failed).
    async fn wait_for_jobs(&self, limit: Duration) {
        let until = Instant::now() + limit;
        loop {
            let left: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT dedupe_key, status, last_error FROM jobs WHERE status <> 'done'",
            )
            .fetch_all(&mut self.db().await)
            .await
            .expect("query runs");
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < until, "jobs unfinished: {left:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Callbacks sent, webhooks delivered, jobs done; twice, as each side's work can cause
    /// the other's.
    async fn settle(&self) {
        for _ in 0..2 {
            self.up.im.callbacks_idle().await;
            self.up.zendesk.idle().await;
            self.wait_for_jobs(Duration::from_secs(30)).await;
        }
    }

    /// There are `n` tickets and `n` groups.
    fn assert_cases(&self, n: usize) {
        assert_eq!(self.up.zendesk.tickets().len(), n, "one ticket per case");
        assert_eq!(self.up.im.groups().len(), n, "one group per case");
    }

    /// `user` opens a case at replica `i`; its ticket.
    async fn case_at(&self, i: usize, user: &str) -> u64 {
        self.up.im.import_account(user, None);
        let resp = post_case_with_key(&self.http, &self.replicas[i].base(), user)
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200, "{user}'s case");
        let body: Value = resp.json().await.expect("JSON");
        body["TicketId"].as_u64().expect("TicketId")
    }
}

/// A round-robin HTTP load balancer over the replicas' ports.
struct Balancer {
    base_url: String,
    /// Requests each port answered.
    hits: Arc<Mutex<HashMap<u16, usize>>>,
    _served: Served,
}

#[derive(Clone)]
struct Upstream {
    ports: Arc<Vec<u16>>,
    next: Arc<AtomicUsize>,
    hits: Arc<Mutex<HashMap<u16, usize>>>,
    http: reqwest::Client,
}

impl Balancer {
    async fn start(ports: Vec<u16>) -> Self {
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let upstream = Upstream {
            ports: Arc::new(ports),
            next: Arc::default(),
            hits: hits.clone(),
            http: reqwest::Client::new(),
        };
        let router = axum::Router::new().fallback(forward).with_state(upstream);
        let served = serve(router, 0).await.expect("serve the load balancer");
        Self {
            base_url: served.base_url.clone(),
            hits,
            _served: served,
        }
    }

    fn ports_hit(&self) -> usize {
        self.hits.lock().expect("hits").len()
    }
}

/// Sends the request to the next replica, or the one after if it refuses the connection.
async fn forward(State(up): State<Upstream>, req: Request) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 24).await else {
        return (StatusCode::BAD_REQUEST, HeaderMap::new(), Bytes::new());
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let first = up.next.fetch_add(1, Ordering::Relaxed);
    for k in 0..up.ports.len() {
        let port = up.ports[(first + k) % up.ports.len()];
        let sent = up
            .http
            .request(
                parts.method.clone(),
                format!("http://127.0.0.1:{port}{path}"),
            )
            .headers(parts.headers.clone())
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                *up.hits.lock().expect("hits").entry(port).or_default() += 1;
                let status = resp.status();
                let mut headers = resp.headers().clone();
                headers.remove("transfer-encoding");
                let body = resp.bytes().await.unwrap_or_default();
                return (status, headers, body);
            }
            Err(e) if e.is_connect() => continue,
            Err(_) => break,
        }
    }
    (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new())
}

/// Few enough that the agents' and the bridge's ticket updates stay under Zendesk's 100 a
/// minute (the emulator counts both).
const CASES: usize = 9;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_handle_every_case_webhook_and_callback_once() {
    let mut cluster = Cluster::new(3, &[]).await;
    cluster.start_all().await;
    let cluster = Arc::new(cluster);

    // Customers open cases at once, each at one of the replicas.
    let mut opened = tokio::task::JoinSet::new();
    for i in 0..CASES {
        let c = cluster.clone();
        opened.spawn(async move {
            let user = format!("cust-{i}");
            let ticket = c.case_at(i % 3, &user).await;
            (user, ticket)
        });
    }
    let mut tickets = Vec::new();
    while let Some(t) = opened.join_next().await {
        tickets.push(t.expect("case opened"));
    }

    // An agent takes every ticket (webhooks through the balancer), then both sides talk.
    let agent = cluster
        .up
        .zendesk
        .seed_agent("Sam Agent", "sam@support.test");
    for (_, t) in &tickets {
        cluster
            .up
            .zendesk
            .assign(*t, Some(agent))
            .expect("assigned");
    }
    let account = format!("zd_{agent}");
    wait_until(Duration::from_secs(30), || {
        tickets.iter().all(|(_, t)| {
            cluster
                .up
                .im
                .group(&group_of(*t))
                .is_some_and(|g| g.members.contains(&account))
        })
    })
    .await;
    for round in 0..ROUNDS {
        for (user, t) in &tickets {
            cluster
                .up
                .im
                .client_send_text(&group_of(*t), user, &format!("c{round}"))
                .expect("customer writes");
            cluster
                .up
                .zendesk
                .add_public_comment(*t, agent, &format!("a{round}"))
                .expect("agent replies");
        }
        cluster.settle().await;
    }
    cluster.settle().await;

    let want_customer: Vec<String> = (0..ROUNDS).map(|r| format!("c{r}")).collect();
    let want_agent: Vec<String> = (0..ROUNDS).map(|r| format!("a{r}")).collect();
    cluster.assert_cases(CASES);
    for (_, t) in &tickets {
        let from_bridge = group_texts(&cluster.up.im, *t, ADMIN);
        assert_eq!(
            from_bridge
                .iter()
                .filter(|m| m.starts_with("Thank you for contacting us"))
                .count(),
            1,
            "one greeting in {t}: {from_bridge:?}"
        );
        assert_eq!(
            from_bridge
                .iter()
                .filter(|m| m.contains("has joined"))
                .count(),
            1,
            "one join notice in {t}: {from_bridge:?}"
        );
        assert_eq!(group_texts(&cluster.up.im, *t, &account), want_agent, "{t}");
        let ticket = cluster.up.zendesk.ticket(*t).expect("ticket");
        let by_customer: Vec<_> = ticket
            .comments
            .into_iter()
            .filter(|c| c.author_id == ticket.requester_id)
            .skip(1)
            .collect();
        assert_eq!(said(&by_customer), want_customer, "{t}");
    }
    // The transcript: each line and reply once (greeting, join, customer's, agent's).
    assert_eq!(
        cluster.count("SELECT COUNT(*) FROM messages").await,
        (CASES * (2 + 2 * ROUNDS)) as i64
    );
    assert_eq!(
        cluster
            .count("SELECT COUNT(*) FROM jobs WHERE status = 'failed'")
            .await,
        0
    );
    assert_eq!(
        cluster.balancer.ports_hit(),
        3,
        "deliveries reached every replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_load_has_its_work_finished_by_the_others() {
    let mut cluster = Cluster::new(3, &[("JOB_LEASE_SECS", "2"), ("RUST_LOG", "warn")]).await;
    // Slow upstreams, so the kill lands between the steps of cases.
    cluster
        .up
        .zendesk
        .faults()
        .set_latency(Duration::from_millis(150));
    cluster
        .up
        .im
        .faults()
        .set_latency(Duration::from_millis(50));
    cluster.start_all().await;
    let bases: Arc<Vec<String>> = Arc::new(cluster.replicas.iter().map(Replica::base).collect());

    // Every customer starts at replica 0 and moves on to the next one to retry.
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CASES {
        let bases = bases.clone();
        cluster.up.im.import_account(&format!("load-{i}"), None);
        clients.spawn(async move {
            let user = format!("load-{i}");
            let ids = open_case_until_done(&bases, &user, Duration::from_millis(100)).await;
            (user, ids)
        });
    }
    // SIGKILL replica 0 while it holds claims on unfinished cases.
    let until = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let held = cluster
            .count(&format!(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND locked_until > {}",
                now_ms()
            ))
            .await;
        if held >= 3 {
            break held;
        }
        assert!(Instant::now() < until, "the cases never got under way");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cluster.kill(0);

    let mut answers = HashMap::new();
    while let Some(done) = clients.join_next().await {
        let (user, ids) = done.expect("client finished");
        answers.insert(user, ids);
    }
    // The dead replica's claims run out after the lease; the others finish its cases.
    cluster.wait_for_jobs(Duration::from_secs(30)).await;
    assert!(held >= 3);
    cluster.assert_cases(CASES);
    for (user, ids) in &answers {
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 1, "{user} always got one TicketId: {ids:?}");
        let greetings = group_texts(&cluster.up.im, ids[0], ADMIN);
        assert_eq!(greetings.len(), 1, "one greeting for {user}: {greetings:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_started_at_once_on_an_empty_database_migrate_once() {
    let mut cluster = Cluster::new(3, &[]).await;
    cluster.start_all().await;

    let versions: Vec<i64> = (0..3)
        .flat_map(|i| {
            cluster
                .log(i)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["fields"]["message"] == "applied database migration")
                .filter_map(|l| l["fields"]["version"].as_i64())
                .collect::<Vec<_>>()
        })
        .collect();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut cluster.db().await)
            .await
            .expect("migrations recorded");
    let mut logged = versions.clone();
    logged.sort_unstable();
    assert!(!applied.is_empty());
    assert_eq!(
        logged, applied,
        "each migration applied once, by one replica"
    );
    for i in 0..3 {
        assert!(
            cluster.log(i).contains("ticket-bridge listening"),
            "replica {i} is up"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_stream_on_one_replica_gets_a_message_whose_callback_hit_another() {
    const ZAF_SECRET: &str = "test-zaf-shared-secret-6512bd43d9caa6e0";
    let mut cluster = Cluster::new(2, &[("ZAF_SHARED_SECRET", ZAF_SECRET)]).await;
    // Replica 0 never polls within the test: only a notification can reach its stream.
    cluster.start(0, &[("DATABASE_POLL_MS", "3600000")]);
    cluster.start(1, &[]);
    cluster.wait_ready().await;
    // IM's callbacks go to replica 1 alone.
    cluster.up.im.set_callback(Some(CallbackTarget {
        url: format!("{}/callbacks/im", cluster.replicas[1].base()),
        token: Some(Secret::new(CALLBACK_TOKEN)),
    }));
    let ticket = cluster.case_at(1, "alice").await;

    // The agent's session comes from replica 1, its sidebar's stream from replica 0.
    let (a, b) = (cluster.replicas[0].base(), cluster.replicas[1].base());
    let now = unix_now();
    let jwt = ticket_bridge::agent::jwt::sign(
        &serde_json::json!({"ticket_id": ticket, "agent_id": 10_001, "agent_name": "Sam Agent",
                            "iat": now, "exp": now + 300}),
        &Secret::new(ZAF_SECRET),
    );
    let resp = cluster
        .http
        .post(format!("{b}/agent/session"))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("sent");
    let session: Value = resp.json().await.expect("JSON");
    let token = session["token"].as_str().expect("session token");
    let mut stream = cluster
        .http
        .get(format!("{a}/agent/tickets/{ticket}/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream opens");
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream
            .headers()
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no"),
        "proxies are told not to buffer the stream"
    );
    let mut seen = String::new();
    // The stream's first read is done: what follows can only come from a wake-up.
    read_until(&mut stream, &mut seen, "event: status").await;

    cluster
        .up
        .im
        .client_send_text(&group_of(ticket), "alice", "hello from replica one")
        .expect("customer writes");
    read_until(&mut stream, &mut seen, "hello from replica one").await;
    assert!(seen.contains("event: message"), "{seen}");
}

/// Reads the event stream into `seen` until it holds `want` (20 s at most).
async fn read_until(stream: &mut reqwest::Response, seen: &mut String, want: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(until, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("`{want}` on the stream in time: {seen}"))
            .expect("stream open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_recorded_by_another_process_wakes_an_idle_replica_at_once() {
    // No webhooks: the ticket's sync is asked for by another process alone.
    let mut cluster = Cluster::new(1, &[("ZENDESK_WEBHOOK_SECRET", "")]).await;
    // The replica never polls within the test: only a notification can wake its workers.
    cluster.start(0, &[("DATABASE_POLL_MS", "3600000")]);
    cluster.wait_ready().await;
    let ticket = cluster.case_at(0, "alice").await;
    cluster.wait_for_jobs(Duration::from_secs(20)).await;
    let agent = cluster
        .up
        .zendesk
        .seed_agent("Sam Agent", "sam@support.test");
    cluster
        .up
        .zendesk
        .assign(ticket, Some(agent))
        .expect("assigned");

    // Another process (here, this test) records the work and signals it.
    let other = Store::connect(&cluster.pg.url).await.expect("store");
    other
        .request_run(&sync_ticket_job(TicketId(ticket), None))
        .await
        .expect("recorded");
    other.wake_workers();

    let account = format!("zd_{agent}");
    wait_until(Duration::from_secs(20), || {
        cluster
            .up
            .im
            .group(&group_of(ticket))
            .is_some_and(|g| g.members.contains(&account))
    })
    .await;
}

#[tokio::test]
async fn a_claim_skips_the_job_another_replica_is_claiming() {
    let pg = PgDb::create().await;
    let store = Store::connect_with(
        &pg.url,
        &DatabaseConfig {
            statement_timeout: Duration::from_secs(3),
            ..DatabaseConfig::default()
        },
    )
    .await
    .expect("store");
    for (key, run_at) in [("first", 1), ("second", 2)] {
        store
            .enqueue(&NewJob {
                kind: "test".into(),
                payload: "{}".into(),
                dedupe_key: key.into(),
                run_at,
                lease: None,
            })
            .await
            .expect("enqueued");
    }
    // Another replica's claim holds the first job's row (its transaction is under way).
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url)
        .await
        .expect("connect");
    let mut tx = sqlx::Connection::begin(&mut other).await.expect("begin");
    let locked: String =
        sqlx::query_scalar("SELECT dedupe_key FROM jobs WHERE dedupe_key = 'first' FOR UPDATE")
            .fetch_one(&mut *tx)
            .await
            .expect("row locked");
    assert_eq!(locked, "first");

    // This claim takes the next job instead of waiting for that row (which would run into the
    // statement timeout), and the first once it is free.
    let claim = |token: &'static str| {
        let store = store.clone();
        async move {
            let job = store.claim_next(token, 60_000).await.expect("claims");
            job.expect("a job").dedupe_key
        }
    };
    assert_eq!(claim("replica-b:1").await, "second");
    tx.rollback().await.expect("rollback");
    assert_eq!(claim("replica-b:2").await, "first");
}
