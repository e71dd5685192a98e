//! `/write` ingest through the real daemon, with influxd 1.x as a reference; resident memory;
//! recovery time after `kill -9` of a worker.
//!
//! Build the release binaries first, then run (manually, not in CI):
//!
//! ```sh
//! cargo build --release --bins
//! cargo bench -p kapacitor-tests --bench ingest -- --seconds 10 --writers 4 --tasks 1,10,100
//! ```
//!
//! Every writer posts 5,000-line bodies (pre-built) over a keep-alive connection, for
//! `--seconds`. "accepted" counts points in requests answered 204; "delivered" is the sum of
//! the tasks' `from1` collected counters once they stop moving (points the tasks really got).

mod common;

use common::*;
use kapacitor_tests::influxd::Influxd;
use kapacitor_tests::procfs::{rss_kib, tree_rss_kib};
use kapacitor_tests::{Daemon, DaemonOpts, eventually};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

const LINES: usize = 5_000;
const BODIES_PER_WRITER: usize = 16;
const TASK_SCRIPT: &str = "stream\n    |from()\n        .measurement('cpu')\n";

fn bodies(writers: usize) -> Vec<Vec<String>> {
    (0..writers)
        .map(|w| {
            (0..BODIES_PER_WRITER)
                .map(|b| {
                    let start = 1_600_000_000 + ((w * BODIES_PER_WRITER + b) * 100) as i64;
                    cpu_body(50, w * 50, start, LINES)
                })
                .collect()
        })
        .collect()
}

fn daemon() -> Daemon {
    Daemon::start(DaemonOpts {
        env: vec![("TZ".into(), "UTC".into())],
        extra_config: String::new(),
        ..DaemonOpts::default()
    })
}

fn task_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ingest_{i:03}")).collect()
}

/// (supervisor, apid, workers...) resident KiB.
fn memory(d: &Daemon, ids: &[String]) -> (u64, u64, Vec<u64>) {
    let tree = tree_rss_kib(d.pid());
    let apid = d
        .child("apid")
        .and_then(|r| r.pid)
        .and_then(rss_kib)
        .unwrap_or(0);
    let workers = ids
        .iter()
        .filter_map(|id| d.child(id).and_then(|r| r.pid))
        .filter_map(rss_kib)
        .collect();
    (tree, apid, workers)
}

fn print_memory(label: &str, (tree, apid, workers): &(u64, u64, Vec<u64>)) {
    let n = workers.len().max(1) as u64;
    println!(
        "  {label}: daemon total {:.1} MiB, apid {:.1} MiB, workers {}: mean {:.1} MiB, max {:.1} MiB",
        *tree as f64 / 1024.0,
        *apid as f64 / 1024.0,
        workers.len(),
        workers.iter().sum::<u64>() as f64 / n as f64 / 1024.0,
        workers.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    );
}

fn bench_kapacitord(tasks: usize, writers: usize, seconds: u64, bodies: &[Vec<String>]) {
    let d = daemon();
    let ids = task_ids(tasks);
    for id in &ids {
        create_task(&d, id, TASK_SCRIPT, "bench", "autogen");
    }
    wait_executing(&d, &ids);
    std::thread::sleep(Duration::from_millis(500));
    let idle = memory(&d, &ids);
    let url = format!(
        "{}/kapacitor/v1/write?db=bench&rp=autogen&precision=s",
        d.url()
    );
    let start = Instant::now();
    let w = run_writers(
        &url,
        bodies.to_vec(),
        LINES as u64,
        Duration::from_secs(seconds),
    );
    let target = w.points * tasks as u64;
    let (delivered, done) = wait_collected(&d, &ids, "from1", target, Duration::from_secs(5));
    let deliveries_per_s = delivered as f64 / done.duration_since(start).as_secs_f64();
    let loaded = memory(&d, &ids);
    println!(
        "kapacitord, {tasks} task(s), {writers} writers: accepted {:.0} points/s ({} points, {} requests, {} failed, {:.1} s); delivered to tasks {delivered} of {target} ({:.1}%), {deliveries_per_s:.0} task-points/s until the last delivery",
        w.points_per_s(),
        w.points,
        w.requests,
        w.failures,
        w.elapsed.as_secs_f64(),
        if target == 0 {
            0.0
        } else {
            delivered as f64 * 100.0 / target as f64
        }
    );
    print_memory("idle", &idle);
    print_memory("after load", &loaded);
}

