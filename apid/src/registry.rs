//! Connected task workers, by task id, with a bounded send queue each.
//!
//! Routing a batch never waits: it goes into the worker's queue or, when the queue is full,
//! is counted as dropped. One slow worker therefore never holds up ingest for the others,
//! and memory stays bounded.

use kapacitor_ipc::{IpcError, Message, Peer};
use kapacitor_models::Point;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info};

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

#[derive(Clone, Default)]
pub struct Registry {
    links: Arc<Mutex<HashMap<String, Link>>>,
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
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if let Err(e) = sender.send(msg).await {
                    debug!(task = %task, error = %e, "worker link gone; dropping its queue");
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
