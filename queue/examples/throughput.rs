//! Rough push + next + ack throughput of one queue with 1 MiB payloads: in memory, written
//! through to disk, and a backlog spilled to disk then drained.
//!
//! `cargo run --release -p kapacitor-queue --example throughput [batches]`

use bytes::Bytes;
use kapacitor_queue::{MemoryBudget, Queue, QueueLimits};
use std::time::Instant;

const MIB: u64 = 1 << 20;

fn main() {
    let batches: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let root = tempfile::tempdir().expect("temp dir");
    let payload = Bytes::from(vec![7u8; MIB as usize]);

    let run = |name: &str, limits: QueueLimits, backlog: bool| {
        let q = Queue::open(root.path(), name, limits, MemoryBudget::unlimited()).unwrap();
        let start = Instant::now();
        if backlog {
            for _ in 0..batches {
                q.push(payload.clone(), 1000).unwrap();
            }
            let pushed = start.elapsed();
            let mut n = 0;
            while let Some(d) = q.next().unwrap() {
                q.ack(d.seq).unwrap();
                n += 1;
            }
            assert_eq!(n, batches);
            let all = start.elapsed();
            println!(
                "{name:<28} push {:>7.0} MiB/s, then next+ack {:>7.0} MiB/s ({} spilled)",
                batches as f64 / pushed.as_secs_f64(),
                batches as f64 / (all - pushed).as_secs_f64(),
                q.stats().spilled_batches,
            );
        } else {
            for _ in 0..batches {
                q.push(payload.clone(), 1000).unwrap();
                let d = q.next().unwrap().unwrap();
                q.ack(d.seq).unwrap();
            }
            println!(
                "{name:<28} push+next+ack {:>7.0} MiB/s ({} spilled)",
                batches as f64 / start.elapsed().as_secs_f64(),
                q.stats().spilled_batches,
            );
        }
        q.destroy().unwrap();
    };
    let disk = 4 * batches * MIB;
    run(
        "memory",
        QueueLimits {
            memory_bytes: 64 * MIB,
            disk_bytes: 0,
            segment_bytes: 16 * MIB,
        },
        false,
    );
    run(
        "disk (write-through)",
        QueueLimits {
            memory_bytes: 0,
            disk_bytes: disk,
            segment_bytes: 16 * MIB,
        },
        false,
    );
    run(
        "backlog (32 MiB mem, spill)",
        QueueLimits {
            memory_bytes: 32 * MIB,
            disk_bytes: disk,
            segment_bytes: 16 * MIB,
        },
        true,
    );
}