fn bench_influxd(writers: usize, seconds: u64, bodies: &[Vec<String>]) {
    if !Influxd::available() {
        println!("influxd: not installed, skipped");
        return;
    }
    let i = match Influxd::start() {
        Ok(i) => i,
        Err(e) => {
            println!("influxd: {e}");
            return;
        }
    };
    i.query("CREATE DATABASE bench").expect("create database");
    let url = format!("{}/write?db=bench&precision=s", i.url());
    let w = run_writers(
        &url,
        bodies.to_vec(),
        LINES as u64,
        Duration::from_secs(seconds),
    );
    println!(
        "influxd {}, {writers} writers: accepted {:.0} points/s ({} points, {} requests, {} failed); resident {:.1} MiB",
        std::process::Command::new(kapacitor_tests::influxd::INFLUXD)
            .arg("version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        w.points_per_s(),
        w.points,
        w.requests,
        w.failures,
        rss_kib(i.pid()).unwrap_or(0) as f64 / 1024.0
    );
}

/// Time from SIGKILL of the worker to the restarted worker counting new points.
fn bench_recovery(rounds: usize) {
    let d = daemon();
    let id = "recover".to_string();
    create_task(&d, &id, TASK_SCRIPT, "bench", "autogen");
    wait_executing(&d, std::slice::from_ref(&id));
    let url = format!(
        "{}/kapacitor/v1/write?db=bench&rp=autogen&precision=s",
        d.url()
    );
    let _trickle = Trickle::start(url, Duration::from_millis(5));
    let mut times = Vec::new();
    for _ in 0..rounds {
        let old = d.running_pid(&id);
        eventually(Duration::from_secs(10), "points flowing", || {
            (node_collected(&d, &id, "from1") > 0).then_some(())
        });
        let t0 = Instant::now();
        let _ = kill(Pid::from_raw(old as i32), Signal::SIGKILL);
        let new = eventually(Duration::from_secs(30), "a new worker", || {
            d.child(&id)
                .filter(|r| r.state == "running")
                .and_then(|r| r.pid)
                .filter(|&p| p != old)
        });
        // The new worker's counters start from zero; wait for them to move twice so the
        // first reading is not a leftover of the old process.
        let first = eventually(Duration::from_secs(30), "stats from the new worker", || {
            let c = node_collected(&d, &id, "from1");
            (d.child(&id).and_then(|r| r.pid) == Some(new)).then_some(c)
        });
        eventually(Duration::from_secs(30), "new worker processing", || {
            (node_collected(&d, &id, "from1") > first).then_some(())
        });
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        // Stay up longer than the crash window's healthy period so backoff resets.
        std::thread::sleep(Duration::from_secs(11));
    }
    println!(
        "kill -9 of a worker to points processed again: median {:.0} ms over {rounds} rounds ({:?})",
        median(times.clone()),
        times.iter().map(|t| t.round() as u64).collect::<Vec<_>>()
    );
}

fn main() {
    let seconds: u64 = arg("seconds", 10);
    let writers: usize = arg("writers", 4);
    let tasks = list_arg("tasks", &[1, 10, 100]);
    let rounds: usize = arg("recovery-rounds", 3);
    println!("machine: {}", machine());
    let bodies = bodies(writers);
    for &t in &tasks {
        bench_kapacitord(t, writers, seconds, &bodies);
    }
    bench_influxd(writers, seconds, &bodies);
    if rounds > 0 {
        bench_recovery(rounds);
    }
    println!("machine after: {}", machine());
}
