//! `cargo bench --bench replicas`: cases per second and CPU per case with one, two and three
//! replicas of the release binary on one PostgreSQL database, against one on SQLite, in the
//! same run against the same emulators (over HTTP, unpaced). The clients are spread round-robin
//! over the replicas, as a load balancer would. PostgreSQL's own CPU (the server processes
//! working for the bench's database, read from /proc) is reported apart: on SQLite that work is
//! inside the bridge's process.
//!
//! PostgreSQL: `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) is used
//! to create a database per run, dropped afterwards.

mod common;

use std::sync::Arc;

use sqlx::Connection;

use common::*;

const CASES: usize = 1000;
const CONCURRENCY: usize = 32;
/// Cases opened before each measurement, so every replica's connections are open.
const WARM_UP: usize = 64;

/// A database of this run's own on the local PostgreSQL server.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let admin_url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("tb_bench_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL is running");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the bench database");
        let base = admin_url.rsplit_once('/').map_or(&*admin_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    async fn drop_it(self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("PostgreSQL is running");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .expect("drop the bench database");
    }
}

impl PgDatabase {
    /// User + system CPU seconds used so far by the server processes that work for this
    /// database: its backends, and the WAL writer, checkpointer and background writer (those
    /// are the server's, shared with anything else it serves). Backends that exit between two
    /// readings are not counted; the replicas' pools keep theirs open.
    async fn cpu_seconds(&self) -> f64 {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("PostgreSQL is running");
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1
                OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
        )
        .bind(self.name.clone())
        .fetch_all(&mut conn)
        .await
        .expect("server processes");
        pids.into_iter()
            .map(|pid| process_cpu_seconds(pid.unsigned_abs()))
            .sum()
    }
}

struct Run {
    label: String,
    rps: f64,
    p50: f64,
    p99: f64,
    bridge_cpu_ms: f64,
    postgres_cpu_ms: Option<f64>,
}

/// Opens [`CASES`] cases through `replicas` replicas on the PostgreSQL database `postgres`
/// (`None`: on a SQLite file); `run` names the customers apart from the other runs' (the
/// emulators are shared).
async fn measure(
    up: &Upstreams,
    label: &str,
    run: usize,
    replicas: usize,
    postgres: Option<&PgDatabase>,
) -> Run {
    let mut settings = UNPACED.to_vec();
    if let Some(db) = postgres {
        settings.push(("DATABASE_URL", &db.url));
    }
    let mut bridges = Vec::new();
    for _ in 0..replicas {
        bridges.push(Bridge::start(up, &settings).await);
    }
    let bases: Arc<Vec<String>> = Arc::new(bridges.iter().map(|b| b.base.clone()).collect());
    let http = reqwest::Client::new();
    let open = move |i: usize, phase: &'static str| {
        let (bases, http) = (bases.clone(), http.clone());
        async move {
            let base = &bases[i % bases.len()];
            let user = format!("r{run}-{phase}-{i}");
            open_case(&http, base, &user, &user).await;
        }
    };
    let warm = open.clone();
    drive(WARM_UP, CONCURRENCY, move |i| warm(i, "warm")).await;

    let tickets_before = up.zendesk.tickets().len();
    let cpu = |bridges: &[Bridge]| bridges.iter().map(Bridge::cpu_seconds).sum::<f64>();
    let pg_cpu = || async {
        match postgres {
            Some(db) => db.cpu_seconds().await,
            None => 0.0,
        }
    };
    let (cpu_before, pg_before) = (cpu(&bridges), pg_cpu().await);
    let (lat, wall) = drive(CASES, CONCURRENCY, move |i| open(i, "case")).await;
    let (cpu_after, pg_after) = (cpu(&bridges), pg_cpu().await);
    assert_eq!(up.zendesk.tickets().len() - tickets_before, CASES);
    let per_case_ms = |s: f64| s * 1000.0 / CASES as f64;
    Run {
        label: label.to_owned(),
        rps: CASES as f64 / wall.as_secs_f64(),
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        bridge_cpu_ms: per_case_ms(cpu_after - cpu_before),
        postgres_cpu_ms: postgres.map(|_| per_case_ms(pg_after - pg_before)),
    }
}

async fn replicas() {
    println!(
        "## Replicas: {CASES} cases, {CONCURRENCY} concurrent clients spread over the replicas, every case a new customer\n"
    );
    let up = upstreams(0).await;
    let mut runs = Vec::new();
    // SQLite: the file is the process's own, so one replica only.
    runs.push(measure(&up, "SQLite, 1 replica", 0, 1, None).await);
    for n in 1..=3 {
        let db = PgDatabase::create().await;
        let label = format!("PostgreSQL, {n} replica{}", if n == 1 { "" } else { "s" });
        runs.push(measure(&up, &label, n, n, Some(&db)).await);
        db.drop_it().await;
    }
    assert_eq!(up.im.groups().len(), 4 * (CASES + WARM_UP));

    println!("| | cases/s | p50 ms | p99 ms | bridge CPU per case | PostgreSQL CPU per case | total CPU per case |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let pg = r.postgres_cpu_ms.unwrap_or(0.0);
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.2} ms | {} | {:.2} ms |",
            r.label,
            r.rps,
            r.p50,
            r.p99,
            r.bridge_cpu_ms,
            r.postgres_cpu_ms
                .map_or("—".to_owned(), |ms| format!("{ms:.2} ms")),
            r.bridge_cpu_ms + pg
        );
    }
    println!();
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(replicas());
}
