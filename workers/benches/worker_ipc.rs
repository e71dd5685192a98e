//! One worker's delivery rate: points/s from apid's frames through the worker's data link,
//! decode and pipeline, measured on the worker's threads alone.
//!
//! ```sh
//! cargo bench -p kapacitor-workers --bench worker_ipc -- --script simple --points 2000000
//! cargo bench -p kapacitor-workers --bench worker_ipc -- --script issue5 --runs 3
//! ```
//!
//! In one process: a simulated apid on its own thread (a current-thread runtime, as the real
//! apid's router hands frames to a `Peer`) accepts the worker's connection on a Unix socket,
//! answers its start-up requests, then sends `Message::TaskBatch` frames ("kapacitor batch
//! v1" payloads) encoded before the clock starts, as apid's delivery sends them, and finally a request that the worker
//! answers only after its engine has run every point. The worker side is the production code:
//! the data link (`process_apid::run`) on a 2-thread runtime and the engine thread with the
//! real runner, mimalloc as the allocator (as in kapacitord).
//!
//! Reported: wall points/s, and points per CPU-second of the worker's threads (runtime
//! threads + engine thread, from /proc/self/task/*/schedstat), which is what "one worker on
//! one core" means and what a shared machine disturbs least.
//!
//! Scripts: `simple` = `from().measurement('cpu')|httpOut('x')`; `issue5` = the issue-5
//! pipeline of `tests/benches/pipeline_ipc.rs` (groupBy host, where, window 10s, mean, alert).
//! Points: `cpu,host=h<N>,region=r<N%4> usage_idle=..,usage_user=.. <t>` over 1,000 hosts, one
//! point per host per second, in frames of 5,000 (apid's frame for a 5,000-line body).

use bytes::Bytes;
use kapacitor_ipc::{Dbrp, Envelope, Hello, Message, PeerOptions, Role, TaskSpec, handshake};
use kapacitor_models::{FieldValue, Point};
use kapacitor_workers::bench_support::{Engine, Subscription, run_data_link};
use kapacitor_workers::{WorkerContext, engine_runner};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIMPLE: &str = "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('x')\n";
const ISSUE5: &str = "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |where(lambda: \"usage_idle\" >= 0.0)\n    |window()\n        .period(10s)\n        .every(10s)\n    |mean('usage_idle')\n    |alert()\n        .warn(lambda: \"mean\" < 20.0)\n        .crit(lambda: \"mean\" < 10.0)\n";
const HOSTS: usize = 1_000;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn point(i: usize) -> Point {
    let h = i % HOSTS;
    let t = 31_536_000 + (i / HOSTS) as i64;
    let idle = ((i * 7919) % 1000) as f64 / 10.0;
    Point {
        name: "cpu".into(),
        tags: [
            ("host".to_string(), format!("h{h}")),
            ("region".to_string(), format!("r{}", h % 4)),
        ]
        .into_iter()
        .collect(),
        fields: [
            ("usage_idle".to_string(), FieldValue::Float(idle)),
            ("usage_user".to_string(), FieldValue::Float(100.0 - idle)),
        ]
        .into_iter()
        .collect(),
        time: t * 1_000_000_000,
    }
}

fn frames(points: usize, per_frame: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points {
        let n = per_frame.min(points - i);
        let chunk: Vec<Point> = (i..i + n).map(point).collect();
        let payload = Bytes::from(kapacitor_models::encode_batch("bench", "autogen", &chunk));
        let env = Envelope {
            id: 0,
            reply_to: 0,
            msg: Message::TaskBatch {
                seq: out.len() as u64 + 1,
                payload,
            },
        };
        out.push(kapacitor_ipc::encode(&env).expect("encodes"));
        i += n;
    }
    out
}

/// CPU nanoseconds of this process's threads, by thread name.
fn cpu_by_thread() -> HashMap<(u64, String), u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let tid: u64 = e.file_name().to_string_lossy().parse().unwrap_or(0);
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        out.insert((tid, comm.trim().to_string()), ns);
    }
    out
}

/// CPU seconds spent between two snapshots by threads whose name starts with `prefix`.
fn cpu_spent(
    before: &HashMap<(u64, String), u64>,
    after: &HashMap<(u64, String), u64>,
    prefix: &str,
) -> f64 {
    after
        .iter()
        .filter(|((_, name), _)| name.starts_with(prefix))
        .map(|(k, ns)| ns - before.get(k).copied().unwrap_or(0))
        .sum::<u64>() as f64
        / 1e9
}

struct RunResult {
    wall: f64,
    rt_cpu: f64,
    engine_cpu: f64,
    collected: u64,
}

