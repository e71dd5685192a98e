//! Committing a write to its tasks' queues: all or nothing, with backpressure.
//!
//! A write is first encoded whole ([`PendingWrite`], filled by
//! [`crate::Registry::encode_write`] chunk by chunk: about the size of the body), then room
//! is reserved for every batch on every target queue. Only when every reservation succeeded
//! is anything committed, so a write that cannot be taken is applied to no task. While a
//! target is full in memory and on disk, the write waits (woken when any queue frees room,
//! and every [`RESERVE_POLL`] for room freed in the shared memory budget) up to `[queue]
//! write-timeout`, then fails with [`WriteError::Full`] naming the tasks (HTTP 503 with
//! `Retry-After`). Nothing blocks a runtime thread: commits that write to disk run on the
//! blocking pool.
//!
//! Invariant: a write answered 2xx was committed by every target queue.

use crate::delivery::Feed;
use crate::registry::{EncodedBatch, Registry, Target};
use axum::body::Bytes;
use axum::http::StatusCode;
use kapacitor_queue::{BATCH_OVERHEAD, QueueError, Reservation, Tier};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting write looks again without a wake-up (room freed in the shared memory
/// budget by another queue does not signal).
const RESERVE_POLL: Duration = Duration::from_millis(50);

/// The encoded batches of one write and the tasks each goes to, not queued yet.
#[derive(Default)]
pub struct PendingWrite {
    groups: Vec<(Vec<Target>, Vec<EncodedBatch>)>,
    oversized: Option<usize>,
}

impl PendingWrite {
    pub(crate) fn add(&mut self, targets: Vec<Target>, batches: Vec<EncodedBatch>) {
        if !targets.is_empty() && !batches.is_empty() {
            self.groups.push((targets, batches));
        }
    }

    pub(crate) fn oversized(&mut self, bytes: usize) {
        self.oversized = Some(self.oversized.map_or(bytes, |b| b.max(bytes)));
    }

    /// Whether there is nothing to queue.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.oversized.is_none()
    }

    /// Encoded bytes held (each shared batch once).
    pub fn bytes(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|(_, b)| b)
            .map(|b| b.payload.len())
            .sum()
    }
}

/// Why a write was not (entirely) queued.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Applied to no task.
    #[error(
        "the queue of task {} is full (memory and disk) after waiting {}; nothing was written, retry later",
        .tasks.join(", task "),
        humantime::format_duration(*.waited)
    )]
    Full {
        tasks: Vec<String>,
        waited: Duration,
    },
    /// Applied to no task.
    #[error(
        "the write is larger ({bytes} bytes encoded) than the queue of task {task} can ever hold ({capacity} bytes in memory and on disk)"
    )]
    TooLarge {
        task: String,
        bytes: u64,
        capacity: u64,
    },
    /// Applied to no task.
    #[error("a point is {0} bytes encoded, larger than a batch may be")]
    PointTooLarge(usize),
    /// A disk error: the tasks named did not get (all of) the write; the others did.
    #[error("{}", .failures.iter().map(|(t, e)| format!("the queue of task {t} failed: {e}")).collect::<Vec<_>>().join("; "))]
    Queue {
        failures: Vec<(String, String)>,
        no_space: bool,
    },
}

