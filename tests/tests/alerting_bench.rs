//! Alerting benchmarks on one idle member, run by hand (ignored in CI), on release binaries:
//!
//! ```text
//! cargo build --release -p kapacitord
//! cargo test --release -p kapacitor-tests --test alerting_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - latency from a `/write` whose point crosses a threshold to the `post` handler's request
//!   arriving at a local HTTP server (p50, p99);
//! - alerts per second one member delivers to a local endpoint.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::{Endpoint, TOPICS, debug_values, enable_task};
use kapacitor_tests::{Daemon, DaemonOpts, http};
use serde_json::json;
use std::time::{Duration, Instant};

const SCRIPT: &str = "stream
    |from()
        .measurement('cpu')
        .groupBy('host')
    |alert()
        .id('{{ index .Tags \"host\" }}')
        .crit(lambda: \"value\" > 90)
        .topic('cpu')
";

fn setup(extra_config: &str) -> (Daemon, Endpoint) {
    let d = Daemon::start(DaemonOpts {
        extra_config: extra_config.to_string(),
        ..DaemonOpts::default()
    });
    let hook = Endpoint::start(false);
    let r = d.post_json(
        &format!("{TOPICS}/cpu/handlers"),
        &json!({"id": "hook", "kind": "post", "options": {"url": format!("{}/a", hook.url)}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    enable_task(&d, "bench", SCRIPT, "telegraf");
    (d, hook)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[test]
#[ignore]
fn bench_write_to_post_latency() {
    let (d, hook) = setup("");
    let url = format!(
        "{}/kapacitor/v1/write?db=telegraf&rp=autogen&precision=ns",
        d.url()
    );
    let samples = 1000;
    let warmup = 50;
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples + warmup {
        // Alternating CRITICAL and OK on one host: every point is a state change.
        let value = if i % 2 == 0 { 95 } else { 10 };
        let line = format!(
            "cpu,host=a value={value} {}",
            1_600_000_000_000_000_000u64 + i as u64
        );
        let before = hook.hits().len();
        let start = Instant::now();
        let r = http::post(&url, &line).expect("write");
        assert_eq!(r.status, 204);
        let arrived = loop {
            let hits = hook.hits();
            if hits.len() > before {
                break hits[before].at;
            }
            std::thread::sleep(Duration::from_micros(50));
        };
        if i >= warmup {
            lat.push(arrived.duration_since(start));
        }
    }
    lat.sort();
    println!(
        "write → post handler request: n={} p50={:?} p90={:?} p99={:?} max={:?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

#[test]
#[ignore]
fn bench_alerts_per_second_to_a_local_endpoint() {
    let (d, hook) = setup("[alert]\n  topic-buffer-length = 100000\n");
    let url = format!(
        "{}/kapacitor/v1/write?db=telegraf&rp=autogen&precision=ns",
        d.url()
    );
    let n = 20_000usize;
    let batch = 1_000usize;
    let start = Instant::now();
    for b in 0..n / batch {
        // Each point is a new host: one CRITICAL event each.
        let body: Vec<String> = (0..batch)
            .map(|i| {
                let k = b * batch + i;
                format!(
                    "cpu,host=h{k} value=95 {}",
                    1_600_000_000_000_000_000u64 + k as u64
                )
            })
            .collect();
        let r = http::post(&url, &body.join("\n")).expect("write");
        assert_eq!(r.status, 204);
    }
    let written = start.elapsed();
    let mut progress = Instant::now();
    loop {
        if hook.hits().len() >= n {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            panic!("only {} of {n} delivered", hook.hits().len());
        }
        if progress.elapsed() > Duration::from_secs(2) {
            progress = Instant::now();
            println!(
                "progress: {} delivered; service {}; handler {}",
                hook.hits().len(),
                debug_values(&d, "alert_service").unwrap_or_default(),
                debug_values(&d, "alert_handlers:cpu:hook").unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let hits = hook.hits();
    let last = hits.iter().map(|h| h.at).max().unwrap();
    let total = last.duration_since(start);
    let stats = debug_values(&d, "alert_handlers:cpu:hook").unwrap();
    println!(
        "{n} alerts delivered to a local endpoint in {total:?} ({:.0}/s); writes took {written:?}; handler stats {stats}",
        n as f64 / total.as_secs_f64()
    );
}
