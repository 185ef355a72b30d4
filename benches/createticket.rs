//! `cargo bench --bench createticket`: the release binary against the emulators, over HTTP.
//!
//! 1. Throughput: concurrent `/createticket` (every case a new customer), reporting requests/s,
//!    p50/p99 latency and the bridge process's CPU time per request. Baseline, measured in the
//!    same run: the same upstream calls made directly with the library's clients and no bridge
//!    (what any bridge must at least spend), so the ratios show what the bridge adds.
//! 2. Burst: 1,000 cases at once against an emulated Zendesk limited to 700 requests a minute,
//!    every client retrying with its key until it gets 200. Reports the time until all are
//!    done against the rate-limit bound, failures and duplicates.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::im::types::{NewGroup, TextMessage};
use ticket_bridge::im::ImClient;
use ticket_bridge::sandbox::im::{ImEmulator, ImEmulatorConfig};
use ticket_bridge::sandbox::zendesk::{ZendeskEmulator, ZendeskEmulatorConfig};
use ticket_bridge::sandbox::{serve, Served};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::{AdminSig, UserSigner};
use ticket_bridge::zendesk::types::{NewComment, NewTicket, NewUser, TicketRequester};
use ticket_bridge::zendesk::{ZendeskAuth, ZendeskClient};
use tokio::sync::Semaphore;
use tokio::time::Instant;

const APP: u64 = 1_400_000_000;
const IM_KEY: &str = "bench-im-key";
const ADMIN: &str = "administrator";
const ZD_EMAIL: &str = "bridge@bench.test";
const ZD_TOKEN: &str = "bench-zendesk-token";

const THROUGHPUT_CASES: usize = 1000;
const CONCURRENCY: usize = 32;
const BURST_CASES: usize = 1000;
const BURST_RPM: u32 = 700;

struct Upstreams {
    im: ImEmulator,
    zendesk: ZendeskEmulator,
    im_served: Served,
    zendesk_served: Served,
}

async fn upstreams(zendesk_rpm: u32) -> Upstreams {
    let mut im_config = ImEmulatorConfig::new(APP, Secret::new(IM_KEY), ADMIN);
    im_config.rate_limit_per_sec = 0;
    let im = ImEmulator::new(im_config);
    let mut zd_config = ZendeskEmulatorConfig::new(ZD_EMAIL, Secret::new(ZD_TOKEN));
    zd_config.rate_limit_per_minute = zendesk_rpm;
    let zendesk = ZendeskEmulator::new(zd_config);
    let im_served = serve(im.router(), 0).await.expect("IM emulator");
    let zendesk_served = serve(zendesk.router(), 0).await.expect("Zendesk emulator");
    Upstreams {
        im,
        zendesk,
        im_served,
        zendesk_served,
    }
}

