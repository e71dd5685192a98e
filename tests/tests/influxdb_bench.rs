//! Measurements, not tests: run by hand in release mode and copy the numbers into
//! BENCHMARKS.md (they assert nothing about time).
//!
//! ```text
//! cargo build --release -p kapacitord
//! cargo test --release -p kapacitor-tests --test influxdb_bench -- --ignored --nocapture
//! ```
//!
//! * `subscription_throughput`: points/s influxd delivers to kapacitord through the
//!   subscription (influxd `/write` → subscription POST → apid `/write` → routing).
//! * `batch_query_round_trip`: the time a batch task's query takes, from the worker's
//!   `batch query answered` log lines (query sent → answer parsed into batches).

#[path = "support/influxdb_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{EVENTUALLY, eventually, wait_until};
use std::time::{Duration, Instant};

fn ingress(d: &kapacitor_tests::Daemon) -> u64 {
    vars(d)["kapacitor"][format!("ingress:{DB}:autogen:cpu")]["values"]["points_received"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run by hand with --ignored --nocapture"]
fn subscription_throughput() {
    const BATCH: usize = 5_000;
    const BATCHES: usize = 100;
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    // Reference writes go to a database kapacitord does not subscribe to.
    let d = daemon_for(
        &influxd,
        "  [influxdb.excluded-subscriptions]\n    reference = [\"autogen\"]\n",
    );
    enable_task(
        &d,
        "sink",
        "stream",
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('last')\n",
    );
    eventually(EVENTUALLY, "subscribed", || {
        subscriptions(&influxd)
            .iter()
            .any(|s| s.0 == DB)
            .then_some(())
    });
    let t0 = now_ns();
    let bodies: Vec<String> = (0..BATCHES)
        .map(|b| {
            (0..BATCH)
                .map(|i| {
                    format!(
                        "cpu,host=h{},cpu=cpu{} usage_idle={}.5,usage_user=3i {}",
                        i % 100,
                        i % 8,
                        i % 97,
                        t0 + (b * BATCH + i) as i64
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let total = (BATCH * BATCHES) as u64;
    // Reference: the same writes into a database nobody subscribes to.
    influxql(&influxd, "CREATE DATABASE reference");
    let start = Instant::now();
    for body in &bodies {
        influx_write(&influxd, "reference", body).expect("write");
    }
    let reference = start.elapsed();
    let start = Instant::now();
    for body in &bodies {
        influx_write(&influxd, DB, body).expect("write");
    }
    let written = start.elapsed();
    let done = wait_until(Duration::from_secs(120), || {
        node_stat(&d, "sink", "stream0", "collected") >= total as i64
    });
    let delivered = start.elapsed();
    let got = node_stat(&d, "sink", "stream0", "collected");
    assert_eq!(ingress(&d), total, "apid's ingress counter");
    println!(
        "subscription_throughput: influxd alone took {:.2}s ({:.0} points/s); {total} points in {BATCHES} writes of {BATCH}; influxd accepted them in {:.2}s ({:.0} points/s); the task received {got} ({}) after {:.2}s: {:.0} points/s end to end",
        reference.as_secs_f64(),
        total as f64 / reference.as_secs_f64(),
        written.as_secs_f64(),
        total as f64 / written.as_secs_f64(),
        if done { "all" } else { "NOT all" },
        delivered.as_secs_f64(),
        got as f64 / delivered.as_secs_f64(),
    );
}

#[test]
#[ignore = "benchmark: run by hand with --ignored --nocapture"]
fn batch_query_round_trip() {
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    // 100 hosts x 60 s of 1 s points: the query aggregates 6 000 points into 100 x 10 rows.
    let t0 = now_ns() - 60_000_000_000;
    let lines: Vec<String> = (0..60)
        .flat_map(|s| {
            (0..100).map(move |h| {
                format!(
                    "cpu,host=h{h} usage_idle={}.0 {}",
                    (s + h) % 100,
                    t0 + s * 1_000_000_000
                )
            })
        })
        .collect();
    influx_write(&influxd, DB, &lines.join("\n")).expect("write");
    let d = daemon_for(&influxd, "");
    enable_task(
        &d,
        "rtt",
        "batch",
        &format!(
            "batch\n    |query('''SELECT mean(usage_idle) FROM \"{DB}\".\"autogen\".\"cpu\"''')\n        \
             .period(70s)\n        .every(1s)\n        .groupBy(time(6s), 'host')\n    |httpOut('m')\n"
        ),
    );
    let samples = eventually(Duration::from_secs(60), "20 query runs", || {
        let took: Vec<f64> = d
            .log()
            .lines()
            .filter(|l| l.contains("batch query answered"))
            .filter_map(|l| {
                let v = l.split("took=").nth(1)?.split_whitespace().next()?;
                parse_go_ms(v.trim_matches('"'))
            })
            .collect();
        (took.len() >= 20).then_some(took)
    });
    let mut s = samples.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    println!(
        "batch_query_round_trip: {} runs, 100 series x 10 buckets each; median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        s.len(),
        s[s.len() / 2],
        s[s.len() * 9 / 10],
        s[s.len() - 1]
    );
}

/// `1.234ms`, `850µs`, `850us`, `1.2s` (Rust's `Duration` debug format) in milliseconds.
fn parse_go_ms(v: &str) -> Option<f64> {
    for (suffix, scale) in [
        ("ms", 1.0),
        ("µs", 1e-3),
        ("us", 1e-3),
        ("ns", 1e-6),
        ("s", 1e3),
    ] {
        if let Some(n) = v.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|x| x * scale);
        }
    }
    None
}
