//! Connected task workers, by task id, with a bounded send queue each, and what each one
//! subscribed to (dbrps and `from()` measurements).
//!
//! Routing a batch never waits: it goes into the worker's queue or, when the queue is full
//! (or the worker is down), is counted as dropped and logged. One slow worker therefore
//! never holds up ingest for the others, and memory stays bounded.
//!
//! A subscription outlives its connection: while a task's worker restarts, the points it
//! misses are counted against it. The task API forgets a task when it is deleted, disabled
//! or renamed.

use kapacitor_ipc::{Dbrp, IpcError, Message, Peer};
use kapacitor_models::Point;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Points per `Points` frame when a write is split for one worker.
pub const POINTS_PER_FRAME: usize = 10_000;
/// At most one "dropped points" log line per task per this interval.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Batches queued per worker before new ones are dropped.
pub const WORKER_QUEUE_BATCHES: usize = 1024;

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

struct Link {
    conn: u64,
    peer: Peer,
    queue: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
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
        let (tx, mut rx) = mpsc::channel::<Message>(WORKER_QUEUE_BATCHES);
        let sender = peer.clone();
        let task = task_id.to_string();
        let registry = self.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let n = points_in(&msg);
                if let Err(e) = sender.send(msg).await {
                    debug!(task = %task, error = %e, "worker link gone; dropping its queue");
                    // What was queued for the dead link is lost: count it, never hide it.
                    rx.close();
                    let mut lost = n;
                    while let Ok(m) = rx.try_recv() {
                        lost += points_in(&m);
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

    /// Queues a batch for the worker of `task_id` without waiting.
    pub fn route(&self, task_id: &str, db: &str, rp: &str, points: Vec<Point>) -> Routed {
        let links = self.lock();
        let Some(link) = links.get(task_id) else {
            return Routed::NotConnected;
        };
        let msg = Message::Points {
            db: db.to_string(),
            rp: rp.to_string(),
            points,
        };
        match link.queue.try_send(msg) {
            Ok(()) => Routed::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                link.dropped.fetch_add(1, Ordering::Relaxed);
                Routed::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Routed::NotConnected,
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
    /// measurement filter matches, in frames of at most [`POINTS_PER_FRAME`] points. Never
    /// waits; what a task cannot take is counted against it.
    pub fn route_write(&self, db: &str, rp: &str, points: &[Point]) {
        let key = Dbrp {
            db: db.to_string(),
            rp: rp.to_string(),
        };
        let targets: Vec<(String, Option<HashSet<String>>, Arc<TaskCounters>)> = {
            let subs = self.lock_subs();
            let Some(tasks) = subs.index.get(&key) else {
                return;
            };
            tasks
                .iter()
                .filter_map(|t| {
                    let (sub, c) = subs.by_task.get(t)?;
                    Some((t.clone(), sub.measurements.clone(), c.clone()))
                })
                .collect()
        };
        for (task, measurements, counters) in targets {
            let selected: Vec<Point> = match &measurements {
                None => points.to_vec(),
                Some(m) => points
                    .iter()
                    .filter(|p| m.contains(&p.name))
                    .cloned()
                    .collect(),
            };
            if selected.is_empty() {
                continue;
            }
            let mut rest = selected;
            while !rest.is_empty() {
                let tail = if rest.len() > POINTS_PER_FRAME {
                    rest.split_off(POINTS_PER_FRAME)
                } else {
                    Vec::new()
                };
                let n = rest.len() as u64;
                match self.route(&task, db, rp, rest) {
                    Routed::Queued => {
                        counters.points_routed.fetch_add(n, Ordering::Relaxed);
                    }
                    why => {
                        counters.points_dropped.fetch_add(n, Ordering::Relaxed);
                        log_drop(&task, &counters, why);
                    }
                }
                rest = tail;
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

    /// Sends a request to the worker of `task_id` and waits for its answer.
    pub async fn request(
        &self,
        task_id: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let peer = self
            .lock()
            .get(task_id)
            .map(|l| l.peer.clone())
            .ok_or_else(|| RequestError::NotConnected(task_id.to_string()))?;
        peer.request_timeout(msg, timeout)
            .await
            .map_err(RequestError::Ipc)
    }

    /// Whether the worker of `task_id` is connected and has said what it wants: from then on
    /// writes reach it.
    pub fn is_subscribed(&self, task_id: &str) -> bool {
        self.is_connected(task_id) && self.lock_subs().by_task.contains_key(task_id)
    }

    pub fn is_connected(&self, task_id: &str) -> bool {
        self.lock().contains_key(task_id)
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
}

fn points_in(msg: &Message) -> u64 {
    match msg {
        Message::Points { points, .. } => points.len() as u64,
        _ => 0,
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
        assert_eq!(reg.route("a", "db", "rp", vec![]), Routed::Queued);
        assert_eq!(reg.route("b", "db", "rp", vec![]), Routed::NotConnected);
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
        let mut dropped = 0;
        for _ in 0..(WORKER_QUEUE_BATCHES * 4) {
            if reg.route("slow", "db", "rp", big.clone()) == Routed::Dropped {
                dropped += 1;
            }
        }
        assert!(dropped > 0, "a bounded queue must overflow");
        assert_eq!(reg.stats()[1].dropped_batches, dropped);
        assert_eq!(reg.route("fast", "db", "rp", vec![]), Routed::Queued);
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