/// The release binary, serving on a free port, with its database in a fresh directory.
struct Bridge {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Bridge {
    async fn start(up: &Upstreams, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("tb-bench-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("bench dir");
        let mut env: HashMap<&str, String> = HashMap::from([
            ("HOST", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            (
                "DATABASE_URL",
                format!("sqlite://{}/bench.db", dir.display()),
            ),
            ("ZENDESK_BASE_URL", up.zendesk_served.base_url.clone()),
            ("ZENDESK_EMAIL", ZD_EMAIL.into()),
            ("ZENDESK_API_TOKEN", ZD_TOKEN.into()),
            ("IM_BASE_URL", up.im_served.base_url.clone()),
            ("IM_SDKAPPID", APP.to_string()),
            ("IM_SECRET_KEY", IM_KEY.into()),
            ("IM_ADMIN_USERID", ADMIN.into()),
            ("RUST_LOG", "warn".into()),
        ]);
        for (k, v) in extra {
            env.insert(k, (*v).to_owned());
        }
        let child = Command::new(env!("CARGO_BIN_EXE_ticket-bridge"))
            .arg("serve")
            .env_clear()
            .envs(&env)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bridge starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        while !http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, base, dir }
    }

    /// User + system CPU seconds the process has used so far (Linux).
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name: state is field 3; utime 14, stime 15.
        let after = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i - 3)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(14) + ticks(15)) / clock_ticks()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn case(user: &str) -> Value {
    json!({"userId": user, "caseInfo": {"subject": "Refund", "desc": "Order 42 arrived broken",
           "name": "Bench Customer", "email": format!("{user}@example.com")}})
}

fn sig(user: &str) -> String {
    UserSigner::new(APP, Secret::new(IM_KEY))
        .generate(user, 86_400)
        .expose()
        .to_owned()
}

/// Runs `n` jobs with at most `concurrency` at once; their latencies (sorted) and wall time.
async fn drive<F, Fut>(n: usize, concurrency: usize, job: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let gate = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (job, gate) = (job.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let t = Instant::now();
            job(i).await;
            t.elapsed()
        });
    }
    let mut lat = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        lat.push(r.expect("task"));
    }
    lat.sort();
    (lat, start.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The upstream calls of one new customer's case, made directly: the floor.
async fn baseline_case(zd: &ZendeskClient, im: &ImClient, i: usize) {
    let user = format!("base-{i}");
    let customer = zd
        .create_user(&NewUser {
            name: "Bench Customer".into(),
            external_id: format!("tencent_im:{user}"),
            email: Some(format!("{user}@example.com")),
            role: "end-user".into(),
            skip_verify_email: true,
        })
        .await
        .expect("user");
    let ticket = zd
        .create_ticket(
            &NewTicket {
                subject: "Refund".into(),
                comment: NewComment {
                    body: "Order 42 arrived broken".into(),
                    public: true,
                    author_id: None,
                },
                requester: TicketRequester::Existing(customer.id),
                submitter_id: Some(customer.id),
                tags: vec!["tencent_im".into()],
                external_id: Some(format!("base-case-{i}")),
            },
            Some(&format!("base-{i}")),
        )
        .await
        .expect("ticket");
    let group = format!("ZENDESK#{}", ticket.id);
    im.account_import(&user, None).await.expect("import");
    im.create_group(&NewGroup {
        group_id: group.clone(),
        name: "Refund".into(),
        group_type: "Public".into(),
        apply_join_option: "FreeAccess".into(),
        introduction: Some(format!("Zendesk ticket #{}", ticket.id)),
        members: vec![user],
    })
    .await
    .expect("group");
    im.send_group_msg(&TextMessage {
        group_id: group,
        from: None,
        random: rand::random(),
        text: "Thank you for contacting us.".into(),
        cloud_custom_data: None,
    })
    .await
    .expect("greeting");
}

async fn throughput() {
    println!("## Throughput: {THROUGHPUT_CASES} cases, {CONCURRENCY} concurrent clients, every case a new customer\n");
    // Baseline: the same upstream calls, no bridge.
    let up = upstreams(0).await;
    let http = reqwest::Client::new();
    let zd = Arc::new(ZendeskClient::new(
        http.clone(),
        up.zendesk_served.base_url.clone(),
        ZendeskAuth::ApiToken {
            email: ZD_EMAIL.into(),
            token: Secret::new(ZD_TOKEN),
        },
        Duration::from_secs(30),
    ));
    let im = Arc::new(ImClient::new(
        http,
        up.im_served.base_url.clone(),
        APP,
        AdminSig::new(
            UserSigner::new(APP, Secret::new(IM_KEY)),
            ADMIN,
            Duration::from_secs(86_400),
        ),
        Duration::from_secs(30),
    ));
    let (base_lat, base_wall) = drive(THROUGHPUT_CASES, CONCURRENCY, move |i| {
        let (zd, im) = (zd.clone(), im.clone());
        async move { baseline_case(&zd, &im, i).await }
    })
    .await;
    drop(up);

    // The bridge.
    let up = upstreams(0).await;
    let bridge = Bridge::start(
        &up,
        &[
            ("ZENDESK_RATE_LIMIT_RPM", "10000000"),
            ("IM_RATE_LIMIT_PER_SEC", "1000000"),
        ],
    )
    .await;
    let base = Arc::new(bridge.base.clone());
    let http = reqwest::Client::new();
    let cpu_before = bridge.cpu_seconds();
    let (lat, wall) = drive(THROUGHPUT_CASES, CONCURRENCY, move |i| {
        let (base, http) = (base.clone(), http.clone());
        async move {
            let user = format!("cust-{i}");
            let resp = http
                .post(format!("{base}/createticket"))
                .header("Authorization", format!("UserSig {}", sig(&user)))
                .header("Idempotency-Key", format!("bench-{i}"))
                .json(&case(&user))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        }
    })
    .await;
    let cpu = bridge.cpu_seconds() - cpu_before;
    assert_eq!(up.zendesk.tickets().len(), THROUGHPUT_CASES);
    assert_eq!(up.im.groups().len(), THROUGHPUT_CASES);

    let rps = THROUGHPUT_CASES as f64 / wall.as_secs_f64();
    let base_rps = THROUGHPUT_CASES as f64 / base_wall.as_secs_f64();
    println!("| | requests/s | p50 ms | p99 ms | bridge CPU per request |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| baseline: the same upstream calls, no bridge | {base_rps:.0} | {:.1} | {:.1} | — |",
        pct(&base_lat, 0.5),
        pct(&base_lat, 0.99)
    );
    println!(
        "| ticket-bridge `/createticket` | {rps:.0} | {:.1} | {:.1} | {:.2} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        cpu * 1000.0 / THROUGHPUT_CASES as f64
    );
    println!(
        "| ratio bridge / baseline | {:.2}× | {:.2}× | {:.2}× | |\n",
        rps / base_rps,
        pct(&lat, 0.5) / pct(&base_lat, 0.5),
        pct(&lat, 0.99) / pct(&base_lat, 0.99)
    );
}

async fn burst() {
    println!("## Burst: {BURST_CASES} cases at once, emulated Zendesk limited to {BURST_RPM} requests/minute\n");
    let up = upstreams(BURST_RPM).await;
    let bridge = Bridge::start(&up, &[("ZENDESK_RATE_LIMIT_RPM", &BURST_RPM.to_string())]).await;
    let base = Arc::new(bridge.base.clone());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(BURST_CASES)
        .build()
        .expect("client");
    let give_up = Duration::from_secs(15 * 60);
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fails = failures.clone();
    let (_, wall) = drive(BURST_CASES, BURST_CASES, move |i| {
        let (base, http, fails) = (base.clone(), http.clone(), fails.clone());
        async move {
            let user = format!("burst-{i}");
            let until = Instant::now() + give_up;
            while Instant::now() < until {
                let resp = http
                    .post(format!("{base}/createticket"))
                    .header("Authorization", format!("UserSig {}", sig(&user)))
                    .header("Idempotency-Key", format!("burst-{i}"))
                    .timeout(Duration::from_secs(60))
                    .json(&case(&user))
                    .send()
                    .await;
                let wait = match resp {
                    Ok(r) if r.status() == 200 => return,
                    Ok(r) => r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .unwrap_or(2)
                        .clamp(1, 10),
                    Err(_) => 2,
                };
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            fails.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .await;
    let tickets = up.zendesk.tickets().len();
    let groups = up.im.groups();
    let greetings: usize = groups
        .iter()
        .map(|g| g.messages.iter().filter(|m| !m.system).count())
        .sum();
    let calls = up.zendesk.request_count();
    let bound_cases = BURST_CASES as f64 / f64::from(BURST_RPM) * 60.0;
    let bound_calls = calls as f64 / f64::from(BURST_RPM) * 60.0;
    println!("| | value |");
    println!("|---|---:|");
    println!(
        "| time until every case answered 200 | {:.1} s |",
        wall.as_secs_f64()
    );
    println!("| bound: {BURST_CASES} cases / {BURST_RPM} per minute | {bound_cases:.1} s |");
    println!(
        "| Zendesk requests made (a new customer needs 2: user, ticket) | {calls} ({:.2} per case) |",
        calls as f64 / BURST_CASES as f64
    );
    println!("| bound: those requests / {BURST_RPM} per minute | {bound_calls:.1} s |");
    println!(
        "| time / requests bound | {:.2}× |",
        wall.as_secs_f64() / bound_calls
    );
    println!(
        "| failures (no 200 within {} min) | {} |",
        give_up.as_secs() / 60,
        failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "| tickets / groups / greetings (want {BURST_CASES} each) | {tickets} / {} / {greetings} |\n",
        groups.len()
    );
    drop(bridge);
}

fn main() {
    // `cargo test --benches` runs bench targets without --bench: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        throughput().await;
        if std::env::var("BENCH_SKIP_BURST").is_err() {
            burst().await;
        }
    });
}
