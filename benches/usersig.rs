//! `cargo bench --bench usersig`: UserSig generate and verify, against a baseline measured in
//! the same run — one bare HMAC-SHA256 over the same content, the floor of any UserSig work.
//!
//! A tiny harness instead of a benchmarking crate: calibrate, then time several batches and
//! report the median nanoseconds per call and its ratio to the baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::UserSigner;

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const APP: u64 = 1_400_000_000;
const BATCHES: usize = 15;
const BATCH_TIME: Duration = Duration::from_millis(100);

/// Median ns per call of `f` over [`BATCHES`] batches of about [`BATCH_TIME`] each.
fn measure(mut f: impl FnMut()) -> f64 {
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() >= BATCH_TIME / 4 {
            break;
        }
        n *= 2;
    }
    let n = n * 4;
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[BATCHES / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let signer = UserSigner::new(APP, Secret::new(KEY));
    let content = "TLS.identifier:xiaojun\nTLS.sdkappid:1400000000\nTLS.time:1700000000\nTLS.expire:15552000\n";
    let sig = signer.generate("xiaojun", 86_400);

    let baseline = measure(|| {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(black_box(content.as_bytes()));
        black_box(mac.finalize());
    });
    let generate = measure(|| {
        black_box(signer.generate(black_box("xiaojun"), 86_400));
    });
    let verify = measure(|| {
        black_box(
            signer
                .verify(black_box("xiaojun"), black_box(sig.expose()))
                .is_ok(),
        );
    });

    println!("{:<34} {:>12} {:>10}", "benchmark", "ns/call", "ratio");
    for (name, ns) in [
        ("baseline: one HMAC-SHA256", baseline),
        ("usersig generate", generate),
        ("usersig verify", verify),
    ] {
        println!("{name:<34} {ns:>12.0} {:>9.1}x", ns / baseline);
    }
    println!(
        "generate: {:.0} sigs/s per core; verify: {:.0} checks/s per core",
        1e9 / generate,
        1e9 / verify
    );
}
