//! Connected task workers, by task id, with a bounded send queue each, and what each one
//! subscribed to (dbrps and `from()` measurements).
//!
//! Routing a batch never waits: it goes into the worker's queue or, when the queue is full
//! (or the worker is down), is counted as dropped and logged. One slow worker therefore
//! never holds up ingest for the others. The queue is bounded in bytes
//! ([`WORKER_QUEUE_BYTES`], counting the connection's own outbox too), not in batches, so a
//! stalled worker holds at most that much of apid's memory whatever the batch sizes.
//!
//! A write is encoded once per group of tasks with the same measurement filter, and the same
//! `Bytes` go to every worker of the group: fan-out costs a reference count per task, not a
//! copy and an encode.
//!
//! A subscription outlives its connection: while a task's worker restarts, the points it
//! misses are counted against it. The task API forgets a task when it is deleted, disabled
//! or renamed.
//!
//! Each worker also dials a control link (`Role::WorkerControl`). Every request apid makes to
//! a worker ([`Registry::request`]: stats, DOT, httpOut reads, sideload reload) goes over it,
//! never behind the point frames queued on the data link; only a replay's drain barrier,
//! which must follow the data, uses the data link ([`Registry::peer`]).

use axum::body::Bytes;
use kapacitor_ipc::{Dbrp, IpcError, MAX_FRAME_LEN, Message, Peer, encode_points};
use kapacitor_models::{Point, PointRef};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Points per `Points` frame when a write is split for one worker.
pub const POINTS_PER_FRAME: usize = 10_000;
/// At most one "dropped points" log line per task per this interval.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Encoded bytes queued per worker (in apid's queue and the connection's outbox) before new
/// batches for it are dropped. At ~92 bytes a point that is ~1.4M points, about two seconds
/// of one worker's decode and pipeline on a loaded 2-core machine: enough for a burst of a
/// couple of million points (apid accepts ~2x faster than one worker drains), while a
/// stalled worker holds at most this much. Frames are shared by the tasks of a group, so
/// many stalled tasks with the same filter hold it once.
pub const WORKER_QUEUE_BYTES: usize = 128 * 1024 * 1024;

/// What a queued frame is charged besides its bytes, so that a flood of tiny batches is
/// bounded too.
const FRAME_OVERHEAD: usize = 64;

/// How long a background probe of a silent worker waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A point that can be routed: it names its measurement and serialises like [`Point`].
pub trait Routable: Serialize {
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

/// A task a write goes to, with its counters.
type Target = (String, Arc<TaskCounters>);

/// One encoded `Points` envelope and how many points it holds.
#[derive(Clone)]
struct Frame {
    bytes: Bytes,
    points: u64,
}

impl Frame {
    fn cost(&self) -> usize {
        self.bytes.len() + FRAME_OVERHEAD
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    Queued,
    /// The worker's queue was full; the batch was dropped and counted.
    Dropped,
    /// No worker of that task is connected.
    NotConnected,
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

struct Link {
    conn: u64,
    peer: Peer,
    queue: mpsc::UnboundedSender<Frame>,
    /// Cost of the frames in `queue` ([`Frame::cost`]).
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl Link {
    fn try_send(&self, frame: Frame) -> Routed {
        let cost = frame.cost();
        let held = self.queued.load(Ordering::Relaxed) + self.peer.queued_bytes();
        if held + cost > WORKER_QUEUE_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Routed::Dropped;
        }
        self.queued.fetch_add(cost, Ordering::Relaxed);
        match self.queue.send(frame) {
            Ok(()) => Routed::Queued,
            Err(_) => {
                self.queued.fetch_sub(cost, Ordering::Relaxed);
                Routed::NotConnected
            }
        }
    }
}

/// Per-worker counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    pub task_id: String,
    pub dropped_batches: u64,
}

/// What a worker asked to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub dbrps: Vec<Dbrp>,
    /// `None`: every measurement of the dbrps.
    pub measurements: Option<HashSet<String>>,
}

/// Per-task routing counters; they live as long as the task's subscription.
#[derive(Debug, Default)]
pub struct TaskCounters {
    /// Points queued for the worker.
    pub points_routed: AtomicU64,
    /// Points the worker could not take (full queue, worker down).
    pub points_dropped: AtomicU64,
    last_drop_log: Mutex<Option<Instant>>,
}

/// A snapshot of one task's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCount {
    pub task_id: String,
    pub points_routed: u64,
    pub points_dropped: u64,
}

