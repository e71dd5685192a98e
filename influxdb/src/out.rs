//! influxDBOut: points of a task written back to InfluxDB through a bounded buffer,
//! flushed when a (db, rp) group reaches `buffer` points or every `flushInterval`, with
//! retries and backoff for a server that is down. Enqueueing never waits on the network.

use crate::client::Client;
use crate::error::Error;
use kapacitor_models::{Batch, Point, Precision, Tags};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a failed write is retried before its points are given up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The properties of an influxDBOut node.
#[derive(Debug, Clone, PartialEq)]
pub struct OutConfig {
    /// `.database()`; empty = the database the point came from (stream tasks).
    pub database: String,
    /// `.retentionPolicy()`; empty = the point's own, else the database's default.
    pub retention_policy: String,
    /// `.measurement()`; empty = the point's own name.
    pub measurement: String,
    pub write_consistency: String,
    pub precision: Precision,
    /// `.buffer()`: points of one (db, rp) that trigger a write (Kapacitor's default 1000).
    pub buffer: usize,
    /// `.flushInterval()` (default 10s).
    pub flush_interval: Duration,
    /// `.tag(k, v)`: added to every point, replacing a tag of the same key.
    pub tags: Tags,
    /// `.create()`: create the database (and retention policy) before the first write.
    pub create: bool,
    /// Points held at most while InfluxDB is slow or down; beyond it the oldest are
    /// dropped (and counted). Defaults to 10 × `buffer`.
    pub max_pending: usize,
    pub retry: RetryPolicy,
}

