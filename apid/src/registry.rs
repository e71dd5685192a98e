//! Task workers by task id (their data and control links), what each task subscribed to
//! (dbrps and `from()` measurements), and each subscribed task's durable queue.
//!
//! apid owns one queue per subscribed task ([`crate::delivery::Feed`], under `[queue] dir`,
//! see [`crate::task_queues`]). A write is encoded once per group of tasks with the same
//! measurement filter ("kapacitor batch v1", batches of at most [`POINTS_PER_FRAME`] points),
//! and the same `Bytes` go to the queue of every task of the group: fan-out costs a
//! reference count per task, not a copy and an encode. [`Registry::encode_write`] only
//! encodes; [`crate::enqueue::commit`] reserves room on every target queue, waiting for it
//! within `[queue] write-timeout`, then commits, so a write is applied to every task or to
//! none. Nothing is dropped on the way: a batch leaves a queue only when the task's worker
//! acknowledged it.
//!
//! A subscription (and its queue) outlives its connection: while a task's worker restarts,
//! its batches wait in the queue. The task API forgets a task when it is deleted, disabled
//! or renamed, and its queue is destroyed.
//!
//! Each worker also dials a control link (`Role::WorkerControl`). Every request apid makes to
//! a worker ([`Registry::request`]: stats, DOT, httpOut reads, sideload reload) goes over it,
//! never behind the batches on the data link; only a replay's drain barrier, which must
//! follow the data, uses the data link ([`Registry::peer`]).

use crate::delivery::Feed;
use crate::enqueue::{PendingWrite, WriteError};
use crate::task_queues::QueueSettings;
use axum::body::Bytes;
use kapacitor_ipc::{Dbrp, IpcError, MAX_FRAME_LEN, Message, Peer};
use kapacitor_models::{EncodePoint, Point, PointRef, encode_batch};
use kapacitor_queue::{Queue, QueueStats};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

/// Points per queued batch when a write is split for the tasks.
pub const POINTS_PER_FRAME: usize = 10_000;

/// The largest batch payload: a `TaskBatch` frame must stay under the IPC frame limit.
const MAX_BATCH_BYTES: usize = MAX_FRAME_LEN / 2;

/// How long a background probe of a silent worker waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A point that can be routed: it names its measurement and encodes as a batch point.
pub trait Routable: EncodePoint {
    fn measurement(&self) -> &str;
    /// An owned copy (stream recordings write it as line protocol).
    fn to_point(&self) -> Point;
}

impl Routable for Point {
    fn measurement(&self) -> &str {
        &self.name
    }
    fn to_point(&self) -> Point {
        self.clone()
    }
}

impl Routable for PointRef<'_> {
    fn measurement(&self) -> &str {
        &self.name
    }
    fn to_point(&self) -> Point {
        PointRef::to_point(self)
    }
}

impl<P: Routable> Routable for &P {
    fn measurement(&self) -> &str {
        (**self).measurement()
    }
    fn to_point(&self) -> Point {
        (**self).to_point()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("task {0} has no running worker")]
    NotConnected(String),
    #[error(transparent)]
    Ipc(IpcError),
}

impl RequestError {
    /// The worker is connected but did not answer in time (stopped, stuck, or busy).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RequestError::Ipc(IpcError::Timeout(_)))
    }
}

/// A worker's control link.
struct Control {
    conn: u64,
    peer: Peer,
    health: Arc<Health>,
}

/// Whether a worker answers its control link; a list of tasks does not wait for one that
/// did not.
#[derive(Default)]
struct Health {
    /// The last request timed out and nothing was answered since.
    silent: AtomicBool,
    /// A background probe is asking it.
    probing: AtomicBool,
}

/// A worker's data link.
struct Link {
    conn: u64,
    peer: Peer,
}

/// What a worker asked to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub dbrps: Vec<Dbrp>,
    /// `None`: every measurement of the dbrps.
    pub measurements: Option<HashSet<String>>,
}

