//! `cargo bench --bench createticket`: the release binary against the emulators, over HTTP.
//!
//! 1. Throughput: concurrent `/createticket` (every case a new customer), reporting requests/s,
//!    p50/p99 latency and the bridge process's CPU time per request. Baseline, measured in the
//!    same run: the same upstream calls made directly with the library's clients and no bridge
//!    (what any bridge must at least spend), so the ratios show what the bridge adds.
//! 2. Burst: 1,000 cases at once against an emulated Zendesk limited to 700 requests a minute,
//!    every client retrying with its key until it gets 200. Reports the time until all are
//!    done against the rate-limit bound, failures and duplicates.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ticket_bridge::im::types::{NewGroup, TextMessage};
use ticket_bridge::im::ImClient;
use ticket_bridge::zendesk::types::{NewComment, NewTicket, NewUser, TicketRequester};
use ticket_bridge::zendesk::ZendeskClient;
use tokio::time::Instant;

use common::*;

const THROUGHPUT_CASES: usize = 5000;
/// The bridge's throughput run is cut in rounds of `THROUGHPUT_CASES / ROUNDS` cases.
const ROUNDS: usize = 5;
const CONCURRENCY: usize = 32;
const BURST_CASES: usize = 1000;
const BURST_RPM: u32 = 700;

fn new_user(user: &str) -> NewUser {
    NewUser {
        name: "Bench Customer".into(),
        external_id: format!("tencent_im:{user}"),
        email: Some(format!("{user}@example.com")),
        role: "end-user".into(),
        skip_verify_email: true,
    }
}

fn new_ticket(customer: u64, case: &str) -> NewTicket {
    NewTicket {
        subject: "Refund".into(),
        comment: NewComment {
            body: "Order 42 arrived broken".into(),
            public: true,
            author_id: None,
        },
        requester: TicketRequester::Existing(customer),
        submitter_id: Some(customer),
        tags: vec!["tencent_im".into()],
        external_id: Some(format!("base-case-{case}")),
    }
}

/// What the client waits for, made directly: the customer's user unless `customer` is known,
/// the ticket (the IM account imported meanwhile), the group. Returns the group id.
async fn floor_case(
    zd: &ZendeskClient,
    im: &ImClient,
    user: &str,
    customer: Option<u64>,
) -> String {
    let ticket = async {
        let customer = match customer {
            Some(c) => c,
            None => zd.create_user(&new_user(user)).await.expect("user").id,
        };
        zd.create_ticket(&new_ticket(customer, user), Some(user))
            .await
            .expect("ticket")
    };
    let (ticket, imported) = tokio::join!(ticket, im.account_import(user, None));
    imported.expect("import");
    let group = format!("ZENDESK#{}", ticket.id);
    im.create_group(&NewGroup {
        group_id: group.clone(),
        name: "Refund".into(),
        group_type: "Public".into(),
        apply_join_option: "FreeAccess".into(),
        introduction: Some(format!("Zendesk ticket #{}", ticket.id)),
        members: vec![user.to_owned()],
    })
    .await
    .expect("group");
    group
}