impl WriteError {
    /// 503 (full: retry), 413 (never fits), 507 (no space on disk), 500 (other disk error).
    pub fn status(&self) -> StatusCode {
        match self {
            WriteError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WriteError::TooLarge { .. } | WriteError::PointTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            WriteError::Queue { no_space: true, .. } => StatusCode::INSUFFICIENT_STORAGE,
            WriteError::Queue { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the same write may succeed later (full queue, disk error) rather than never.
    pub fn is_transient(&self) -> bool {
        matches!(self, WriteError::Full { .. } | WriteError::Queue { .. })
    }
}

/// A reservation and what it is for.
struct Held {
    reservation: Reservation,
    payload: Bytes,
    points: u32,
    feed: Arc<Feed>,
}

enum ReserveError {
    Full(BTreeSet<String>),
    Fatal(WriteError),
}

/// Queues `w` on every target, waiting up to `timeout` for room. See the module docs.
pub async fn commit(reg: &Registry, w: PendingWrite, timeout: Duration) -> Result<(), WriteError> {
    if let Some(bytes) = w.oversized {
        return Err(WriteError::PointTooLarge(bytes));
    }
    if w.groups.is_empty() {
        return Ok(());
    }
    check_targets(&w, reg.queue_settings().budget.limit())?;
    let deadline = Instant::now() + timeout;
    let mut waited: HashSet<String> = HashSet::new();
    let held = loop {
        let room = reg.room().notified();
        tokio::pin!(room);
        room.as_mut().enable();
        match reserve_all(&w) {
            Ok(h) => break h,
            Err(ReserveError::Fatal(e)) => return Err(e),
            Err(ReserveError::Full(tasks)) => {
                for t in &tasks {
                    if waited.insert(t.clone())
                        && let Some(f) = find_feed(&w, t)
                    {
                        f.counters().write_waits.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let now = Instant::now();
                if now >= deadline {
                    for t in &tasks {
                        if let Some(f) = find_feed(&w, t) {
                            f.counters().writes_refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    return Err(WriteError::Full {
                        tasks: tasks.into_iter().collect(),
                        waited: timeout,
                    });
                }
                let nap = (deadline - now).min(RESERVE_POLL);
                tokio::select! {
                    _ = &mut room => {}
                    _ = tokio::time::sleep(nap) => {}
                }
            }
        }
    };
    drop(w);
    let to_disk = held.iter().any(|h| h.reservation.tier() == Tier::Disk);
    let failures = if to_disk {
        tokio::task::spawn_blocking(move || commit_all(held))
            .await
            .unwrap_or_else(|e| vec![("?".to_string(), QueueErrorText::from_join(e))])
    } else {
        commit_all(held)
    };
    if failures.is_empty() {
        return Ok(());
    }
    let no_space = failures.iter().any(|(_, e)| e.no_space);
    Err(WriteError::Queue {
        failures: failures.into_iter().map(|(t, e)| (t, e.text)).collect(),
        no_space,
    })
}

/// A commit failure as text (the queue error itself stays with the queue).
struct QueueErrorText {
    text: String,
    no_space: bool,
}

impl QueueErrorText {
    fn from_join(e: tokio::task::JoinError) -> QueueErrorText {
        QueueErrorText {
            text: format!("commit task failed: {e}"),
            no_space: false,
        }
    }
}

/// Refuses at once what can never succeed: a target whose queue could not be opened, and a
/// write larger than a target's queue can hold at all.
fn check_targets(w: &PendingWrite, budget: u64) -> Result<(), WriteError> {
    let mut per_task: HashMap<&str, (u64, &Arc<Feed>)> = HashMap::new();
    let mut broken = Vec::new();
    for (targets, batches) in &w.groups {
        let bytes: u64 = batches
            .iter()
            .map(|b| b.payload.len() as u64 + BATCH_OVERHEAD)
            .sum();
        for t in targets {
            match t {
                Target::Queue(f) => per_task.entry(f.task_id()).or_insert((0, f)).0 += bytes,
                Target::Broken { task, error } => broken.push((task.clone(), error.clone())),
            }
        }
    }
    if !broken.is_empty() {
        broken.sort();
        broken.dedup();
        return Err(WriteError::Queue {
            failures: broken,
            no_space: false,
        });
    }
    for (task, (bytes, f)) in per_task {
        let limits = f.queue().limits();
        let capacity = limits
            .memory_bytes
            .min(budget)
            .saturating_add(limits.disk_bytes);
        if bytes > capacity {
            return Err(WriteError::TooLarge {
                task: task.to_string(),
                bytes,
                capacity,
            });
        }
    }
    Ok(())
}

fn find_feed<'a>(w: &'a PendingWrite, task: &str) -> Option<&'a Arc<Feed>> {
    w.groups.iter().flat_map(|(t, _)| t).find_map(|t| match t {
        Target::Queue(f) if f.task_id() == task => Some(f),
        _ => None,
    })
}

/// Reserves room for every batch on every target, or nothing (every reservation taken is
/// released when one target is full). A target whose queue was destroyed meanwhile (the task
/// was deleted) is left out.
fn reserve_all(w: &PendingWrite) -> Result<Vec<Held>, ReserveError> {
    let mut held = Vec::new();
    let mut full = BTreeSet::new();
    for (targets, batches) in &w.groups {
        for t in targets {
            let Target::Queue(f) = t else { continue };
            if full.contains(f.task_id()) {
                continue;
            }
            for b in batches {
                match f.queue().reserve(b.payload.len()) {
                    Ok(reservation) => held.push(Held {
                        reservation,
                        payload: b.payload.clone(),
                        points: b.points,
                        feed: f.clone(),
                    }),
                    Err(QueueError::Full { .. }) => {
                        full.insert(f.task_id().to_string());
                        break;
                    }
                    Err(QueueError::Destroyed) => break,
                    Err(QueueError::TooLarge {
                        bytes,
                        memory_limit,
                        disk_limit,
                    }) => {
                        return Err(ReserveError::Fatal(WriteError::TooLarge {
                            task: f.task_id().to_string(),
                            bytes,
                            capacity: memory_limit.max(disk_limit),
                        }));
                    }
                    Err(e) => {
                        return Err(ReserveError::Fatal(WriteError::Queue {
                            failures: vec![(f.task_id().to_string(), e.to_string())],
                            no_space: e.is_no_space(),
                        }));
                    }
                }
            }
        }
    }
    if full.is_empty() {
        Ok(held)
    } else {
        Err(ReserveError::Full(full))
    }
}

/// Commits every reservation in order; after a failure on a task, the rest of that task's
/// batches are released rather than committed after a hole.
fn commit_all(held: Vec<Held>) -> Vec<(String, QueueErrorText)> {
    let mut failed: BTreeMap<String, QueueErrorText> = BTreeMap::new();
    for h in held {
        if failed.contains_key(h.feed.task_id()) {
            continue;
        }
        match h.reservation.commit(h.payload, h.points) {
            Ok(_) => {
                h.feed
                    .counters()
                    .points_queued
                    .fetch_add(u64::from(h.points), Ordering::Relaxed);
            }
            Err(QueueError::Destroyed) => {}
            Err(e) => {
                tracing::error!(task = h.feed.task_id(), error = %e, "a write could not be queued for a task");
                failed.insert(
                    h.feed.task_id().to_string(),
                    QueueErrorText {
                        text: e.to_string(),
                        no_space: e.is_no_space(),
                    },
                );
            }
        }
    }
    failed.into_iter().collect()
}