impl Subscription {
    /// Whether any write can match it (a replay's or a batch task's worker subscribes to
    /// nothing: it gets no queue).
    pub fn takes_points(&self) -> bool {
        !self.dbrps.is_empty() && self.measurements.as_ref().is_none_or(|m| !m.is_empty())
    }
}

/// Per-task counters; they live as long as the task's subscription.
#[derive(Debug, Default)]
pub struct TaskCounters {
    /// Points committed to the task's queue (every write answered 2xx counted them).
    pub points_queued: AtomicU64,
    /// Points sent to the worker (again after a reconnect: see `points_redelivered`).
    pub points_sent: AtomicU64,
    /// Points of batches the worker acknowledged (each batch counted once).
    pub points_acked: AtomicU64,
    /// Points sent again to a new worker connection because the previous one had not
    /// acknowledged them: an upper bound of the duplicates the task saw.
    pub points_redelivered: AtomicU64,
    /// Writes that had to wait for room in this task's queue.
    pub write_waits: AtomicU64,
    /// Writes refused (HTTP 503, or a loopback write told to retry) because this task's
    /// queue stayed full for `[queue] write-timeout`.
    pub writes_refused: AtomicU64,
    /// Points of InfluxDB UDP subscriptions given up after waiting `[queue] write-timeout`
    /// for room (UDP cannot be refused). Nothing else is ever dropped.
    pub points_dropped: AtomicU64,
}

/// A snapshot of one task's counters and queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCount {
    pub task_id: String,
    pub points_queued: u64,
    pub points_sent: u64,
    pub points_acked: u64,
    pub points_redelivered: u64,
    pub write_waits: u64,
    pub writes_refused: u64,
    pub points_dropped: u64,
    /// `None` when the task has no queue (it subscribed to nothing).
    pub queue: Option<QueueStats>,
}

impl TaskCount {
    fn of(task_id: &str, c: &TaskCounters, queue: Option<QueueStats>) -> TaskCount {
        TaskCount {
            task_id: task_id.to_string(),
            points_queued: c.points_queued.load(Ordering::Relaxed),
            points_sent: c.points_sent.load(Ordering::Relaxed),
            points_acked: c.points_acked.load(Ordering::Relaxed),
            points_redelivered: c.points_redelivered.load(Ordering::Relaxed),
            write_waits: c.write_waits.load(Ordering::Relaxed),
            writes_refused: c.writes_refused.load(Ordering::Relaxed),
            points_dropped: c.points_dropped.load(Ordering::Relaxed),
            queue,
        }
    }

    /// The counters as the extra keys of a task's `task-stats` and of its `task_ingress`
    /// entry in `/debug/vars`.
    pub fn json_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let q = self.queue.clone().unwrap_or_default();
        let fields = json!({
            "points_queued": self.points_queued,
            "points_sent": self.points_sent,
            "points_acked": self.points_acked,
            "points_redelivered": self.points_redelivered,
            "points_dropped": self.points_dropped,
            "write_waits": self.write_waits,
            "writes_refused": self.writes_refused,
            "queue_memory_batches": q.memory_batches,
            "queue_memory_bytes": q.memory_bytes,
            "queue_disk_batches": q.disk_batches,
            "queue_disk_bytes": q.disk_bytes,
            "queue_spilled_batches": q.spilled_batches,
            "queue_spilled_bytes": q.spilled_bytes,
            "queue_in_flight_batches": q.in_flight_batches,
            "queue_in_flight_bytes": q.in_flight_bytes,
        });
        match fields {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }
}

/// One task's subscription, counters and queue.
struct TaskEntry {
    sub: Option<Subscription>,
    counters: Arc<TaskCounters>,
    feed: Option<Arc<Feed>>,
    /// Why the task's queue could not be opened: its writes fail (500) instead of vanishing.
    broken: Option<String>,
}

#[derive(Default)]
struct Subs {
    by_task: HashMap<String, TaskEntry>,
    /// (db, rp) → tasks subscribed to it.
    index: HashMap<Dbrp, Vec<String>>,
}

