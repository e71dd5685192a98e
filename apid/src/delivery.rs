//! Delivery of a task's queue to its worker, with acknowledgements.
//!
//! A [`Feed`] is one subscribed task's durable queue (`kapacitor_queue::Queue`) and the
//! state of its one consumer: which data-link connection it delivers to, and the batches it
//! sent on it that are not acknowledged yet. One delivery task per connected worker takes
//! batches with `Queue::next` and sends them as `TaskBatch { seq, payload }` within a window
//! of [`WINDOW_BYTES`] unacknowledged bytes; the worker answers `TaskBatchAck { seq }` once
//! its engine has processed everything up to `seq`, and the feed calls `Queue::ack`.
//!
//! When a worker (re)connects, [`Feed::attach`] rewinds the queue: what the previous worker
//! process had not acknowledged is sent again (at-least-once; the duplicates are at most
//! what was in flight, counted in `points_redelivered`). An acknowledgement from a
//! connection other than the current one is ignored, and a delivery task whose connection
//! is no longer current stops before it takes another batch, so two connections never share
//! the cursor.
//!
//! Queue calls that may touch the disk (`next` reading a spilled batch, `ack` deleting a
//! segment) run on tokio's blocking pool, never on a runtime thread.

use crate::registry::TaskCounters;
use kapacitor_ipc::{Message, Peer};
use kapacitor_queue::{Delivery, Queue, QueueError, QueueListener};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// Bytes of batches sent to a worker and not yet acknowledged, at most (a single larger batch
/// is still sent alone). About 160,000 typical points: a fraction of a second of a worker's
/// work, so the worker never idles waiting for apid, while what a dead worker leaves in
/// flight (and gets again after its restart) stays small.
pub const WINDOW_BYTES: u64 = 16 << 20;

/// Pause after a disk error reading the queue before the delivery task tries again.
const READ_RETRY: Duration = Duration::from_secs(1);

/// Wakes the delivery task when a batch is committed, and writers waiting for room when an
/// acknowledgement (or a destroy) frees some.
struct Listener {
    wake: Arc<Notify>,
    room: Arc<Notify>,
}

impl QueueListener for Listener {
    fn data_ready(&self) {
        self.wake.notify_one();
    }
    fn room_freed(&self) {
        self.room.notify_waiters();
    }
}

/// The consumer's side of a queue.
#[derive(Default)]
struct Cursor {
    /// The data-link connection delivered to; 0: none (never attached, or destroyed).
    conn: u64,
    /// Sent on `conn` and not acknowledged: (sequence number, points).
    sent: VecDeque<(u64, u32)>,
    /// When the last disk error reading the queue was logged.
    last_error_log: Option<Instant>,
}

/// What the delivery task does next.
enum Step {
    Send(Delivery),
    /// Nothing to send now (queue empty or window full): wait for a wake-up.
    Wait,
    /// The connection is no longer the feed's (a newer one attached, or the task is gone).
    Stop,
    /// Reading the queue failed; try again later.
    Retry,
}

/// One task's queue and its delivery state.
pub struct Feed {
    task_id: String,
    queue: Queue,
    cursor: Mutex<Cursor>,
    wake: Arc<Notify>,
    counters: Arc<TaskCounters>,
}

impl Feed {
    /// Wraps an open queue; `room` is told whenever room is freed in it.
    pub fn new(queue: Queue, counters: Arc<TaskCounters>, room: Arc<Notify>) -> Arc<Feed> {
        let wake = Arc::new(Notify::new());
        queue.set_listener(Arc::new(Listener {
            wake: wake.clone(),
            room,
        }));
        Arc::new(Feed {
            task_id: queue.task_id().to_string(),
            queue,
            cursor: Mutex::new(Cursor::default()),
            wake,
            counters,
        })
    }

    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn counters(&self) -> &Arc<TaskCounters> {
        &self.counters
    }