impl Default for OutConfig {
    fn default() -> Self {
        OutConfig {
            database: String::new(),
            retention_policy: String::new(),
            measurement: String::new(),
            write_consistency: String::new(),
            precision: Precision::Nanosecond,
            buffer: 1000,
            flush_interval: Duration::from_secs(10),
            tags: Tags::new(),
            create: false,
            max_pending: 10_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// Counters of an [`InfluxDbOut`] (`points_written` and `write_errors` are Kapacitor's node
/// statistics; `points_dropped` counts points given up on or pushed out of the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutStats {
    pub points_written: u64,
    pub write_errors: u64,
    pub points_dropped: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

type Group = (String, String);

#[derive(Default)]
struct State {
    groups: BTreeMap<Group, Vec<Point>>,
    pending: usize,
    closed: bool,
    flush_waiters: Vec<oneshot::Sender<()>>,
}

struct Shared {
    cfg: OutConfig,
    state: Mutex<State>,
    wake: Notify,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters more than losing the writer, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running influxDBOut writer. Dropping it stops accepting points; the points already
/// queued are still written by the background task.
pub struct InfluxDbOut {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl InfluxDbOut {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(client: Client, mut cfg: OutConfig) -> InfluxDbOut {
        cfg.buffer = cfg.buffer.max(1);
        cfg.max_pending = cfg.max_pending.max(cfg.buffer);
        cfg.retry.attempts = cfg.retry.attempts.max(1);
        if cfg.flush_interval.is_zero() {
            cfg.flush_interval = Duration::from_secs(10);
        }
        let shared = Arc::new(Shared {
            cfg,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            counters: Counters::default(),
        });
        let task = tokio::spawn(writer(client, shared.clone()));
        InfluxDbOut {
            shared,
            task: Some(task),
        }
    }

    fn transform(&self, mut p: Point) -> Point {
        let cfg = &self.shared.cfg;
        if !cfg.measurement.is_empty() {
            p.name.clone_from(&cfg.measurement);
        }
        for (k, v) in &cfg.tags {
            p.tags.insert(k.clone(), v.clone());
        }
        p
    }

    fn enqueue(&self, db: &str, rp: &str, points: impl IntoIterator<Item = Point>) {
        let cfg = &self.shared.cfg;
        let db = if cfg.database.is_empty() {
            db
        } else {
            &cfg.database
        };
        let rp = if cfg.retention_policy.is_empty() {
            rp
        } else {
            &cfg.retention_policy
        };
        let points: Vec<Point> = points.into_iter().map(|p| self.transform(p)).collect();
        if points.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        if st.closed {
            self.shared
                .counters
                .dropped
                .fetch_add(points.len() as u64, Ordering::Relaxed);
            return;
        }
        st.pending += points.len();
        let group = st
            .groups
            .entry((db.to_string(), rp.to_string()))
            .or_default();
        group.extend(points);
        let full = group.len() >= cfg.buffer;
        let mut dropped = 0;
        while st.pending > cfg.max_pending {
            // Shed the oldest points of the largest group.
            let excess = st.pending - cfg.max_pending;
            let Some(largest) = st
                .groups
                .iter_mut()
                .max_by_key(|(_, v)| v.len())
                .map(|(_, v)| v)
            else {
                break;
            };
            let n = excess.min(largest.len());
            largest.drain(..n);
            st.pending -= n;
            dropped += n;
        }
        st.groups.retain(|_, v| !v.is_empty());
        drop(st);
        if dropped > 0 {
            self.shared
                .counters
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Queues stream points that came from `db`.`rp` (used where the node has no
    /// `.database()`/`.retentionPolicy()`).
    pub fn write_points(&self, db: &str, rp: &str, points: impl IntoIterator<Item = Point>) {
        self.enqueue(db, rp, points);
    }

    /// Queues the points of a batch (batch tasks: database and RP come from the node).
    pub fn write_batch(&self, batch: &Batch) {
        self.enqueue("", "", batch.points.iter().cloned());
    }

    /// Writes everything queued now and waits until it was written or given up.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.shared.lock().flush_waiters.push(tx);
        self.shared.wake.notify_one();
        let _ = rx.await;
    }

    /// Flushes and stops the writer.
    pub async fn close(mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn stats(&self) -> OutStats {
        let c = &self.shared.counters;
        OutStats {
            points_written: c.written.load(Ordering::Relaxed),
            write_errors: c.errors.load(Ordering::Relaxed),
            points_dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Points queued and not yet handed to a write.
    pub fn pending(&self) -> usize {
        self.shared.lock().pending
    }
}

impl Drop for InfluxDbOut {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

async fn writer(client: Client, shared: Arc<Shared>) {
    let cfg = &shared.cfg;
    let mut next_flush = Instant::now() + cfg.flush_interval;
    let mut created: Vec<Group> = Vec::new();
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep_until(next_flush) => {}
        }
        let now = Instant::now();
        let (work, waiters, closed) = {
            let mut st = shared.lock();
            let all = now >= next_flush || !st.flush_waiters.is_empty() || st.closed;
            let keys: Vec<Group> = st
                .groups
                .iter()
                .filter(|(_, v)| all || v.len() >= cfg.buffer)
                .map(|(k, _)| k.clone())
                .collect();
            let mut work = Vec::with_capacity(keys.len());
            for k in keys {
                if let Some(v) = st.groups.remove(&k) {
                    st.pending -= v.len();
                    work.push((k, v));
                }
            }
            (work, std::mem::take(&mut st.flush_waiters), st.closed)
        };
        if now >= next_flush {
            next_flush = now + cfg.flush_interval;
        }
        for ((db, rp), points) in work {
            for chunk in points.chunks(cfg.buffer) {
                write_with_retries(&client, &shared, &mut created, &db, &rp, chunk).await;
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
        if closed && shared.lock().groups.is_empty() {
            return;
        }
    }
}

async fn write_with_retries(
    client: &Client,
    shared: &Shared,
    created: &mut Vec<Group>,
    db: &str,
    rp: &str,
    points: &[Point],
) {
    let cfg = &shared.cfg;
    let mut backoff = cfg.retry.initial_backoff;
    let mut last: Option<Error> = None;
    for attempt in 1..=cfg.retry.attempts {
        let group = (db.to_string(), rp.to_string());
        let res = async {
            if cfg.create && !created.contains(&group) {
                client.ensure_database(db, rp).await?;
                created.push(group.clone());
            }
            client
                .write(db, rp, cfg.precision, &cfg.write_consistency, points)
                .await
        }
        .await;
        match res {
            Ok(()) => {
                shared
                    .counters
                    .written
                    .fetch_add(points.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                let retry = e.is_retryable() && attempt < cfg.retry.attempts;
                tracing::warn!(db = %db, rp = %rp, attempt, error = %e, retry, "influxDBOut write failed");
                last = Some(e);
                if !retry {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.retry.max_backoff);
            }
        }
    }
    shared.counters.errors.fetch_add(1, Ordering::Relaxed);
    shared
        .counters
        .dropped
        .fetch_add(points.len() as u64, Ordering::Relaxed);
    if let Some(e) = last {
        tracing::error!(db = %db, rp = %rp, points = points.len(), error = %e, "influxDBOut gave up on points");
    }
}
