//! Throughput of a batch task fed in-process through `Task::push_batch`, the way the worker
//! shell feeds InfluxDB answers: 1,000 groups (`host`), one 10-point batch per group per
//! query tick, through `query | where | mean | alert` and a second branch into
//! `influxDBOut` whose outbox is drained every tick.
//!
//! Run with `cargo bench -p kapacitor-workers --bench batch` (add `-- --ticks N --groups G`).

use kapacitor_models::{Batch, FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};
use std::time::{Duration, Instant};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;
const POINTS_PER_BATCH: usize = 10;

const SCRIPT: &str = r#"
var data = batch
    |query('SELECT mean("usage") AS usage FROM "telegraf"."autogen"."cpu"')
        .period(10s)
        .every(10s)
        .groupBy(time(1s), 'host')
data
    |where(lambda: "usage" >= 0.0)
    |mean('usage')
    |alert()
        .warn(lambda: "mean" > 80.0)
        .crit(lambda: "mean" > 90.0)
data
    |influxDBOut()
        .database('downsampled')
        .tag('source', 'kapacitor')
"#;

/// CPU time of this thread in nanoseconds, so that the result does not depend on how busy
/// the shared machine is.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn make_batches(tick: usize, hosts: &[String]) -> Vec<Batch> {
    let stop = T0 + (tick as i64 + 1) * 10 * S;
    hosts
        .iter()
        .enumerate()
        .map(|(g, host)| {
            let mut tags = Tags::new();
            tags.insert("host".to_string(), host.clone());
            let points = (0..POINTS_PER_BATCH)
                .map(|i| {
                    let mut fields = Fields::new();
                    let v = ((tick * 31 + g * 7 + i * 13) % 100) as f64;
                    fields.insert("usage".to_string(), FieldValue::Float(v));
                    Point {
                        name: "cpu".to_string(),
                        tags: tags.clone(),
                        fields,
                        time: stop - 10 * S + i as i64 * S,
                    }
                })
                .collect();
            Batch {
                name: "cpu".to_string(),
                tags,
                time: stop,
                points,
            }
        })
        .collect()
}

fn main() {
    let ticks = arg("--ticks", 300);
    let groups = arg("--groups", 1_000);
    let hosts: Vec<String> = (0..groups).map(|g| format!("host{g:05}")).collect();
    let pipeline = tickscript::compile(SCRIPT, &tickscript::Vars::new()).expect("script compiles");
    let mut t = Task::new("bench", &pipeline, TaskContext::default()).expect("task builds");
    let q = t.queries()[0].node;

    let mut busy = Duration::ZERO;
    let mut cpu_ns = 0u64;
    let mut written = 0usize;
    for tick in 0..ticks {
        // Built outside the timed region, as the shell decodes them from InfluxDB's answer.
        let batches = make_batches(tick, &hosts);
        let start = Instant::now();
        let cpu0 = thread_cpu_ns();
        for b in batches {
            t.push_batch(q, b).expect("query node");
        }
        written += t
            .drain_influxdb_writes()
            .iter()
            .map(|w| w.points.len())
            .sum::<usize>();
        let _ = t.drain_alert_events();
        cpu_ns += thread_cpu_ns() - cpu0;
        busy += start.elapsed();
    }
    let points = ticks * groups * POINTS_PER_BATCH;
    let stats = t.stats();
    let errors: i64 = stats.nodes.iter().map(|n| n.errors).sum();
    println!(
        "batch task: query(groupBy host) -> where|mean|alert + influxDBOut, {groups} groups, {POINTS_PER_BATCH} points per batch"
    );
    println!(
        "batches: {}, points: {points}, wall: {:.3}s ({:.0} points/s), cpu: {:.3}s ({:.0} points per cpu-second), points to influxDBOut: {written}, node errors: {errors}",
        ticks * groups,
        busy.as_secs_f64(),
        points as f64 / busy.as_secs_f64(),
        cpu_ns as f64 / 1e9,
        points as f64 / (cpu_ns as f64 / 1e9)
    );
    for n in &stats.nodes {
        println!(
            "  {:<14} collected={:<9} emitted={:<9} avg_exec_time_ns={}",
            n.name, n.collected, n.emitted, n.avg_exec_time_ns
        );
    }
}