impl Subs {
    fn rebuild_index(&mut self) {
        self.index.clear();
        for (task, e) in &self.by_task {
            for d in e.sub.iter().flat_map(|s| &s.dbrps) {
                self.index.entry(d.clone()).or_default().push(task.clone());
            }
        }
    }
}

/// A task a write goes to.
#[derive(Clone)]
pub(crate) enum Target {
    Queue(Arc<Feed>),
    /// Subscribed, but its queue could not be opened.
    Broken {
        task: String,
        error: String,
    },
}

#[derive(Clone)]
pub struct Registry {
    links: Arc<Mutex<HashMap<String, Link>>>,
    controls: Arc<Mutex<HashMap<String, Control>>>,
    subs: Arc<Mutex<Subs>>,
    next_conn: Arc<AtomicU64>,
    queues: Arc<QueueSettings>,
    /// Told whenever room is freed in any queue (writers waiting for room listen).
    room: Arc<Notify>,
}

impl Registry {
    pub fn new(queues: QueueSettings) -> Registry {
        Registry {
            links: Arc::default(),
            controls: Arc::default(),
            subs: Arc::default(),
            next_conn: Arc::default(),
            queues: Arc::new(queues),
            room: Arc::new(Notify::new()),
        }
    }

    pub fn queue_settings(&self) -> &QueueSettings {
        &self.queues
    }

    pub(crate) fn room(&self) -> &Arc<Notify> {
        &self.room
    }