/// The upstream calls of one new customer's case, greeting included, made directly: the floor.
async fn baseline_case(zd: &ZendeskClient, im: &ImClient, i: usize) {
    let group = floor_case(zd, im, &format!("base-{i}"), None).await;
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
    let (zd, im) = clients(&up);
    let (base_lat, base_wall) = drive(THROUGHPUT_CASES, CONCURRENCY, move |i| {
        let (zd, im) = (zd.clone(), im.clone());
        async move { baseline_case(&zd, &im, i).await }
    })
    .await;
    drop(up);

    // The bridge, in rounds: its CPU per case is measured per round and the median reported
    // (this VM's CPU time per unit of work drifts by a fifth over minutes).
    let up = upstreams(0).await;
    let bridge = Bridge::start(&up, &UNPACED).await;
    let base = Arc::new(bridge.base.clone());
    let http = reqwest::Client::new();
    let per_round = THROUGHPUT_CASES / ROUNDS;
    let (mut lat, mut wall, mut cpus) = (Vec::new(), Duration::ZERO, Vec::new());
    for round in 0..ROUNDS {
        let (base, http) = (base.clone(), http.clone());
        let cpu_before = bridge.cpu_seconds();
        let (round_lat, round_wall) = drive(per_round, CONCURRENCY, move |i| {
            let (base, http) = (base.clone(), http.clone());
            let i = round * per_round + i;
            async move { open_case(&http, &base, &format!("cust-{i}"), &format!("bench-{i}")).await }
        })
        .await;
        cpus.push((bridge.cpu_seconds() - cpu_before) * 1000.0 / per_round as f64);
        lat.extend(round_lat);
        wall += round_wall;
    }
    lat.sort();
    let in_order: Vec<String> = cpus.iter().map(|c| format!("{c:.2}")).collect();
    cpus.sort_by(f64::total_cmp);
    let cpu_ms = cpus[cpus.len() / 2];
    let rss = bridge.peak_rss_mib();
    assert_eq!(up.zendesk.tickets().len(), THROUGHPUT_CASES);
    assert_eq!(up.im.groups().len(), THROUGHPUT_CASES);

    let rps = THROUGHPUT_CASES as f64 / wall.as_secs_f64();
    let base_rps = THROUGHPUT_CASES as f64 / base_wall.as_secs_f64();
    println!("| | requests/s | p50 ms | p99 ms | bridge CPU per request | bridge peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| baseline: the same upstream calls, no bridge | {base_rps:.0} | {:.1} | {:.1} | — | — |",
        pct(&base_lat, 0.5),
        pct(&base_lat, 0.99)
    );
    println!(
        "| ticket-bridge `/createticket` | {rps:.0} | {:.1} | {:.1} | {:.2} ms | {rss:.0} MiB |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        cpu_ms
    );
    println!(
        "| ratio bridge / baseline | {:.2}× | {:.2}× | {:.2}× | | |\n",
        rps / base_rps,
        pct(&lat, 0.5) / pct(&base_lat, 0.5),
        pct(&lat, 0.99) / pct(&base_lat, 0.99)
    );
    println!(
        "bridge CPU per case, round by round (ms; the table gives the median): {}\n",
        in_order.join(", ")
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

/// Latency mode: every Zendesk and IM call takes `LATENCY` more, as across an ocean. A case's
/// answer time is then about (sequential upstream round trips) × `LATENCY` + what the bridge
/// adds. Both are reported, for new and for returning customers; what the bridge adds is
/// measured against the floor: the same critical path's calls made directly. Floor and bridge
/// cases alternate in one run, so both see the same load on the machine.
async fn latency() {
    const LATENCY: Duration = Duration::from_millis(50);
    const CASES: usize = 400;
    const CLIENTS: usize = 16;
    println!(
        "## Latency: {} ms on every upstream call, {CASES} cases of each kind and as many floor \
         cases, {CLIENTS} concurrent clients\n",
        LATENCY.as_millis()
    );
    let up = upstreams(0).await;
    let bridge = Bridge::start(&up, &UNPACED).await;
    let base = Arc::new(bridge.base.clone());
    let http = reqwest::Client::new();
    let open = move |user: String, key: String| {
        let (base, http) = (base.clone(), http.clone());
        async move { open_case(&http, &base, &user, &key).await }
    };
    // The returning customers' first cases (and the floor's known users), without latency.
    let first = open.clone();
    drive(CASES, CLIENTS, move |i| {
        first(format!("back-{i}"), format!("first-{i}"))
    })
    .await;
    let (zd, im) = clients(&up);
    let mut known = Vec::with_capacity(CASES);
    for i in 0..CASES {
        known.push(
            zd.create_user(&new_user(&format!("floor-back-{i}")))
                .await
                .expect("user")
                .id,
        );
    }
    let known = Arc::new(known);
    up.zendesk.faults().set_latency(LATENCY);
    up.im.faults().set_latency(LATENCY);
    let rtt = LATENCY.as_secs_f64() * 1000.0;
    println!("| customers | floor p50 / p99 ms | bridge p50 / p99 ms | sequential round trips | bridge adds p50 / p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for (who, prefix) in [("new", "new"), ("returning", "back")] {
        let (zd, im, known) = (zd.clone(), im.clone(), known.clone());
        let returning = prefix == "back";
        let go = open.clone();
        // Even jobs: the floor; odd ones: the bridge. Each records its own time.
        let times: Arc<std::sync::Mutex<[Vec<Duration>; 2]>> = Arc::default();
        let record = times.clone();
        drive(2 * CASES, CLIENTS, move |job| {
            let (zd, im, known, go, record) = (
                zd.clone(),
                im.clone(),
                known.clone(),
                go.clone(),
                record.clone(),
            );
            async move {
                let (i, bridged) = (job / 2, job % 2 == 1);
                let t = Instant::now();
                if bridged {
                    go(format!("{prefix}-{i}"), format!("second-{i}")).await;
                } else {
                    let customer = returning.then(|| known[i]);
                    floor_case(&zd, &im, &format!("floor-{prefix}-{i}"), customer).await;
                }
                record.lock().expect("times")[usize::from(bridged)].push(t.elapsed());
            }
        })
        .await;
        let [mut floor, mut lat] = std::mem::take(&mut *times.lock().expect("times"));
        floor.sort();
        lat.sort();
        let (f50, f99) = (pct(&floor, 0.5), pct(&floor, 0.99));
        let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
        println!(
            "| {who} | {f50:.1} / {f99:.1} | {p50:.1} / {p99:.1} | {:.0} | {:.1} / {:.1} |",
            (p50 / rtt).floor(),
            p50 - f50,
            p99 - f99
        );
    }
    println!();
    drop(bridge);
}

/// Instructions per case: the bridge under callgrind (counts are repeatable whatever else the
/// machine does), warmed up, its counters zeroed, then `CASES` new customers' cases; the dump is
/// left for `callgrind_annotate`.
async fn instructions() {
    const WARM: usize = 20;
    const CASES: usize = 200;
    println!(
        "## Instructions: {CASES} cases (new customers, 8 concurrent), bridge under callgrind\n"
    );
    let up = upstreams(0).await;
    let bridge = Bridge::start(&up, &UNPACED).await;
    let base = Arc::new(bridge.base.clone());
    let http = reqwest::Client::new();
    let open = move |user: String| {
        let (base, http) = (base.clone(), http.clone());
        async move { open_case(&http, &base, &user, "k").await }
    };
    let warm = open.clone();
    drive(WARM, 8, move |i| warm(format!("warm-{i}"))).await;
    let pid = bridge.child.id().to_string();
    callgrind_control(&["--zero", &pid]);
    drive(CASES, 8, move |i| open(format!("cust-{i}"))).await;
    callgrind_control(&["--dump=cases", &pid]);
    drop(bridge);
    let out = std::env::var("BENCH_CALLGRIND").expect("set by main");
    // The first dump asked for: `<out-file>.<pid>.1`.
    let dump = format!("{out}.{pid}.1");
    let text = std::fs::read_to_string(&dump).expect("dump");
    let total: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("totals");
    println!("| | instructions |");
    println!("|---|---:|");
    println!(
        "| per case (bridge process, all threads) | {:.0} |",
        total / CASES as f64
    );
    println!("\nprofile: callgrind_annotate {dump}\n");
}

fn callgrind_control(args: &[&str]) {
    // valgrind names its control pipe after `HOST`, which the bridge has as its own setting.
    let ok = std::process::Command::new("callgrind_control")
        .env("HOST", "127.0.0.1")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "callgrind_control {args:?}");
}

fn main() {
    // `cargo test --benches` runs bench targets without --bench: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if std::env::var("BENCH_CALLGRIND").is_ok() {
        let out = std::env::temp_dir().join(format!("tb-callgrind-{}", std::process::id()));
        let out = out.display().to_string();
        std::env::set_var("BENCH_CALLGRIND", &out);
        std::env::set_var(
            "BENCH_WRAP",
            format!("valgrind --tool=callgrind --callgrind-out-file={out}.%p"),
        );
        rt.block_on(instructions());
        return;
    }
    // `BENCH_ONLY=latency` (or throughput, burst) runs that part alone.
    let only = std::env::var("BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    rt.block_on(async {
        if run("throughput") {
            throughput().await;
        }
        if run("latency") {
            latency().await;
        }
        if run("burst") && std::env::var("BENCH_SKIP_BURST").is_err() {
            burst().await;
        }
    });
}