    fn cursor(&self) -> MutexGuard<'_, Cursor> {
        self.cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `conn` the connection this feed delivers to, sending again everything not
    /// acknowledged, and starts its delivery task (which stops when `peer` closes or another
    /// connection attaches).
    pub fn attach(self: &Arc<Self>, conn: u64, peer: Peer) {
        {
            let mut c = self.cursor();
            if c.conn == conn {
                return;
            }
            let unacked: u64 = c.sent.iter().map(|&(_, p)| u64::from(p)).sum();
            if unacked > 0 {
                self.counters
                    .points_redelivered
                    .fetch_add(unacked, Ordering::Relaxed);
                info!(task = %self.task_id, points = unacked, "worker reconnected; unacknowledged batches are sent again");
            }
            c.sent.clear();
            c.conn = conn;
            self.queue.rewind();
        }
        // A previous delivery task waiting for a wake-up sees it is stale.
        self.wake.notify_waiters();
        tokio::spawn(deliver(self.clone(), conn, peer));
    }

    /// Acknowledges every batch up to `seq` sent on `conn` (ignored for another connection).
    /// May delete segment files: call it off the runtime threads.
    pub fn ack(&self, conn: u64, seq: u64) {
        let mut c = self.cursor();
        if c.conn != conn || conn == 0 {
            debug!(task = %self.task_id, seq, "acknowledgement from an old connection ignored");
            return;
        }
        let held = self.queue.memory_bytes();
        match self.queue.ack(seq) {
            Ok(()) => {
                let left = self.queue.memory_bytes();
                crate::mem_release::queue_drained(held.saturating_sub(left), left == 0);
                let mut points = 0u64;
                while let Some(&(s, p)) = c.sent.front()
                    && s <= seq
                {
                    points += u64::from(p);
                    c.sent.pop_front();
                }
                self.counters
                    .points_acked
                    .fetch_add(points, Ordering::Relaxed);
            }
            Err(QueueError::Destroyed) => {}
            Err(e) => {
                warn!(task = %self.task_id, seq, error = %e, "worker acknowledgement refused")
            }
        }
        drop(c);
        self.wake.notify_one();
    }

    fn next_for(&self, conn: u64) -> Step {
        let mut c = self.cursor();
        if c.conn != conn {
            return Step::Stop;
        }
        if self.queue.in_flight_bytes() >= WINDOW_BYTES {
            return Step::Wait;
        }
        match self.queue.next() {
            Ok(Some(d)) => {
                c.sent.push_back((d.seq, d.points));
                self.counters
                    .points_sent
                    .fetch_add(u64::from(d.points), Ordering::Relaxed);
                Step::Send(d)
            }
            Ok(None) => Step::Wait,
            Err(QueueError::Destroyed) => Step::Stop,
            Err(e) => {
                if c.last_error_log
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                {
                    c.last_error_log = Some(Instant::now());
                    warn!(task = %self.task_id, error = %e, "reading the task's queue failed; retrying");
                }
                Step::Retry
            }
        }
    }

    /// Stops delivery and deletes the queue with its directory (the task was deleted,
    /// disabled or renamed).
    pub fn destroy(&self) {
        {
            let mut c = self.cursor();
            c.conn = 0;
            c.sent.clear();
        }
        if let Err(e) = self.queue.destroy() {
            warn!(task = %self.task_id, error = %e, "could not remove the task's queue directory");
        }
        self.wake.notify_waiters();
    }
}

/// The delivery task of one connection.
async fn deliver(feed: Arc<Feed>, conn: u64, peer: Peer) {
    loop {
        // Registered before looking, so a commit or an ack in between is not missed.
        let woken = feed.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let f = feed.clone();
        let step = match tokio::task::spawn_blocking(move || f.next_for(conn)).await {
            Ok(s) => s,
            Err(_) => return,
        };
        match step {
            Step::Send(d) => {
                let msg = Message::TaskBatch {
                    seq: d.seq,
                    payload: d.payload,
                };
                if peer.send(msg).await.is_err() {
                    // Not acknowledged: sent again to the next worker connection.
                    return;
                }
            }
            Step::Wait => {
                tokio::select! {
                    _ = &mut woken => {}
                    _ = peer.closed() => return,
                }
            }
            Step::Stop => {
                // A wake-up meant for the current connection's task may have come here.
                feed.wake.notify_one();
                return;
            }
            Step::Retry => {
                tokio::select! {
                    _ = tokio::time::sleep(READ_RETRY) => {}
                    _ = peer.closed() => return,
                }
            }
        }
    }
}