    /// Adds (or replaces, after a worker restart) the data link of `task_id`. Returns a
    /// connection number for [`Registry::unregister`] (so that a stale connection closing
    /// late does not remove its successor), [`Registry::subscribe`] and [`Registry::ack`].
    pub fn register(&self, task_id: &str, peer: Peer) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(old) = self.lock().insert(task_id.to_string(), Link { conn, peer }) {
            old.peer.close();
        }
        info!(task = task_id, "task worker connected");
        conn
    }

    pub fn unregister(&self, task_id: &str, conn: u64) {
        let mut links = self.lock();
        if links.get(task_id).is_some_and(|l| l.conn == conn) {
            links.remove(task_id);
            info!(task = task_id, "task worker disconnected");
        }
    }

    /// Records what the worker of `task_id` (data link `conn`) wants routed to it, opening
    /// the task's queue (and persisting the subscription beside it) if it can take points,
    /// then starts delivering the queue to that connection: every batch not acknowledged
    /// by an earlier connection is sent again. Counters carry over.
    pub async fn subscribe(&self, task_id: &str, conn: u64, sub: Subscription) {
        debug!(task = task_id, dbrps = ?sub.dbrps, measurements = ?sub.measurements, "worker subscribed");
        let (feed, counters, old_sub) = {
            let subs = self.lock_subs();
            match subs.by_task.get(task_id) {
                Some(e) => (e.feed.clone(), e.counters.clone(), e.sub.clone()),
                None => (None, Arc::default(), None),
            }
        };
        let mut broken = None;
        let feed = match feed {
            Some(f) => Some(f),
            None if sub.takes_points() => {
                let settings = self.queues.clone();
                let task = task_id.to_string();
                match tokio::task::spawn_blocking(move || settings.open(&task)).await {
                    Ok(Ok(q)) => Some(Feed::new(q, counters.clone(), self.room.clone())),
                    Ok(Err(e)) => {
                        error!(task = task_id, error = %e, "the task's queue cannot be opened; its writes fail");
                        broken = Some(e.to_string());
                        None
                    }
                    Err(e) => {
                        broken = Some(e.to_string());
                        None
                    }
                }
            }
            None => None,
        };
        if let Some(f) = &feed
            && old_sub.as_ref() != Some(&sub)
        {
            let dir = f.queue().dir().to_path_buf();
            let s = sub.clone();
            let saved = tokio::task::spawn_blocking(move || {
                crate::task_queues::save_subscription(&dir, &s)
            })
            .await;
            if let Ok(Err(e)) = saved {
                // Only a restart before the worker subscribes again misses it.
                warn!(task = task_id, error = %e, "the task's subscription could not be saved beside its queue");
            }
        }
        {
            let mut subs = self.lock_subs();
            subs.by_task.insert(
                task_id.to_string(),
                TaskEntry {
                    sub: Some(sub),
                    counters,
                    feed: feed.clone(),
                    broken,
                },
            );
            subs.rebuild_index();
        }
        let peer = self
            .lock()
            .get(task_id)
            .filter(|l| l.conn == conn)
            .map(|l| l.peer.clone());
        if let (Some(f), Some(peer)) = (feed, peer) {
            f.attach(conn, peer);
        }
    }

    /// A queue found at apid's start, with the subscription saved beside it (if any): writes
    /// for the task are queued from now on, before its worker connects.
    pub fn restore(&self, task_id: &str, sub: Option<Subscription>, queue: Queue) {
        let counters = Arc::new(TaskCounters::default());
        let feed = Feed::new(queue, counters.clone(), self.room.clone());
        let mut subs = self.lock_subs();
        subs.by_task.insert(
            task_id.to_string(),
            TaskEntry {
                sub,
                counters,
                feed: Some(feed),
                broken: None,
            },
        );
        subs.rebuild_index();
    }

    /// The worker of `task_id` processed every batch up to `seq` it received on data link
    /// `conn` (ignored for a connection that is not the current one).
    pub async fn ack(&self, task_id: &str, conn: u64, seq: u64) {
        let Some(feed) = self.feed(task_id) else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || feed.ack(conn, seq)).await;
    }

    fn feed(&self, task_id: &str) -> Option<Arc<Feed>> {
        self.lock_subs()
            .by_task
            .get(task_id)
            .and_then(|e| e.feed.clone())
    }

    /// Stops routing to `task_id`, drops its counters and destroys its queue with whatever it
    /// held (task deleted, disabled, renamed).
    pub fn forget(&self, task_id: &str) {
        let removed = {
            let mut subs = self.lock_subs();
            let e = subs.by_task.remove(task_id);
            if e.is_some() {
                subs.rebuild_index();
            }
            e
        };
        if let Some(feed) = removed.and_then(|e| e.feed) {
            feed.destroy();
            info!(task = task_id, "task queue removed");
        }
    }

    /// Encodes the points of one write (or one chunk of it) for every task subscribed to
    /// (`db`, `rp`) whose measurement filter matches, in batches of at most
    /// [`POINTS_PER_FRAME`] points, and adds them to `out`. Tasks with the same filter share
    /// the same encoded batches. Nothing is queued yet: see [`crate::enqueue::commit`].
    pub fn encode_write<P: Routable>(
        &self,
        db: &str,
        rp: &str,
        points: &[P],
        out: &mut PendingWrite,
    ) {
        if points.is_empty() {
            return;
        }
        crate::recordings::tee(db, rp, points);
        let key = Dbrp {
            db: db.to_string(),
            rp: rp.to_string(),
        };
        // Measurement filter (sorted; `None` takes everything) → its tasks.
        let mut groups: BTreeMap<Option<Vec<String>>, Vec<Target>> = BTreeMap::new();
        {
            let subs = self.lock_subs();
            let Some(tasks) = subs.index.get(&key) else {
                return;
            };
            for t in tasks {
                let Some(e) = subs.by_task.get(t) else {
                    continue;
                };
                let Some(sub) = &e.sub else { continue };
                let filter = sub.measurements.as_ref().map(|m| {
                    let mut v: Vec<String> = m.iter().cloned().collect();
                    v.sort_unstable();
                    v
                });
                let target = match (&e.feed, &e.broken) {
                    (Some(f), _) => Target::Queue(f.clone()),
                    (None, Some(err)) => Target::Broken {
                        task: t.clone(),
                        error: err.clone(),
                    },
                    // Subscribed to nothing it can take (no queue): not a target.
                    (None, None) => continue,
                };
                groups.entry(filter).or_default().push(target);
            }
        }
        for (filter, targets) in groups {
            let mut batches = Vec::new();
            let encoded = match filter {
                None => encode_batches(db, rp, points, &mut batches),
                Some(names) => {
                    let selected: Vec<&P> = points
                        .iter()
                        .filter(|p| names.iter().any(|n| n == p.measurement()))
                        .collect();
                    encode_batches(db, rp, &selected, &mut batches)
                }
            };
            match encoded {
                Ok(()) => out.add(targets, batches),
                Err(bytes) => out.oversized(bytes),
            }
        }
    }

    /// Routes points that do not come from an HTTP request (loopback writes, UDP): encodes
    /// them and commits them to every target queue, waiting up to `[queue] write-timeout`
    /// for room.
    pub async fn route_write<P: Routable>(
        &self,
        db: &str,
        rp: &str,
        points: &[P],
    ) -> Result<(), WriteError> {
        let mut pending = PendingWrite::default();
        self.encode_write(db, rp, points, &mut pending);
        crate::enqueue::commit(self, pending, self.queues.write_timeout).await
    }

    /// Counts UDP points given up against every task they were for.
    pub fn count_udp_drop<P: Routable>(&self, db: &str, rp: &str, points: &[P]) {
        let key = Dbrp {
            db: db.to_string(),
            rp: rp.to_string(),
        };
        let subs = self.lock_subs();
        let Some(tasks) = subs.index.get(&key) else {
            return;
        };
        for t in tasks {
            let Some(e) = subs.by_task.get(t) else {
                continue;
            };
            let n = match e.sub.as_ref().and_then(|s| s.measurements.as_ref()) {
                None => points.len(),
                Some(m) => points
                    .iter()
                    .filter(|p| m.contains(p.measurement()))
                    .count(),
            };
            e.counters
                .points_dropped
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Writes every queue's batches held in memory to disk (a clean shutdown: they are
    /// there after the restart). Blocks on disk I/O.
    pub fn persist_queues(&self) {
        let feeds: Vec<Arc<Feed>> = self
            .lock_subs()
            .by_task
            .values()
            .filter_map(|e| e.feed.clone())
            .collect();
        for f in feeds {
            match f.queue().persist_memory() {
                Ok(0) => {}
                Ok(n) => info!(
                    task = f.task_id(),
                    batches = n,
                    "queued batches kept on disk"
                ),
                Err(e) => {
                    error!(task = f.task_id(), error = %e, "queued batches held in memory could not be written to disk; they are lost")
                }
            }
        }
    }

    /// Counters and queue of every subscribed task, by id.
    pub fn task_counts(&self) -> Vec<TaskCount> {
        let entries: BTreeMap<String, (Arc<TaskCounters>, Option<Arc<Feed>>)> = self
            .lock_subs()
            .by_task
            .iter()
            .map(|(k, e)| (k.clone(), (e.counters.clone(), e.feed.clone())))
            .collect();
        entries
            .into_iter()
            .map(|(task, (c, f))| TaskCount::of(&task, &c, f.map(|f| f.queue().stats())))
            .collect()
    }

    /// Counters of one task (zero when it never subscribed).
    pub fn task_count(&self, task_id: &str) -> TaskCount {
        let entry = self
            .lock_subs()
            .by_task
            .get(task_id)
            .map(|e| (e.counters.clone(), e.feed.clone()));
        match entry {
            Some((c, f)) => TaskCount::of(task_id, &c, f.map(|f| f.queue().stats())),
            None => TaskCount {
                task_id: task_id.to_string(),
                ..TaskCount::default()
            },
        }
    }

    fn lock_subs(&self) -> std::sync::MutexGuard<'_, Subs> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) the control link of `task_id`'s worker; the number is for
    /// [`Registry::unregister_control`].
    pub fn register_control(&self, task_id: &str, peer: Peer) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        let control = Control {
            conn,
            peer,
            health: Arc::default(),
        };
        if let Some(old) = self.lock_controls().insert(task_id.to_string(), control) {
            old.peer.close();
        }
        debug!(task = task_id, "task worker control link connected");
        conn
    }

    pub fn unregister_control(&self, task_id: &str, conn: u64) {
        let mut controls = self.lock_controls();
        if controls.get(task_id).is_some_and(|c| c.conn == conn) {
            controls.remove(task_id);
            debug!(task = task_id, "task worker control link disconnected");
        }
    }

    /// Whether the control link of `task_id`'s worker is up.
    pub fn has_control(&self, task_id: &str) -> bool {
        self.lock_controls().contains_key(task_id)
    }

    /// Sends a request to the worker of `task_id` over its control link and waits up to
    /// `timeout` (the whole round trip) for the answer.
    pub async fn request(
        &self,
        task_id: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let (peer, health) = self
            .lock_controls()
            .get(task_id)
            .map(|c| (c.peer.clone(), c.health.clone()))
            .ok_or_else(|| RequestError::NotConnected(task_id.to_string()))?;
        let answer = peer.request_timeout(msg, timeout).await;
        match &answer {
            Ok(_) => health.silent.store(false, Ordering::Relaxed),
            Err(IpcError::Timeout(_)) => health.silent.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
        answer.map_err(RequestError::Ipc)
    }

    /// Whether the worker of `task_id` answered its last control request (or has not been
    /// asked yet). One that did not is probed in the background, at most one probe at a
    /// time, so that it counts as answering again once it does.
    pub fn answers(&self, task_id: &str) -> bool {
        let Some(health) = self.lock_controls().get(task_id).map(|c| c.health.clone()) else {
            return false;
        };
        if !health.silent.load(Ordering::Relaxed) {
            return true;
        }
        if !health.probing.swap(true, Ordering::Relaxed) {
            let registry = self.clone();
            let task = task_id.to_string();
            tokio::spawn(async move {
                let _ = registry
                    .request(&task, Message::StatsRequest, PROBE_TIMEOUT)
                    .await;
                health.probing.store(false, Ordering::Relaxed);
            });
        }
        false
    }

    /// The data link of `task_id`'s worker, for a replay that feeds it with backpressure.
    pub fn peer(&self, task_id: &str) -> Option<Peer> {
        self.lock().get(task_id).map(|l| l.peer.clone())
    }

    /// Whether the worker of `task_id` is connected and has said what it wants: from then on
    /// writes reach it.
    pub fn is_subscribed(&self, task_id: &str) -> bool {
        self.is_connected(task_id)
            && self
                .lock_subs()
                .by_task
                .get(task_id)
                .is_some_and(|e| e.sub.is_some())
    }

    pub fn is_connected(&self, task_id: &str) -> bool {
        self.lock().contains_key(task_id)
    }

    /// The tasks (and replays) whose workers are connected now.
    pub fn connected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Link>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_controls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Control>> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A batch ready for the queues: its payload and point count.
#[derive(Clone)]
pub(crate) struct EncodedBatch {
    pub payload: Bytes,
    pub points: u32,
}

/// Encodes `points` into batches of at most [`POINTS_PER_FRAME`] points and
/// [`MAX_BATCH_BYTES`] bytes (halving a chunk that came out larger). `Err(size)`: a single
/// point encodes larger than a batch may be (it could never reach its worker).
fn encode_batches<Q: EncodePoint>(
    db: &str,
    rp: &str,
    points: &[Q],
    out: &mut Vec<EncodedBatch>,
) -> Result<(), usize> {
    for chunk in points.chunks(POINTS_PER_FRAME) {
        encode_chunk(db, rp, chunk, out)?;
    }
    Ok(())
}

fn encode_chunk<Q: EncodePoint>(
    db: &str,
    rp: &str,
    chunk: &[Q],
    out: &mut Vec<EncodedBatch>,
) -> Result<(), usize> {
    let bytes = encode_batch(db, rp, chunk);
    if bytes.len() > MAX_BATCH_BYTES {
        if chunk.len() == 1 {
            return Err(bytes.len());
        }
        let (a, b) = chunk.split_at(chunk.len() / 2);
        encode_chunk(db, rp, a, out)?;
        return encode_chunk(db, rp, b, out);
    }
    out.push(EncodedBatch {
        payload: Bytes::from(bytes),
        points: chunk.len() as u32,
    });
    Ok(())
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
