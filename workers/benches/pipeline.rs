//! Throughput and memory of the engine on the issue's reference pipeline:
//! `from | where | window(10s) | mean | alert` with 1,000 groups, fed in-process on one core.
//!
//! Run with `cargo bench -p kapacitor-workers --bench pipeline` (add `-- --points N
//! --groups G` to change the load). Prints points/s and resident memory per 1,000 groups.

use kapacitor_models::{FieldValue, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes, so memory per group is measured exactly rather than through RSS
/// (which depends on what the allocator kept from earlier phases).
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time of this thread in nanoseconds (from /proc), so that the result does not depend on
/// how busy the machine is.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

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

fn make_points(start: usize, n: usize, groups: usize, hosts: &[String]) -> Vec<Point> {
    (start..start + n)
        .map(|i| {
            let g = i % groups;
            let sec = (i / groups) as i64;
            let mut tags = Tags::new();
            tags.insert("host".to_string(), hosts[g].clone());
            tags.insert("region".to_string(), "eu".to_string());
            let mut fields = kapacitor_models::Fields::new();
            fields.insert(
                "usage".to_string(),
                FieldValue::Float(((i * 7919) % 100) as f64),
            );
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
    let hosts: Vec<String> = (0..groups.max(10_000))
        .map(|g| format!("host{g:05}"))
        .collect();

    // Throughput: generate points in small chunks outside the timed region. Small chunks keep
    // the points cache-warm, as they are in a worker that just decoded them from its IPC
    // frame; only `push_point` is timed.
    let mut t = task();
    let chunk = 1_000;
    let mut busy = Duration::ZERO;
    let mut cpu_ns = 0u64;
    let mut done = 0;
    while done < total {
        let n = chunk.min(total - done);
        let pts = make_points(done, n, groups, &hosts);
        let start = Instant::now();
        let cpu0 = thread_cpu_ns();
        for p in pts {
            t.push_point("db", "rp", p);
        }
        cpu_ns += thread_cpu_ns() - cpu0;
        busy += start.elapsed();
        done += n;
        // Alert events are drained by the worker in production; do the same here.
        if done % 100_000 == 0 {
            let _ = t.drain_alert_events();
        }
    }
    let pps = total as f64 / busy.as_secs_f64();
    let stats = t.stats();
    let errors: i64 = stats.nodes.iter().map(|n| n.errors).sum();
    println!("pipeline: from|where|window(10s)|mean|alert, {groups} groups");
    println!(
        "points: {total}, wall: {:.3}s ({:.0} points/s), cpu: {:.3}s ({:.0} points per cpu-second), node errors: {errors}",
        busy.as_secs_f64(),
        pps,
        cpu_ns as f64 / 1e9,
        total as f64 / (cpu_ns as f64 / 1e9)
    );
    for n in &stats.nodes {
        println!(
            "  {:<10} collected={:<9} emitted={:<9} avg_exec_time_ns={}",
            n.name, n.collected, n.emitted, n.avg_exec_time_ns
        );
    }
    drop(t);

    // Memory: live heap held by the task once 10,000 groups each hold a full 10 s window
    // (10 points) and have state in every node, scaled to 1,000 groups.
    let mem_groups = 10_000;
    let before = LIVE.load(Ordering::Relaxed);
    let mut t = task();
    // Points are made one at a time so that only what the task keeps is counted.
    for i in 0..mem_groups * 19 {
        for p in make_points(i, 1, mem_groups, &hosts) {
            t.push_point("db", "rp", p);
        }
    }
    let _ = t.drain_alert_events();
    let after = LIVE.load(Ordering::Relaxed);
    let per_1000 = (after - before) as f64 / (mem_groups as f64 / 1000.0);
    println!(
        "memory: {:.0} KiB live heap per 1,000 groups (incl. 9 buffered points each; {} groups measured)",
        per_1000 / 1024.0,
        mem_groups
    );
    drop(t);
}
