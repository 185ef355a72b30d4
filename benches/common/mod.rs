//! What the benchmarks share: the emulators served over HTTP, the release binary started on a
//! free port with its CPU time read from /proc, load drivers and percentiles.

#![allow(dead_code)] // each bench uses its own part of it

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use ticket_bridge::im::ImClient;
use ticket_bridge::sandbox::im::{ImEmulator, ImEmulatorConfig};
use ticket_bridge::sandbox::zendesk::{ZendeskEmulator, ZendeskEmulatorConfig};
use ticket_bridge::sandbox::{serve, Served};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::{AdminSig, UserSigner};
use ticket_bridge::zendesk::{ZendeskAuth, ZendeskClient};
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub const APP: u64 = 1_400_000_000;
pub const IM_KEY: &str = "bench-im-key";
pub const ADMIN: &str = "administrator";
pub const ZD_EMAIL: &str = "bridge@bench.test";
pub const ZD_TOKEN: &str = "bench-zendesk-token";

pub struct Upstreams {
    pub im: ImEmulator,
    pub zendesk: ZendeskEmulator,
    pub im_served: Served,
    pub zendesk_served: Served,
}

pub async fn upstreams(zendesk_rpm: u32) -> Upstreams {
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

/// Settings that take the bridge's own pacing out of the way (the emulators' limits still hold).
pub const UNPACED: [(&str, &str); 2] = [
    ("ZENDESK_RATE_LIMIT_RPM", "10000000"),
    ("IM_RATE_LIMIT_PER_SEC", "1000000"),
];

/// `POST /createticket` for `user` with its UserSig and `key`; panics unless it answers 200.
pub async fn open_case(http: &reqwest::Client, base: &str, user: &str, key: &str) {
    let resp = http
        .post(format!("{base}/createticket"))
        .header("Authorization", format!("UserSig {}", sig(user)))
        .header("Idempotency-Key", key)
        .json(&case(user))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

/// The release binary, serving on a free port, with its database in a fresh directory.
pub struct Bridge {
    pub child: Child,
    pub base: String,
    dir: std::path::PathBuf,
}

impl Bridge {
    pub async fn start(up: &Upstreams, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("tb-bench-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("bench dir");
        // `BENCH_WRAP="valgrind --tool=callgrind …"`: the binary runs under that command.
        let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
        // `BENCH_BRIDGE_ENV="NAME=value NAME=value"`: settings to compare (pool sizes, say).
        let compare = std::env::var("BENCH_BRIDGE_ENV").unwrap_or_default();
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
            // The load generator is one address for thousands of customers: the per-address
            // limit would refuse it. The per-customer limits stay on (their checks cost too).
            ("REQUESTS_PER_IP_PER_SEC", "0".into()),
        ]);
        for (k, v) in extra {
            env.insert(k, (*v).to_owned());
        }
        for (k, v) in compare
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
        {
            env.insert(k, v.to_owned());
        }
        let mut argv: Vec<&str> = wrap.split_whitespace().collect();
        argv.push(env!("CARGO_BIN_EXE_ticket-bridge"));
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .arg("serve")
            .env_clear()
            .envs(&env)
            .current_dir(&dir)
            .stdout(Stdio::null())
            // The log goes to stderr.
            .stderr(if std::env::var("BENCH_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
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

    /// The process's peak resident memory so far, in MiB (Linux `VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// User + system CPU seconds the process has used so far (Linux).
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.child.id())
    }
}

/// User + system CPU seconds process `pid` has used so far (Linux; 0 if it is gone).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn case(user: &str) -> Value {
    json!({"userId": user, "caseInfo": {"subject": "Refund", "desc": "Order 42 arrived broken",
           "name": "Bench Customer", "email": format!("{user}@example.com")}})
}

pub fn sig(user: &str) -> String {
    UserSigner::new(APP, Secret::new(IM_KEY))
        .generate(user, 86_400)
        .expose()
        .to_owned()
}

/// Runs `n` jobs with at most `concurrency` at once; their latencies (sorted) and wall time.
pub async fn drive<F, Fut>(n: usize, concurrency: usize, job: F) -> (Vec<Duration>, Duration)
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

pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A Zendesk client and an IM client on the emulators, as the bridge's admin (for baselines).
pub fn clients(up: &Upstreams) -> (Arc<ZendeskClient>, Arc<ImClient>) {
    let http = ticket_bridge::upstream::HttpClient::new().expect("HTTP client");
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
    (zd, im)
}