#[derive(Default)]
struct Subs {
    by_task: HashMap<String, (Subscription, Arc<TaskCounters>)>,
    /// (db, rp) → tasks subscribed to it.
    index: HashMap<Dbrp, Vec<String>>,
}

impl Subs {
    fn rebuild_index(&mut self) {
        self.index.clear();
        for (task, (sub, _)) in &self.by_task {
            for d in &sub.dbrps {
                self.index.entry(d.clone()).or_default().push(task.clone());
            }
        }
    }
}

#[derive(Clone, Default)]
pub struct Registry {
    links: Arc<Mutex<HashMap<String, Link>>>,
    controls: Arc<Mutex<HashMap<String, Control>>>,
    subs: Arc<Mutex<Subs>>,
    next_conn: Arc<AtomicU64>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds (or replaces, after a worker restart) the link of `task_id`. Returns a connection
    /// number for [`Registry::unregister`], so that a stale connection closing late does not
    /// remove its successor.
    pub fn register(&self, task_id: &str, peer: Peer) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        let queued = Arc::new(AtomicUsize::new(0));
        let sender = peer.clone();
        let task = task_id.to_string();
        let registry = self.clone();
        let in_queue = queued.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                in_queue.fetch_sub(frame.cost(), Ordering::Relaxed);
                let n = frame.points;
                if let Err(e) = sender.send_frame(frame.bytes).await {
                    debug!(task = %task, error = %e, "worker link gone; dropping its queue");
                    // What was queued for the dead link is lost: count it, never hide it.
                    rx.close();
                    let mut lost = n;
                    while let Ok(f) = rx.try_recv() {
                        in_queue.fetch_sub(f.cost(), Ordering::Relaxed);
                        lost += f.points;
                    }
                    registry.count_lost(&task, lost);
                    break;
                }
            }
        });
        let link = Link {
            conn,
            peer,
            queue: tx,
            queued,
            dropped: Arc::default(),
        };
        if let Some(old) = self.lock().insert(task_id.to_string(), link) {
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

    /// Queues a batch for the worker of `task_id` without waiting. A batch too large for
    /// one frame is dropped (callers split at [`POINTS_PER_FRAME`]).
    pub fn route<P: Routable>(&self, task_id: &str, db: &str, rp: &str, points: &[P]) -> Routed {
        match encode_points(db, rp, points) {
            Ok(bytes) if bytes.len() <= MAX_FRAME_LEN => self.route_frame(
                task_id,
                Frame {
                    bytes,
                    points: points.len() as u64,
                },
            ),
            Ok(_) | Err(_) => Routed::Dropped,
        }
    }

    fn route_frame(&self, task_id: &str, frame: Frame) -> Routed {
        match self.lock().get(task_id) {
            Some(link) => link.try_send(frame),
            None => Routed::NotConnected,
        }
    }

    /// Records what the worker of `task_id` wants routed to it (replacing what it asked
    /// before). Counters carry over.
    pub fn subscribe(&self, task_id: &str, sub: Subscription) {
        let mut subs = self.lock_subs();
        let counters = subs
            .by_task
            .get(task_id)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        debug!(task = task_id, dbrps = ?sub.dbrps, measurements = ?sub.measurements, "worker subscribed");
        subs.by_task.insert(task_id.to_string(), (sub, counters));
        subs.rebuild_index();
    }

    /// Stops routing to `task_id` and drops its counters (task deleted, disabled, renamed).
    pub fn forget(&self, task_id: &str) {
        let mut subs = self.lock_subs();
        if subs.by_task.remove(task_id).is_some() {
            subs.rebuild_index();
        }
    }

    /// Routes the points of one write to every task subscribed to (`db`, `rp`) whose
    /// measurement filter matches, in frames of at most [`POINTS_PER_FRAME`] points. Tasks
    /// with the same filter get the same encoded frames. Never waits; what a task cannot take
    /// is counted against it.
    pub fn route_write<P: Routable>(&self, db: &str, rp: &str, points: &[P]) {
        if points.is_empty() {
            return;
        }
        crate::recordings::tee(db, rp, points);
        let key = Dbrp {
            db: db.to_string(),
            rp: rp.to_string(),
        };
        // Measurement filter (sorted; `None` takes everything) → its tasks.
        let mut groups: HashMap<Option<Vec<String>>, Vec<Target>> = HashMap::new();
        {
            let subs = self.lock_subs();
            let Some(tasks) = subs.index.get(&key) else {
                return;
            };
            for t in tasks {
                let Some((sub, c)) = subs.by_task.get(t) else {
                    continue;
                };
                let filter = sub.measurements.as_ref().map(|m| {
                    let mut v: Vec<String> = m.iter().cloned().collect();
                    v.sort_unstable();
                    v
                });
                groups
                    .entry(filter)
                    .or_default()
                    .push((t.clone(), c.clone()));
            }
        }
        for (filter, tasks) in groups {
            let mut frames = Vec::new();
            let mut unsendable = 0;
            match filter {
                None => encode_frames(db, rp, points, &mut frames, &mut unsendable),
                Some(names) => {
                    let selected: Vec<&P> = points
                        .iter()
                        .filter(|p| names.iter().any(|n| n == p.measurement()))
                        .collect();
                    encode_frames(db, rp, &selected, &mut frames, &mut unsendable);
                }
            }
            let links = self.lock();
            for (task, counters) in &tasks {
                let link = links.get(task);
                for frame in &frames {
                    let why = match link {
                        Some(l) => l.try_send(frame.clone()),
                        None => Routed::NotConnected,
                    };
                    if why == Routed::Queued {
                        counters
                            .points_routed
                            .fetch_add(frame.points, Ordering::Relaxed);
                    } else {
                        counters
                            .points_dropped
                            .fetch_add(frame.points, Ordering::Relaxed);
                        log_drop(task, counters, why);
                    }
                }
                if unsendable > 0 {
                    counters
                        .points_dropped
                        .fetch_add(unsendable, Ordering::Relaxed);
                    log_drop(task, counters, Routed::Dropped);
                }
            }
        }
    }

    /// Points that were queued for a worker whose link then died: routed, but not delivered.
    fn count_lost(&self, task_id: &str, points: u64) {
        if points == 0 {
            return;
        }
        let subs = self.lock_subs();
        if let Some((_, c)) = subs.by_task.get(task_id) {
            c.points_routed.fetch_sub(
                points.min(c.points_routed.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            c.points_dropped.fetch_add(points, Ordering::Relaxed);
            log_drop(task_id, c, Routed::NotConnected);
        }
    }

    /// Routing counters of every subscribed task, by id.
    pub fn task_counts(&self) -> Vec<TaskCount> {
        let subs = self.lock_subs();
        let sorted: BTreeMap<&String, &Arc<TaskCounters>> =
            subs.by_task.iter().map(|(k, (_, c))| (k, c)).collect();
        sorted
            .into_iter()
            .map(|(task, c)| TaskCount {
                task_id: task.clone(),
                points_routed: c.points_routed.load(Ordering::Relaxed),
                points_dropped: c.points_dropped.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Counters of one task (zero when it never subscribed).
    pub fn task_count(&self, task_id: &str) -> TaskCount {
        let subs = self.lock_subs();
        let c = subs.by_task.get(task_id).map(|(_, c)| c);
        TaskCount {
            task_id: task_id.to_string(),
            points_routed: c.map_or(0, |c| c.points_routed.load(Ordering::Relaxed)),
            points_dropped: c.map_or(0, |c| c.points_dropped.load(Ordering::Relaxed)),
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

    /// The link of `task_id`'s worker, for a replay that feeds it with backpressure.
    pub fn peer(&self, task_id: &str) -> Option<Peer> {
        self.lock().get(task_id).map(|l| l.peer.clone())
    }

    /// Whether the worker of `task_id` is connected and has said what it wants: from then on
    /// writes reach it.
    pub fn is_subscribed(&self, task_id: &str) -> bool {
        self.is_connected(task_id) && self.lock_subs().by_task.contains_key(task_id)
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

    pub fn stats(&self) -> Vec<WorkerStats> {
        let mut stats: Vec<_> = self
            .lock()
            .iter()
            .map(|(task_id, l)| WorkerStats {
                task_id: task_id.clone(),
                dropped_batches: l.dropped.load(Ordering::Relaxed),
            })
            .collect();
        stats.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Link>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_controls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Control>> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Encodes `points` into frames of at most [`POINTS_PER_FRAME`] points and
/// [`MAX_FRAME_LEN`] bytes (halving a chunk that came out larger). A single point too large
/// for a frame, or one that fails to encode, is counted in `unsendable`.
fn encode_frames<Q: Serialize>(
    db: &str,
    rp: &str,
    points: &[Q],
    out: &mut Vec<Frame>,
    unsendable: &mut u64,
) {
    for chunk in points.chunks(POINTS_PER_FRAME) {
        encode_chunk(db, rp, chunk, out, unsendable);
    }
}

fn encode_chunk<Q: Serialize>(
    db: &str,
    rp: &str,
    chunk: &[Q],
    out: &mut Vec<Frame>,
    unsendable: &mut u64,
) {
    match encode_points(db, rp, chunk) {
        Ok(bytes) if bytes.len() <= MAX_FRAME_LEN => out.push(Frame {
            bytes,
            points: chunk.len() as u64,
        }),
        Ok(_) if chunk.len() > 1 => {
            let (a, b) = chunk.split_at(chunk.len() / 2);
            encode_chunk(db, rp, a, out, unsendable);
            encode_chunk(db, rp, b, out, unsendable);
        }
        Ok(_) => *unsendable += 1,
        Err(e) => {
            warn!(error = %e, "points could not be encoded for the workers");
            *unsendable += chunk.len() as u64;
        }
    }
}

fn log_drop(task: &str, counters: &TaskCounters, why: Routed) {
    let mut last = counters
        .last_drop_log
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if last.is_none_or(|t| t.elapsed() >= DROP_LOG_EVERY) {
        *last = Some(Instant::now());
        let reason = match why {
            Routed::Dropped => "its queue is full",
            _ => "its worker is not connected",
        };
        warn!(
            task,
            reason,
            points_dropped = counters.points_dropped.load(Ordering::Relaxed),
            "points dropped for a task"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_ipc::{Hello, PeerOptions, Role, handshake};
    use tokio::net::UnixStream;

    async fn pair(task: &str) -> (Peer, kapacitor_ipc::Inbox, kapacitor_ipc::Inbox) {
        let (a, b) = UnixStream::pair().unwrap();
        let worker = Hello::new(Role::Worker {
            task_id: task.into(),
        });
        let (apid_side, worker_side) = tokio::join!(
            handshake(a, Hello::new(Role::Apid), PeerOptions::default()),
            handshake(b, worker, PeerOptions::default()),
        );
        let (peer, apid_inbox) = apid_side.unwrap();
        let (worker_peer, worker_inbox) = worker_side.unwrap();
        // The test holds only the worker's inbox; its connection must outlive this function.
        std::mem::forget(worker_peer);
        (peer, apid_inbox, worker_inbox)
    }

    #[tokio::test]
    async fn routes_to_the_registered_worker() {
        let reg = Registry::new();
        let (peer, _ai, mut wi) = pair("a").await;
        reg.register("a", peer);
        assert_eq!(reg.route::<Point>("a", "db", "rp", &[]), Routed::Queued);
        assert_eq!(
            reg.route::<Point>("b", "db", "rp", &[]),
            Routed::NotConnected
        );
        let got = wi.recv().await.unwrap();
        assert!(matches!(got.msg, Message::Points { ref db, .. } if db == "db"));
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_blocking_others() {
        let reg = Registry::new();
        // Worker "slow" never reads its inbox, so its socket and queue fill up.
        let (slow, _ai1, _slow_inbox) = pair("slow").await;
        let (fast, _ai2, mut fast_inbox) = pair("fast").await;
        reg.register("slow", slow);
        reg.register("fast", fast);
        let big: Vec<Point> = (0..200)
            .map(|i| Point {
                name: "m".repeat(100),
                tags: Default::default(),
                fields: Default::default(),
                time: i,
            })
            .collect();
        let frame_len = encode_points("db", "rp", &big).unwrap().len();
        // The worker side holds its inbox (256 frames) and a socket buffer; past that, apid
        // holds at most WORKER_QUEUE_BYTES, whatever the number of frames.
        let bound = WORKER_QUEUE_BYTES / frame_len + 256 + 200;
        let mut first_drop = None;
        let mut dropped = 0;
        for i in 0..bound + 100 {
            if reg.route("slow", "db", "rp", &big) == Routed::Dropped {
                first_drop.get_or_insert(i);
                dropped += 1;
            }
            if i % 64 == 0 {
                // Let the link's tasks move what they can into the socket.
                tokio::task::yield_now().await;
            }
        }
        let first_drop = first_drop.expect("a bounded queue must overflow");
        assert!(
            first_drop < bound,
            "dropped first after {first_drop} frames of {frame_len} bytes"
        );
        assert_eq!(reg.stats()[1].dropped_batches, dropped);
        assert_eq!(reg.route::<Point>("fast", "db", "rp", &[]), Routed::Queued);
        assert!(fast_inbox.recv().await.is_some());
    }

    fn pt(name: &str) -> Point {
        Point {
            name: name.into(),
            tags: Default::default(),
            fields: Default::default(),
            time: 1,
        }
    }

    #[tokio::test]
    async fn writes_reach_subscribers_by_dbrp_and_measurement_and_misses_are_counted() {
        let reg = Registry::new();
        let (cpu, _a1, mut cpu_in) = pair("cpu").await;
        let (all, _a2, mut all_in) = pair("all").await;
        reg.register("cpu", cpu);
        reg.register("all", all);
        let dbrp = Dbrp {
            db: "db".into(),
            rp: "rp".into(),
        };
        reg.subscribe(
            "cpu",
            Subscription {
                dbrps: vec![dbrp.clone()],
                measurements: Some(["cpu".to_string()].into_iter().collect()),
            },
        );
        reg.subscribe(
            "all",
            Subscription {
                dbrps: vec![dbrp.clone()],
                measurements: None,
            },
        );
        reg.subscribe(
            "down",
            Subscription {
                dbrps: vec![dbrp],
                measurements: None,
            },
        );
        reg.route_write("db", "rp", &[pt("cpu"), pt("mem"), pt("cpu")]);
        reg.route_write("other", "rp", &[pt("cpu")]);
        let got = cpu_in.recv().await.unwrap();
        assert!(matches!(got.msg, Message::Points { ref points, .. } if points.len() == 2));
        let got = all_in.recv().await.unwrap();
        assert!(matches!(got.msg, Message::Points { ref points, .. } if points.len() == 3));
        let counts = reg.task_counts();
        assert_eq!(
            counts,
            vec![
                TaskCount {
                    task_id: "all".into(),
                    points_routed: 3,
                    points_dropped: 0
                },
                TaskCount {
                    task_id: "cpu".into(),
                    points_routed: 2,
                    points_dropped: 0
                },
                TaskCount {
                    task_id: "down".into(),
                    points_routed: 0,
                    points_dropped: 3
                },
            ]
        );
        reg.forget("down");
        reg.route_write("db", "rp", &[pt("x")]);
        assert_eq!(reg.task_count("down").points_dropped, 0);
        assert_eq!(reg.task_count("all").points_routed, 4);
    }

    #[tokio::test]
    async fn borrowed_points_arrive_as_the_owned_points_in_frames_of_bounded_size() {
        let reg = Registry::new();
        let (a, _a1, mut a_in) = pair("a").await;
        let (b, _a2, mut b_in) = pair("b").await;
        reg.register("a", a);
        reg.register("b", b);
        let dbrp = Dbrp {
            db: "db".into(),
            rp: "rp".into(),
        };
        for t in ["a", "b"] {
            reg.subscribe(
                t,
                Subscription {
                    dbrps: vec![dbrp.clone()],
                    measurements: Some(["cpu".to_string()].into_iter().collect()),
                },
            );
        }
        let n = POINTS_PER_FRAME + 3;
        let body: String = (0..n)
            .map(|i| format!("cpu,host=h{} v={i}i {i}\nmem v=1i {i}\n", i % 7))
            .collect();
        let parsed: Vec<PointRef<'_>> =
            kapacitor_models::line_protocol::lines(&body, Default::default(), 0)
                .collect::<Result<_, _>>()
                .unwrap();
        reg.route_write("db", "rp", &parsed);
        let want: Vec<Point> = parsed
            .iter()
            .filter(|p| p.name == "cpu")
            .map(PointRef::to_point)
            .collect();
        for inbox in [&mut a_in, &mut b_in] {
            let mut got = Vec::new();
            while got.len() < n {
                match inbox.recv().await.unwrap().msg {
                    Message::Points { points, .. } => {
                        assert!(points.len() <= POINTS_PER_FRAME);
                        got.extend(points);
                    }
                    other => panic!("unexpected {}", other.name()),
                }
            }
            assert_eq!(got, want);
        }
        assert_eq!(reg.task_count("a").points_routed, n as u64);
        assert_eq!(reg.task_count("b").points_routed, n as u64);
    }

    /// Requests go over the control link: a data link stuffed with frames the worker does
    /// not read delays nothing, and a worker that stops answering is left out of lists
    /// until a probe hears from it again.
    #[tokio::test]
    async fn requests_use_the_control_link_and_silence_is_remembered() {
        let reg = Registry::new();
        let (data, _a1, _stalled_data) = pair("t").await;
        reg.register("t", data);
        let short = Duration::from_millis(200);
        assert!(matches!(
            reg.request("t", Message::StatsRequest, short).await,
            Err(RequestError::NotConnected(_))
        ));
        let big: Vec<Point> = (0..1000).map(|_| pt(&"m".repeat(100))).collect();
        for _ in 0..200 {
            reg.route("t", "db", "rp", &big);
        }
        let (control, _a2, mut worker) = pair("t").await;
        reg.register_control("t", control);
        assert!(reg.has_control("t"));
        let (answering_tx, mut answering) = tokio::sync::watch::channel(true);
        let served = tokio::spawn(async move {
            while let Some(inc) = worker.recv().await {
                if *answering.borrow_and_update() {
                    inc.reply(Message::Stats { json: "{}".into() })
                        .await
                        .unwrap();
                }
            }
        });
        let asked = Instant::now();
        let answer = reg.request("t", Message::StatsRequest, Duration::from_secs(10));
        assert!(matches!(answer.await, Ok(Message::Stats { .. })));
        assert!(asked.elapsed() < Duration::from_secs(5));
        assert!(reg.answers("t"));

        answering_tx.send(false).unwrap();
        let err = reg
            .request("t", Message::StatsRequest, short)
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        // Silent: not asked by lists; the probe it starts times out too.
        assert!(!reg.answers("t"));
        answering_tx.send(true).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while !reg.answers("t") {
            assert!(
                Instant::now() < until,
                "the probe never cleared the silence"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(reg);
        served.abort();
    }

    #[tokio::test]
    async fn stale_connection_does_not_unregister_its_successor() {
        let reg = Registry::new();
        let (p1, _a1, _w1) = pair("t").await;
        let (p2, _a2, _w2) = pair("t").await;
        let c1 = reg.register("t", p1);
        let c2 = reg.register("t", p2);
        reg.unregister("t", c1);
        assert!(reg.is_connected("t"));
        reg.unregister("t", c2);
        assert!(!reg.is_connected("t"));
    }
}
