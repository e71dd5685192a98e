//! Cluster alerting benchmarks (ignored; run by hand, numbers go to BENCHMARKS.md):
//!
//! ```text
//! cargo test -p kapacitor-tests --test cluster_alert_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Three members on loopback, the alerting task on two of them, a `post` handler on topic
//! `cpu` whose endpoint records arrival times. Latency is arrival minus the moment the test
//! wrote the event (the write goes to both task members).

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/cluster_alert_helpers.rs"]
mod cluster_alert_helpers;
#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
#[path = "../../alert/src/cluster/ownership.rs"]
#[allow(dead_code)]
mod ownership;

use alerting_helpers::{Endpoint, enable_task};
use cluster_alert_helpers::{
    SCRIPT, arrivals, event_line, join, kill_whole, member, member_id, post_handler,
    wait_alerting_ready,
};
use cluster_helpers::Member;
use kapacitor_tests::wait_until;
use std::time::{Duration, Instant};

const DELAY: &str = "1s";

struct Run {
    latencies_ms: Vec<f64>,
    missing: usize,
    duplicates: usize,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Three members, task on `task_on` (indices), handler on member 0; returns the members
/// and the order of the members' indices as owners of `cpu`.
fn cluster(redundancy: usize) -> ([Member; 3], Vec<usize>, Endpoint) {
    // The handler queue holds a whole bulk run: a full queue drops events (Kapacitor's
    // behaviour), which is the post handler's throughput, not cluster alerting.
    let alert = format!(
        "redundancy = {redundancy}\ndelay-per-member = \"{DELAY}\"\ntopic-buffer-length = 20000"
    );
    let ms = [
        member(&alert, None),
        member(&alert, None),
        member(&alert, None),
    ];
    join(&ms[0], &[&ms[1], &ms[2]]);
    let ids: Vec<String> = ms.iter().map(member_id).collect();
    let order: Vec<usize> = ownership::owners("cpu", &ids, 3)
        .iter()
        .map(|o| ids.iter().position(|m| m == o).unwrap())
        .collect();
    let endpoint = Endpoint::start(false);
    post_handler(&ms[0], &[&ms[1], &ms[2]], &endpoint.url);
    wait_alerting_ready(&[&ms[0], &ms[1], &ms[2]]);
    (ms, order, endpoint)
}

/// Writes events `first..first+n` in chunks of `chunk` lines to `to`, `gap` apart; returns
/// each event's write instant.
fn write(
    ms: &[Member; 3],
    to: &[usize],
    first: usize,
    n: usize,
    chunk: usize,
    gap: Duration,
) -> Vec<Instant> {
    let mut at = Vec::with_capacity(n);
    let mut i = first;
    while i < first + n {
        let end = (i + chunk).min(first + n);
        let body: Vec<String> = (i..end).map(event_line).collect();
        let now = Instant::now();
        for t in to {
            ms[*t].daemon.write("db", "autogen", "ns", &body.join("\n"));
        }
        at.extend(std::iter::repeat_n(now, end - i));
        i = end;
        std::thread::sleep(gap);
    }
    at
}

fn collect(endpoint: &Endpoint, written: &[Instant], first: usize, settle: Duration) -> Run {
    let n = written.len();
    wait_until(Duration::from_secs(60), || {
        let got = arrivals(endpoint);
        (first..first + n).all(|i| got.contains_key(&format!("e{i}")))
    });
    std::thread::sleep(settle);
    let got = arrivals(endpoint);
    let mut run = Run {
        latencies_ms: Vec::new(),
        missing: 0,
        duplicates: 0,
    };
    for (k, at) in written.iter().enumerate() {
        match got.get(&format!("e{}", first + k)) {
            Some(arr) => {
                run.latencies_ms
                    .push(arr[0].saturating_duration_since(*at).as_secs_f64() * 1e3);
                run.duplicates += arr.len() - 1;
            }
            None => run.missing += 1,
        }
    }
    run
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_delivery_latency_and_duplicates_by_redundancy() {
    for redundancy in [1, 2, 3] {
        let (ms, order, endpoint) = cluster(redundancy);
        // The task on the two members after the primary: the primary only gets forwards.
        let task_on = [order[1], order[2]];
        for t in task_on {
            enable_task(&ms[t].daemon, "cpu_alert", SCRIPT, "db");
        }
        // Paced latency: 1,000 events, 10 per write every 20 ms.
        let written = write(&ms, &task_on, 0, 1000, 10, Duration::from_millis(20));
        let mut run = collect(&endpoint, &written, 0, Duration::from_secs(3));
        let (p50, p99) = (
            pct(&mut run.latencies_ms, 0.5),
            pct(&mut run.latencies_ms, 0.99),
        );
        // Duplicates per 10,000 events under normal operation (written as fast as accepted).
        let bulk = write(&ms, &task_on, 1000, 10_000, 500, Duration::ZERO);
        let bulk_run = collect(&endpoint, &bulk, 1000, Duration::from_secs(3));
        println!(
            "BENCH redundancy={redundancy} latency p50={p50:.1}ms p99={p99:.1}ms missing={} \
             duplicates={} | 10k bulk: missing={} duplicates={}",
            run.missing, run.duplicates, bulk_run.missing, bulk_run.duplicates
        );
    }
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_failover_latency_and_duplicates_per_owner_kill() {
    for round in 0..3 {
        let (mut ms, order, endpoint) = cluster(2);
        let task_on = [order[1], order[2]];
        for t in task_on {
            enable_task(&ms[t].daemon, "cpu_alert", SCRIPT, "db");
        }
        // 20 events/s; the primary is killed after 2 s, events keep coming for 5 s.
        let before = write(&ms, &task_on, 0, 40, 1, Duration::from_millis(50));
        let killed = Instant::now();
        kill_whole(&mut ms[order[0]]);
        let after = write(&ms, &task_on, 40, 100, 1, Duration::from_millis(50));
        let mut all = before.clone();
        all.extend(after.iter().copied());
        let mut run = collect(&endpoint, &all, 0, Duration::from_secs(3));
        let mut after_lat: Vec<f64> = run.latencies_ms[40..].to_vec();
        let worst_after = after_lat.iter().cloned().fold(0.0, f64::max);
        // When delivery is back to no wait: the first event after which every later one
        // arrived within 100 ms.
        let recovered = (0..after_lat.len())
            .find(|k| after_lat[*k..].iter().all(|l| *l < 100.0))
            .map(|k| (after[k] - killed).as_secs_f64() * 1e3);
        println!(
            "BENCH failover round={round} p50_after={:.1}ms p99_after={:.1}ms max_after={worst_after:.1}ms \
             back_to_primary_latency_after={:?}ms duplicates={} missing={} p99_all={:.1}ms",
            pct(&mut after_lat, 0.5),
            pct(&mut after_lat.clone(), 0.99),
            recovered,
            run.duplicates,
            run.missing,
            pct(&mut run.latencies_ms, 0.99),
        );
    }
}
