//! Shared pieces of the black-box benchmarks: line-protocol bodies, concurrent writers, task
//! setup and stats through the HTTP API, and a small argument parser.

#![allow(dead_code)] // each bench binary uses a different subset

use kapacitor_tests::Daemon;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `--name value` from the command line (after cargo's own `--bench`), else `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == &format!("--{name}"))
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A comma-separated list argument, e.g. `--tasks 1,10,100`.
pub fn list_arg(name: &str, default: &[usize]) -> Vec<usize> {
    let s: String = arg(name, String::new());
    if s.is_empty() {
        return default.to_vec();
    }
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

/// `cpu,host=h<i>,region=r<i%4> usage_idle=<f>,usage_user=<f> <ts>` lines: `hosts` hosts per
/// second starting at `start_s`, `lines` lines in all.
pub fn cpu_body(hosts: usize, host_offset: usize, start_s: i64, lines: usize) -> String {
    let mut s = String::with_capacity(lines * 80);
    for i in 0..lines {
        let h = host_offset + i % hosts;
        let t = start_s + (i / hosts) as i64;
        let idle = ((i * 7919) % 1000) as f64 / 10.0;
        s.push_str(&format!(
            "cpu,host=h{h},region=r{} usage_idle={idle},usage_user={} {t}\n",
            h % 4,
            100.0 - idle
        ));
    }
    s
}

/// What a set of writers achieved.
#[derive(Debug, Clone, Copy)]
pub struct WriteResult {
    pub points: u64,
    pub requests: u64,
    pub failures: u64,
    pub elapsed: Duration,
}

impl WriteResult {
    pub fn points_per_s(&self) -> f64 {
        self.points as f64 / self.elapsed.as_secs_f64()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One POST; true on 204.
pub fn post_body(agent: &ureq::Agent, url: &str, body: &str) -> bool {
    agent
        .post(url)
        .send(body)
        .map(|r| r.status().as_u16() == 204)
        .unwrap_or(false)
}

/// Each writer thread posts its bodies in a loop (cycling) to `url` until `duration` passes;
/// `lines_per_body` is counted for every 204.
pub fn run_writers(
    url: &str,
    bodies: Vec<Vec<String>>,
    lines_per_body: u64,
    duration: Duration,
) -> WriteResult {
    let points = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    std::thread::scope(|s| {
        for mine in &bodies {
            let (points, requests, failures) = (&points, &requests, &failures);
            s.spawn(move || {
                let agent = agent();
                for body in mine.iter().cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                    if post_body(&agent, url, body) {
                        points.fetch_add(lines_per_body, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    WriteResult {
        points: points.load(Ordering::Relaxed),
        requests: requests.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

/// Each writer posts each of its bodies once, in order; returns when all are sent.
pub fn send_all_once(url: &str, bodies: &[Vec<String>], lines_per_body: u64) -> WriteResult {
    let points = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let requests = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for mine in bodies {
            let (points, requests, failures) = (&points, &requests, &failures);
            s.spawn(move || {
                let agent = agent();
                for body in mine {
                    requests.fetch_add(1, Ordering::Relaxed);
                    if post_body(&agent, url, body) {
                        points.fetch_add(lines_per_body, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    WriteResult {
        points: points.into_inner(),
        requests: requests.into_inner(),
        failures: failures.into_inner(),
        elapsed: start.elapsed(),
    }
}

/// Creates an enabled stream task on `db`.`rp`; panics with the server's answer on failure.
pub fn create_task(d: &Daemon, id: &str, script: &str, db: &str, rp: &str) {
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({"id": id, "type": "stream", "dbrps": [{"db": db, "rp": rp}],
                "script": script, "status": "enabled"}),
    );
    assert_eq!(r.status, 200, "creating {id}: {}", r.body);
}

/// `collected` of `node` in the task's stats (0 when not executing / not reported).
pub fn node_collected(d: &Daemon, id: &str, node: &str) -> u64 {
    let Some(r) = d.try_get(&format!("/kapacitor/v1/tasks/{id}")) else {
        return 0;
    };
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    v["stats"]["node-stats"][node]["collected"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until the sum over `ids` of `node`'s collected count reaches `target` or stops
/// moving for `stall`; returns the last sum and when it was first reached.
pub fn wait_collected(
    d: &Daemon,
    ids: &[String],
    node: &str,
    target: u64,
    stall: Duration,
) -> (u64, Instant) {
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let sum: u64 = ids.iter().map(|id| node_collected(d, id, node)).sum();
        if sum != last {
            last = sum;
            last_change = Instant::now();
        }
        if sum >= target || last_change.elapsed() > stall {
            return (last, last_change);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every task in `ids` reports `executing: true`.
pub fn wait_executing(d: &Daemon, ids: &[String]) {
    for id in ids {
        kapacitor_tests::eventually(Duration::from_secs(120), &format!("{id} executing"), || {
            (d.task(id)["executing"] == Value::Bool(true)).then_some(())
        });
    }
}

/// Machine line for the report: CPU model, cores, load average.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// A background writer of small bodies, for "is it processing" checks.
pub struct Trickle {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Trickle {
    pub fn start(url: String, every: Duration) -> Trickle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let agent = agent();
            let mut t = 1_000_000_000i64;
            while !flag.load(Ordering::Relaxed) {
                let body = cpu_body(10, 0, t, 10);
                t += 1;
                let _ = post_body(&agent, &url, &body);
                std::thread::sleep(every);
            }
        });
        Trickle {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}
