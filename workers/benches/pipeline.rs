//! Throughput and memory of the engine on the issue's reference pipeline:
//! `from | where | window(10s) | mean | alert` with 1,000 groups, fed in-process on one core.
//!
//! Run with `cargo bench -p kapacitor-workers --bench pipeline` (add `-- --points N
//! --groups G` to change the load). Prints points/s and resident memory per 1,000 groups.

use kapacitor_models::{FieldValue, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
stream
    |from()
        .measurement('cpu')
        .groupBy('host')
    |where(lambda: "usage" >= 0.0)
    |window()
        .period(10s)
        .every(10s)
    |mean('usage')
    |alert()
        .warn(lambda: "mean" > 80.0)
        .crit(lambda: "mean" > 90.0)
"#;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn make_points(start: usize, n: usize, groups: usize, hosts: &[String]) -> Vec<Point> {
    (start..start + n)
        .map(|i| {
            let g = i % groups;
            let sec = (i / groups) as i64;
            let mut tags = Tags::new();
            tags.insert("host".to_string(), hosts[g].clone());
            tags.insert("region".to_string(), "eu".to_string());
            let mut fields = kapacitor_models::Fields::new();
            fields.insert("usage".to_string(), FieldValue::Float(((i * 7919) % 100) as f64));
            Point {
                name: "cpu".to_string(),
                tags,
                fields,
                time: 31_536_000_000_000_000 + sec * 1_000_000_000,
            }
        })
        .collect()
}

fn task() -> Task {
    let pipeline = tickscript::compile(SCRIPT, &tickscript::Vars::new()).expect("script compiles");
    Task::new("bench", &pipeline, TaskContext::default()).expect("task builds")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let total = arg("--points", 3_000_000);
    let groups = arg("--groups", 1_000);
    let hosts: Vec<String> = (0..groups.max(10_000)).map(|g| format!("host{g:05}")).collect();

    // Throughput: generate points in chunks outside the timed region.
    let mut t = task();
    let chunk = 100_000;
    let mut busy = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let n = chunk.min(total - done);
        let pts = make_points(done, n, groups, &hosts);
        let start = Instant::now();
        for p in pts {
            t.push_point("db", "rp", p);
        }
        busy += start.elapsed();
        done += n;
        // Alert events are drained by the worker in production; do the same here.
        let _ = t.drain_alert_events();
    }
    let pps = total as f64 / busy.as_secs_f64();
    let stats = t.stats();
    let errors: i64 = stats.nodes.iter().map(|n| n.errors).sum();
    println!("pipeline: from|where|window(10s)|mean|alert, {groups} groups");
    println!("points: {total}, time: {:.3}s, throughput: {:.0} points/s, node errors: {errors}", busy.as_secs_f64(), pps);
    for n in &stats.nodes {
        println!(
            "  {:<10} collected={:<9} emitted={:<9} avg_exec_time_ns={}",
            n.name, n.collected, n.emitted, n.avg_exec_time_ns
        );
    }
    drop(t);

    // Memory: resident growth while 10,000 groups each hold a full 10 s window (10 points),
    // scaled to 1,000 groups.
    let mem_groups = 10_000;
    let before = rss_bytes();
    let mut t = task();
    let pts = make_points(0, mem_groups * 10, mem_groups, &hosts);
    for p in pts {
        t.push_point("db", "rp", p);
    }
    let after = rss_bytes();
    let per_1000 = after.saturating_sub(before) as f64 / (mem_groups as f64 / 1000.0);
    println!(
        "memory: {:.1} MiB resident per 1,000 groups (10 buffered points each, {} groups measured)",
        per_1000 / (1024.0 * 1024.0),
        mem_groups
    );
    drop(t);
}
