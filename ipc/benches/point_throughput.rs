//! Point-batch throughput between two processes over a socketpair, through the real `Peer`
//! (postcard + length-delimited frames + hello handshake), as apid → worker traffic flows.
//!
//! `cargo bench -p kapacitor-ipc --bench point_throughput [-- POINTS BATCH RUNS]`
//!
//! The parent re-executes this binary as the receiver with one end of a socketpair at fd 3
//! (as kapacitord does), sends `POINTS` points in `Points` batches of `BATCH`, then a request
//! the receiver answers once it has decoded everything before it. Each process runs a
//! current-thread runtime. Prints one line per run and the median.

use kapacitor_ipc::{Hello, Message, PeerOptions, Role, handshake, supervisor_stream};
use kapacitor_models::{FieldValue, Point};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD_ENV: &str = "IPC_BENCH_RECEIVER";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os(CHILD_ENV).is_some() {
        rt.block_on(receiver());
        return;
    }
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = nums.first().copied().unwrap_or(1_000_000);
    let batch = nums.get(1).copied().unwrap_or(1000);
    let runs = nums.get(2).copied().unwrap_or(5);
    let mut rates = Vec::new();
    for run in 1..=runs {
        let (elapsed, bytes) = rt.block_on(sender(total, batch));
        let rate = total as f64 / elapsed.as_secs_f64();
        println!(
            "run {run}: {total} points in batches of {batch}: {:.3} s, {:.2} M points/s, {:.0} MB/s",
            elapsed.as_secs_f64(),
            rate / 1e6,
            bytes as f64 / elapsed.as_secs_f64() / 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median of {runs}: {:.2} M points/s (batch {batch})",
        rates[rates.len() / 2] / 1e6
    );
    let (enc, dec) = codec_only(total, batch);
    println!(
        "same data without IO, one thread: encode {:.2} M points/s, decode {:.2} M points/s",
        enc / 1e6,
        dec / 1e6
    );
}

/// Encode and decode rates of the same envelopes with no socket in between.
fn codec_only(total: usize, batch: usize) -> (f64, f64) {
    let batches: Vec<Vec<Point>> = (0..total.div_ceil(batch))
        .map(|b| batch_of(batch.min(total - b * batch), (b * batch) as i64))
        .collect();
    let start = Instant::now();
    let frames: Vec<_> = batches
        .into_iter()
        .map(|points| {
            kapacitor_ipc::encode(&kapacitor_ipc::Envelope {
                id: 0,
                reply_to: 0,
                msg: Message::Points {
                    db: "telegraf".into(),
                    rp: "autogen".into(),
                    points,
                },
            })
            .unwrap()
        })
        .collect();
    let enc = total as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut n = 0;
    for f in &frames {
        if let Message::Points { points, .. } = kapacitor_ipc::decode_envelope(f).unwrap().msg {
            n += points.len();
        }
    }
    assert_eq!(n, total);
    (enc, total as f64 / start.elapsed().as_secs_f64())
}

fn batch_of(n: usize, start: i64) -> Vec<Point> {
    (0..n)
        .map(|i| {
            let i = start + i as i64;
            Point {
                name: "cpu".into(),
                tags: [
                    ("host".to_string(), format!("server{:02}", i % 64)),
                    ("region".to_string(), "us-west".to_string()),
                ]
                .into_iter()
                .collect(),
                fields: [
                    (
                        "usage_system".to_string(),
                        FieldValue::Float(i as f64 * 0.5),
                    ),
                    ("usage_user".to_string(), FieldValue::Float(i as f64 * 0.25)),
                ]
                .into_iter()
                .collect(),
                time: 1_700_000_000_000_000_000 + i,
            }
        })
        .collect()
}

async fn sender(total: usize, batch: usize) -> (Duration, usize) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let raw = theirs.as_raw_fd();
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(CHILD_ENV, "1").env(kapacitor_ipc::IPC_FD_ENV, "3");
    // SAFETY: only dup2/fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn receiver");
    drop(theirs);
    ours.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(ours).unwrap();
    let (peer, _inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
        .await
        .expect("handshake");

    // Build the batches up front: the clock measures encode + socket + decode only.
    let batches: Vec<Vec<Point>> = (0..total.div_ceil(batch))
        .map(|b| batch_of(batch.min(total - b * batch), (b * batch) as i64))
        .collect();
    let bytes: usize = batches
        .iter()
        .take(1)
        .map(|b| {
            kapacitor_ipc::encode(&Message::Points {
                db: "telegraf".into(),
                rp: "autogen".into(),
                points: b.clone(),
            })
            .unwrap()
            .len()
        })
        .sum::<usize>()
        * batches.len();

    let start = Instant::now();
    for points in batches {
        peer.send(Message::Points {
            db: "telegraf".into(),
            rp: "autogen".into(),
            points,
        })
        .await
        .expect("send");
    }
    let reply = peer
        .request_timeout(Message::StatsRequest, Duration::from_secs(600))
        .await
        .expect("final reply");
    let elapsed = start.elapsed();
    match reply {
        Message::Stats { json } => assert_eq!(json, total.to_string(), "receiver count"),
        other => panic!("unexpected reply {other:?}"),
    }
    peer.send(Message::Shutdown).await.ok();
    // Wait off the runtime thread: the writer task must still run to deliver the Shutdown.
    tokio::task::spawn_blocking(move || child.wait()).await.ok();
    (elapsed, bytes)
}

async fn receiver() {
    let stream = supervisor_stream().expect("fd 3");
    let (_peer, mut inbox) = handshake(
        stream,
        Hello::new(Role::Worker {
            task_id: "bench".into(),
        }),
        PeerOptions::default(),
    )
    .await
    .expect("handshake");
    let mut count = 0usize;
    while let Some(inc) = inbox.recv().await {
        match &inc.msg {
            Message::Points { points, .. } => count += points.len(),
            Message::StatsRequest => {
                inc.reply(Message::Stats {
                    json: count.to_string(),
                })
                .await
                .expect("reply");
            }
            Message::Shutdown => break,
            _ => {}
        }
    }
}
