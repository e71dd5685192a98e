//! The issue-5 pipeline fed over IPC through the real daemon: points/s through
//! `from|where|window(10s)|mean|alert` with 1,000 groups, written to `/write` and routed by
//! apid to the worker. Compare with the in-process number in `workers/src/engine/BENCHMARKS.md`.
//!
//! ```sh
//! cargo build --release --bins
//! cargo bench -p kapacitor-tests --bench pipeline_ipc -- --points 2000000 --writers 2
//! ```
//!
//! Hosts are split between writers, so each group still sees its points in time order. The
//! clock runs from the first request to the moment `window3` has collected every point.

mod common;

use common::*;
use kapacitor_tests::procfs::{cpu_ticks, rss_kib};
use kapacitor_tests::{Daemon, DaemonOpts};
use std::time::{Duration, Instant};

const SCRIPT: &str = "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |where(lambda: \"usage_idle\" >= 0.0)\n    |window()\n        .period(10s)\n        .every(10s)\n    |mean('usage_idle')\n    |alert()\n        .warn(lambda: \"mean\" < 20.0)\n        .crit(lambda: \"mean\" < 10.0)\n";
const GROUPS: usize = 1_000;
const LINES: usize = 5_000;

fn main() {
    let points: usize = arg("points", 2_000_000);
    let writers: usize = arg("writers", 2);
    println!("machine: {}", machine());
    let hosts_per_writer = GROUPS / writers;
    let seconds_per_body = LINES / hosts_per_writer;
    let bodies_per_writer = points / writers / LINES;
    let bodies: Vec<Vec<String>> = (0..writers)
        .map(|w| {
            (0..bodies_per_writer)
                .map(|b| {
                    let start = 31_536_000 + (b * seconds_per_body) as i64;
                    cpu_body(hosts_per_writer, w * hosts_per_writer, start, LINES)
                })
                .collect()
        })
        .collect();
    let total = (writers * bodies_per_writer * LINES) as u64;

    let d = Daemon::start(DaemonOpts {
        env: vec![("TZ".into(), "UTC".into())],
        ..DaemonOpts::default()
    });
    let id = "issue5".to_string();
    create_task(&d, &id, SCRIPT, "bench", "autogen");
    wait_executing(&d, std::slice::from_ref(&id));
    let worker = d.running_pid(&id);
    let cpu0 = cpu_ticks(worker).unwrap_or(0);
    let url = format!(
        "{}/kapacitor/v1/write?db=bench&rp=autogen&precision=s",
        d.url()
    );

    let start = Instant::now();
    let w = send_all_once(&url, &bodies, LINES as u64);
    let (through, done) = wait_collected(
        &d,
        std::slice::from_ref(&id),
        "window3",
        total,
        Duration::from_secs(5),
    );
    let elapsed = done.duration_since(start).as_secs_f64();
    let ticks = cpu_ticks(worker).unwrap_or(0).saturating_sub(cpu0);
    let hz = 100.0; // USER_HZ on Linux
    let task = d.task(&id);
    println!(
        "issue-5 pipeline, {GROUPS} groups, {writers} writers: accepted {:.0} points/s; {through} of {total} points through window3 in {elapsed:.2} s = {:.0} points/s end to end; worker CPU {:.2} s = {:.0} points per worker CPU-second; worker resident {:.1} MiB",
        w.points_per_s(),
        through as f64 / elapsed,
        ticks as f64 / hz,
        if ticks == 0 {
            0.0
        } else {
            through as f64 / (ticks as f64 / hz)
        },
        rss_kib(worker).unwrap_or(0) as f64 / 1024.0
    );
    println!("alert5 stats: {}", task["stats"]["node-stats"]["alert5"]);
    println!("machine after: {}", machine());
}