/// The simulated apid: accepts one worker, sends `frames`, waits for the worker to have run
/// them all. Returns the measurements.
fn apid_sim(listener: std::os::unix::net::UnixListener, frames: Vec<Bytes>) -> RunResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
        let (stream, _) = listener.accept().await.expect("accept");
        let (peer, mut inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
            .await
            .expect("handshake");
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            while let Some(inc) = inbox.recv().await {
                match inc.msg {
                    Message::AlertStatesRequest { .. } => {
                        let _ = inc.reply(Message::AlertStates { states: Vec::new() }).await;
                    }
                    Message::AlertScriptHandlers { .. } => {
                        // Sent right after Subscribe: the worker is ready for data.
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    _ => {}
                }
            }
        });
        subscribed_rx.await.expect("worker subscribed");

        let before = cpu_by_thread();
        let start = Instant::now();
        for f in frames {
            peer.send_frame(f).await.expect("frame sent");
        }
        // Answered by the engine after every point queued before it.
        peer.request_timeout(
            Message::HttpOutRequest {
                endpoint: "none".into(),
            },
            Duration::from_secs(3600),
        )
        .await
        .expect("worker answers");
        let wall = start.elapsed().as_secs_f64();
        let after = cpu_by_thread();
        let stats = match peer.request(Message::StatsRequest).await {
            Ok(Message::Stats { json }) => json,
            other => panic!("stats: {other:?}"),
        };
        let v: serde_json::Value = serde_json::from_str(&stats).expect("stats JSON");
        let collected = v["node-stats"]["from1"]["collected"].as_u64().unwrap_or(0);
        peer.close();
        RunResult {
            wall,
            rt_cpu: cpu_spent(&before, &after, "worker-rt"),
            engine_cpu: cpu_spent(&before, &after, "engine"),
            collected,
        }
    })
}

fn run_once(script: &str, frames: Vec<Bytes>, run: usize) -> RunResult {
    let path =
        std::env::temp_dir().join(format!("kapd-worker-ipc-{}-{run}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let sim = std::thread::Builder::new()
        .name("apid-sim".into())
        .spawn(move || apid_sim(listener, frames))
        .expect("thread");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("worker-rt")
        .enable_all()
        .build()
        .expect("runtime");
    let spec = TaskSpec {
        id: "bench".into(),
        task_type: "stream".into(),
        dbrps: vec![Dbrp {
            db: "bench".into(),
            rp: "autogen".into(),
        }],
        script: script.into(),
        vars_json: "{}".into(),
    };
    let result = rt.block_on(async {
        let engine = Engine::start(spec, WorkerContext::default(), engine_runner).expect("task");
        let cancel = CancellationToken::new();
        let link = tokio::spawn(run_data_link(
            path.clone(),
            "bench".into(),
            Subscription {
                dbrps: vec![],
                measurements: engine.measurements(),
            },
            engine.handle(),
            cancel.clone(),
        ));
        let result = tokio::task::spawn_blocking(move || sim.join().expect("apid sim"))
            .await
            .expect("join");
        cancel.cancel();
        let _ = link.await;
        engine.finish().await;
        result
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    let _ = std::fs::remove_file(&path);
    result
}

fn main() {
    let points: usize = arg("--points", 2_000_000);
    let per_frame: usize = arg("--frame", 5_000);
    let runs: usize = arg("--runs", 1);
    let which: String = arg("--script", "simple".to_string());
    let script = match which.as_str() {
        "simple" => SIMPLE,
        "issue5" => ISSUE5,
        other => {
            eprintln!("unknown --script {other} (simple, issue5)");
            std::process::exit(2);
        }
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "worker_ipc: script {which}, {points} points in frames of {per_frame}, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let encoded = frames(points, per_frame);
    let bytes: usize = encoded.iter().map(Bytes::len).sum();
    println!(
        "  {:.1} bytes per point on the wire",
        bytes as f64 / points as f64
    );
    for run in 0..runs {
        let r = run_once(script, encoded.clone(), run);
        let cpu = r.rt_cpu + r.engine_cpu;
        println!(
            "  run {run}: wall {:.3}s = {:.0} points/s; worker cpu {:.3}s (runtime {:.3}s, engine {:.3}s) = {:.0} points per cpu-second; from1 collected {}{}",
            r.wall,
            points as f64 / r.wall,
            cpu,
            r.rt_cpu,
            r.engine_cpu,
            points as f64 / cpu,
            r.collected,
            if r.collected == points as u64 {
                ""
            } else {
                " (MISSING POINTS)"
            }
        );
    }
}
