//! [`Queue`]: one task's durable FIFO of encoded batches.
//!
//! # How it holds batches
//!
//! Every committed batch gets the next sequence number and lives in exactly one place: the
//! memory part (a deque sorted by sequence number) or a segment file. Delivery is strictly in
//! sequence order: [`Queue::next`] hands out the smallest unsent sequence number, whichever
//! part holds it. Two rules keep that a cheap merge that never needs an index of the disk
//! part in memory:
//!
//! * a segment's records have increasing sequence numbers, and no batch in memory has a number
//!   inside a segment's `[first, last]` range: a disk append starts a new segment when a batch
//!   went to memory since the current segment's last record, and [`Queue::persist_memory`]
//!   splits the memory part at segment boundaries;
//! * segment names are their first sequence number, so after a restart the files, read in
//!   name order, are in sequence order.
//!
//! Where a new batch goes is a policy on top (decided when room is reserved): memory while the
//! disk part has nothing unread and memory has room, else disk; the other part when the
//! preferred one is full; [`QueueError::Full`] when both are.
//!
//! # Locks
//!
//! Three mutexes, always taken in this order: `reader` (consumer calls: `next`, `ack`,
//! `rewind`), `writer` (the open segment file; held during a disk append), `state` (the
//! bookkeeping; held briefly, never during file I/O on the data path). So a producer writing
//! a batch to disk does not stop other producers from committing to memory, nor the consumer
//! from reading; disk appends to one queue are serialised. `ack` waits for an append in
//! progress only when it deletes the segment being appended to (the disk part was drained).
//! `persist_memory` and `destroy` take all three and do their I/O under them.

use crate::limits::{BATCH_OVERHEAD, MemoryBudget, QueueLimits};
use crate::segment::{self, Cut, HEADER_LEN, RECORD_HEADER_LEN, RecordHeader, ack_file};
use crate::{QueueError, dirname};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The largest payload a queue takes (a record stores its length in 32 bits).
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// Files whose names end so belong to the queue's owner (apid keeps the task's subscription
/// there) and are left alone by [`Queue::open`]; [`Queue::destroy`] removes them with the
/// directory.
pub const OWNER_FILE_SUFFIX: &str = ".json";

/// How often [`Queue::reserve_timeout`] looks again without a wake-up: room freed by
/// another queue in the shared [`MemoryBudget`] does not signal this one.
const RESERVE_POLL: Duration = Duration::from_millis(50);

/// Told when something happens that a waiter may care about. Called without any lock of the
/// queue held; keep it short (e.g. `tokio::sync::Notify::notify_waiters`).
pub trait QueueListener: Send + Sync {
    /// A batch was committed: [`Queue::next`] may have something.
    fn data_ready(&self) {}
    /// Room was freed (acknowledgement, released reservation, destroy): a
    /// [`QueueError::Full`] reservation may succeed now.
    fn room_freed(&self) {}
}

/// Where a reservation (and so the batch committed with it) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Disk,
}

/// A batch handed out by [`Queue::next`]. It stays in the queue until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub seq: u64,
    pub points: u32,
    pub payload: Bytes,
}

/// A snapshot of a queue's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Unacknowledged batches in memory, and what they are charged (payload + overhead).
    pub memory_batches: u64,
    pub memory_bytes: u64,
    /// Unacknowledged batches in segment files (approximate after a runtime checksum error).
    pub disk_batches: u64,
    /// Size of the segment files (acknowledged records included until their file goes).
    pub disk_bytes: u64,
    pub disk_segments: u64,
    /// Batches and payload bytes written to disk since the queue was opened.
    pub spilled_batches: u64,
    pub spilled_bytes: u64,
    /// Handed out by `next` since the last `rewind`, not yet acknowledged.
    pub in_flight_batches: u64,
    pub in_flight_bytes: u64,
    /// Room held by reservations not yet committed.
    pub reserved_memory_bytes: u64,
    pub reserved_disk_bytes: u64,
    /// Sequence number of the oldest unacknowledged batch (a lower bound when it is in the
    /// middle of a segment and not handed out yet); `None` when nothing is queued.
    pub oldest_seq: Option<u64>,
    /// The number the next committed batch gets.
    pub next_seq: u64,
    /// Everything up to here is acknowledged.
    pub acked_seq: u64,
    /// Records skipped by `next` because their checksum failed (disk damage).
    pub corrupt_batches: u64,
}

/// What [`Queue::open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Unacknowledged batches recovered, and the size of the segment files kept.
    pub batches: u64,
    pub bytes: u64,
    pub segments: u64,
    /// The acknowledged floor left by the last clean shutdown (0 if none).
    pub acked_floor: u64,
    /// Torn or damaged tails that were cut off (each also logged).
    pub cuts: Vec<Cut>,
}

/// One task's durable queue. Cheap to clone (a handle); `Send + Sync`. Producers call
/// [`reserve`](Queue::reserve) / [`Reservation::commit`] or [`push`](Queue::push) from any
/// thread; one consumer calls [`next`](Queue::next), [`ack`](Queue::ack) and
/// [`rewind`](Queue::rewind) (they are serialised by a lock of their own, so a second
/// consumer is safe but pointless). Calls that may touch the disk block the calling thread.
#[derive(Clone)]
pub struct Queue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("task_id", &self.shared.task_id)
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

struct Shared {
    task_id: String,
    dir: PathBuf,
    limits: QueueLimits,
    budget: Arc<MemoryBudget>,
    recovery: RecoveryReport,
    listener: Mutex<Option<Arc<dyn QueueListener>>>,
    reader: Mutex<ReaderState>,
    writer: Mutex<WriterState>,
    state: Mutex<State>,
    /// Signalled (with `state`) when room is freed.
    room: Condvar,
}

impl Drop for Shared {
    /// The last handle is gone (reservations hold one, so none is left): what the memory
    /// part held goes back to the shared budget.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.budget.give_back(st.memory_bytes);
    }
}

struct MemEntry {
    seq: u64,
    points: u32,
    payload: Bytes,
    cost: u64,
}

#[derive(Debug, Clone, Copy)]
struct SegMeta {
    first: u64,
    /// Last published record.
    last: u64,
    records: u64,
    acked_records: u64,
    /// Published length of the file.
    len: u64,
}

/// A batch handed out and not acknowledged.
struct Sent {
    seq: u64,
    len: u64,
    /// The segment holding it, if on disk.
    segment: Option<u64>,
}

struct State {
    destroyed: bool,
    next_seq: u64,
    /// Every batch up to here is acknowledged.
    acked: u64,
    /// Every batch up to here was handed out since the last rewind.
    delivered: u64,
    /// The highest number ever handed out (not reset by rewind).
    highest_delivered: u64,
    memory: VecDeque<MemEntry>,
    memory_bytes: u64,
    /// Sequence number of the last batch committed to memory.
    last_memory_seq: u64,
    /// Sorted by `first`; ranges are disjoint.
    segments: Vec<SegMeta>,
    /// The segment the writer appends to (always the last of `segments`).
    tail: Option<u64>,
    /// Sequence number of the disk append in progress (assigned, not yet published).
    writing: Option<u64>,
    disk_bytes: u64,
    reserved_memory: u64,
    reserved_disk: u64,
    /// Handed out and unacknowledged, by sequence number: those `<= delivered` are in
    /// flight, the others were rewound.
    sent: VecDeque<Sent>,
    in_flight_batches: u64,
    in_flight_bytes: u64,
    spilled_batches: u64,
    spilled_bytes: u64,
    corrupt_batches: u64,
}

#[derive(Default)]
struct WriterState {
    /// (first sequence number, file) of the segment appended to.
    file: Option<(u64, File)>,
}

#[derive(Default)]
struct ReaderState {
    file: Option<(u64, File)>,
    /// Where the record after `after` is in `segment`, from the last read.
    hint: Option<Hint>,
}

#[derive(Clone, Copy)]
struct Hint {
    segment: u64,
    after: u64,
    offset: u64,
}

enum ReadOutcome {
    Record(RecordHeader, Vec<u8>, u64),
    /// The record's checksum failed; skip it.
    Corrupt(u64, u64),
    /// No readable record where one should be: skip the rest of the segment.
    Unreadable(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    /// Opens (creating if needed) the queue of `task_id` under `root`, recovering what a
    /// previous run left: segments are checked record by record in order, and the first torn
    /// or damaged record and everything after it in its file are cut off (logged, and listed
    /// in [`Queue::recovery`]); later segments are still used. Sequence numbers continue
    /// after the highest recovered one. Only one `Queue` may have a directory open at a time.
    pub fn open(
        root: &Path,
        task_id: &str,
        limits: QueueLimits,
        budget: Arc<MemoryBudget>,
    ) -> Result<Queue, QueueError> {
        let dir = dirname::prepare(root, task_id)?;
        let floor = ack_file::read(&dir).unwrap_or(0);
        let mut firsts = Vec::new();
        let entries =
            std::fs::read_dir(&dir).map_err(|e| QueueError::io("listing queue", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| QueueError::io("listing queue", &dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(first) = segment::parse_name(&name) {
                firsts.push(first);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            } else if name != ack_file::NAME
                && name != dirname::ID_FILE
                && !name.ends_with(OWNER_FILE_SUFFIX)
            {
                warn!(file = %entry.path().display(), "unexpected file in a queue directory, left alone");
            }
        }
        firsts.sort_unstable();
        let mut cuts = Vec::new();
        let mut segments = Vec::new();
        let mut after = 0;
        for first in firsts {
            let p = segment::path(&dir, first);
            if let Some(s) = segment::recover(&p, first, after, floor, &mut cuts)? {
                after = s.last;
                segments.push(SegMeta {
                    first: s.first,
                    last: s.last,
                    records: s.records,
                    acked_records: s.acked_records,
                    len: s.len,
                });
            }
        }
        let last = segments.last().map_or(0, |s| s.last);
        let recovery = RecoveryReport {
            batches: segments.iter().map(|s| s.records - s.acked_records).sum(),
            bytes: segments.iter().map(|s| s.len).sum(),
            segments: segments.len() as u64,
            acked_floor: floor,
            cuts,
        };
        if recovery.batches > 0 || !recovery.cuts.is_empty() {
            info!(
                task = task_id,
                batches = recovery.batches,
                bytes = recovery.bytes,
                cuts = recovery.cuts.len(),
                "queue recovered"
            );
        }
        let state = State {
            destroyed: false,
            next_seq: last.max(floor) + 1,
            acked: floor,
            delivered: floor,
            highest_delivered: floor,
            memory: VecDeque::new(),
            memory_bytes: 0,
            last_memory_seq: 0,
            disk_bytes: recovery.bytes,
            segments,
            tail: None,
            writing: None,
            reserved_memory: 0,
            reserved_disk: 0,
            sent: VecDeque::new(),
            in_flight_batches: 0,
            in_flight_bytes: 0,
            spilled_batches: 0,
            spilled_bytes: 0,
            corrupt_batches: 0,
        };
        Ok(Queue {
            shared: Arc::new(Shared {
                task_id: task_id.to_string(),
                dir,
                limits,
                budget,
                recovery,
                listener: Mutex::new(None),
                reader: Mutex::new(ReaderState::default()),
                writer: Mutex::new(WriterState::default()),
                state: Mutex::new(state),
                room: Condvar::new(),
            }),
        })
    }

    pub fn task_id(&self) -> &str {
        &self.shared.task_id
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn limits(&self) -> QueueLimits {
        self.shared.limits
    }

    /// What [`Queue::open`] recovered and cut.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.shared.recovery
    }

    /// Replaces the listener told about new data and freed room.
    pub fn set_listener(&self, listener: Arc<dyn QueueListener>) {
        *lock(&self.shared.listener) = Some(listener);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    fn listener(&self) -> Option<Arc<dyn QueueListener>> {
        lock(&self.shared.listener).clone()
    }

    fn notify_data(&self) {
        if let Some(l) = self.listener() {
            l.data_ready();
        }
    }

    fn notify_room(&self) {
        self.shared.room.notify_all();
        if let Some(l) = self.listener() {
            l.room_freed();
        }
    }

    /// Reserves room for a batch of `payload_len` bytes without waiting. Room is taken in one
    /// part (see [`Reservation::tier`]) and held until the reservation is committed or
    /// dropped, so a write to several queues can reserve on all of them before committing to
    /// any. [`QueueError::Full`]: memory and disk are both full; [`QueueError::TooLarge`]:
    /// it would never fit.
    pub fn reserve(&self, payload_len: usize) -> Result<Reservation, QueueError> {
        let mut st = self.state();
        self.reserve_locked(&mut st, payload_len)
    }

    /// [`Queue::reserve`], waiting up to `timeout` for room while the queue is full. Blocks
    /// the thread (woken by acknowledgements of this queue, and every 50 ms for room freed
    /// in the shared memory budget); async callers should rather wait on their
    /// [`QueueListener`] and call `reserve` again.
    pub fn reserve_timeout(
        &self,
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Reservation, QueueError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state();
        loop {
            match self.reserve_locked(&mut st, payload_len) {
                Err(QueueError::Full { .. }) if Instant::now() < deadline => {
                    let wait = deadline
                        .saturating_duration_since(Instant::now())
                        .min(RESERVE_POLL);
                    st = self
                        .shared
                        .room
                        .wait_timeout(st, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                other => return other,
            }
        }
    }

    fn reserve_locked(&self, st: &mut State, len: usize) -> Result<Reservation, QueueError> {
        if st.destroyed {
            return Err(QueueError::Destroyed);
        }
        let limits = &self.shared.limits;
        let bytes = len as u64;
        let mem_cost = bytes + BATCH_OVERHEAD;
        // A new segment's header may be needed: counted so the limit is never passed.
        let disk_cost = bytes + RECORD_HEADER_LEN + HEADER_LEN;
        // A batch the shared budget can never hold will not fit in memory either.
        let memory_limit = limits.memory_bytes.min(self.shared.budget.limit());
        if len > MAX_PAYLOAD || (mem_cost > memory_limit && disk_cost > limits.disk_bytes) {
            return Err(QueueError::TooLarge {
                bytes,
                memory_limit,
                disk_limit: limits.disk_bytes,
            });
        }
        let disk_unread = st.writing.is_some()
            || st.reserved_disk > 0
            || st.segments.last().is_some_and(|s| s.last > st.delivered);
        let order = if disk_unread {
            [Tier::Disk, Tier::Memory]
        } else {
            [Tier::Memory, Tier::Disk]
        };
        for tier in order {
            let cost = match tier {
                Tier::Memory => {
                    if st.memory_bytes + st.reserved_memory + mem_cost > limits.memory_bytes
                        || !self.shared.budget.try_take(mem_cost)
                    {
                        continue;
                    }
                    st.reserved_memory += mem_cost;
                    mem_cost
                }
                Tier::Disk => {
                    if st.disk_bytes + st.reserved_disk + disk_cost > limits.disk_bytes {
                        continue;
                    }
                    st.reserved_disk += disk_cost;
                    disk_cost
                }
            };
            return Ok(Reservation {
                queue: self.clone(),
                tier,
                bytes,
                cost,
                live: true,
            });
        }
        Err(QueueError::Full { bytes })
    }

    fn release(&self, tier: Tier, cost: u64) {
        let mut st = self.state();
        match tier {
            Tier::Memory => {
                st.reserved_memory -= cost;
                self.shared.budget.give_back(cost);
            }
            Tier::Disk => st.reserved_disk -= cost,
        }
        drop(st);
        self.notify_room();
    }

    /// Reserves and commits in one call: returns once the batch is in memory or written to
    /// its segment file. Returns its sequence number.
    pub fn push(&self, payload: Bytes, points: u32) -> Result<u64, QueueError> {
        self.reserve(payload.len())?.commit(payload, points)
    }

    fn commit_memory(&self, cost: u64, payload: Bytes, points: u32) -> Result<u64, QueueError> {
        let actual = payload.len() as u64 + BATCH_OVERHEAD;
        let mut st = self.state();
        st.reserved_memory -= cost;
        if st.destroyed {
            self.shared.budget.give_back(cost);
            return Err(QueueError::Destroyed);
        }
        self.shared.budget.give_back(cost - actual);
        let seq = st.next_seq;
        st.next_seq += 1;
        st.memory.push_back(MemEntry {
            seq,
            points,
            payload,
            cost: actual,
        });
        st.memory_bytes += actual;
        st.last_memory_seq = seq;
        drop(st);
        self.notify_data();
        Ok(seq)
    }

    fn commit_disk(&self, cost: u64, payload: Bytes, points: u32) -> Result<u64, QueueError> {
        let dir = &self.shared.dir;
        let mut w = lock(&self.shared.writer);
        let mut st = self.state();
        if st.destroyed {
            st.reserved_disk -= cost;
            return Err(QueueError::Destroyed);
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.writing = Some(seq);
        let header = RecordHeader::new(seq, points, &payload);
        let record_len = header.record_len();
        let tail = st
            .tail
            .and_then(|t| st.segments.last().filter(|s| s.first == t).copied());
        let append_to = match (&w.file, tail) {
            (Some((open, _)), Some(t))
                if *open == t.first
                    && st.last_memory_seq < t.last
                    && t.len + record_len <= self.shared.limits.segment_bytes =>
            {
                Some(t.len)
            }
            _ => None,
        };
        drop(st);

        let written = match append_to {
            Some(len) => {
                let (_, f) = w.file.as_mut().expect("checked above");
                match segment::append(f, header, &payload) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        if segment::cut_back(f, len).is_err() {
                            // Garbage may follow the published end: append no more here
                            // (reads stop at the published end; recovery cuts the rest).
                            w.file = None;
                        }
                        Err(QueueError::io(
                            "writing segment",
                            &segment::path(dir, seq),
                            e,
                        ))
                    }
                }
            }
            None => {
                w.file = None;
                segment::create(dir, seq).and_then(|mut f| {
                    match segment::append(&mut f, header, &payload) {
                        Ok(()) => {
                            w.file = Some((seq, f));
                            Ok(())
                        }
                        Err(e) => {
                            drop(f);
                            let p = segment::path(dir, seq);
                            let _ = std::fs::remove_file(&p);
                            Err(QueueError::io("writing segment", &p, e))
                        }
                    }
                })
            }
        };

        let mut st = self.state();
        st.writing = None;
        st.reserved_disk -= cost;
        if let Err(e) = written {
            // Nothing was published under `seq`; hand it out again unless a memory commit
            // took a later number meanwhile (then it is simply never used).
            if st.next_seq == seq + 1 {
                st.next_seq = seq;
            }
            drop(st);
            drop(w);
            self.notify_room();
            return Err(e);
        }
        match append_to {
            Some(_) => {
                let t = st.segments.last_mut().expect("the tail exists");
                t.last = seq;
                t.records += 1;
                t.len += record_len;
                st.disk_bytes += record_len;
            }
            None => {
                st.segments.push(SegMeta {
                    first: seq,
                    last: seq,
                    records: 1,
                    acked_records: 0,
                    len: HEADER_LEN + record_len,
                });
                st.tail = Some(seq);
                st.disk_bytes += HEADER_LEN + record_len;
            }
        }
        st.spilled_batches += 1;
        st.spilled_bytes += payload.len() as u64;
        drop(st);
        drop(w);
        self.notify_data();
        Ok(seq)
    }

    /// The next batch not handed out since the last [`rewind`](Queue::rewind), in sequence
    /// order, read back from disk if it is there; it stays queued until acknowledged.
    /// `Ok(None)`: nothing to hand out now (wait for [`QueueListener::data_ready`]). An I/O
    /// error leaves the cursor where it was. A record whose checksum fails is skipped,
    /// logged and counted in [`QueueStats::corrupt_batches`].
    pub fn next(&self) -> Result<Option<Delivery>, QueueError> {
        let mut rd = lock(&self.shared.reader);
        loop {
            let mut st = self.state();
            if st.destroyed {
                return Err(QueueError::Destroyed);
            }
            let d = st.delivered;
            let mi = st.memory.partition_point(|e| e.seq <= d);
            let mem = st.memory.get(mi).map(|e| e.seq);
            let si = st.segments.partition_point(|s| s.last <= d);
            let seg = st.segments.get(si).copied();
            // A batch in memory is never inside a segment's range, so once the cursor is
            // inside one, that segment holds the next batch.
            let from_disk = match (mem, seg) {
                (_, Some(s)) if d >= s.first => Some(s),
                (Some(m), Some(s)) => (s.first < m).then_some(s),
                (None, Some(s)) => Some(s),
                (_, None) => None,
            };
            let next_seq = match (from_disk, mem) {
                (Some(s), _) => s.first.max(d + 1),
                (None, Some(m)) => m,
                (None, None) => u64::MAX,
            };
            // A disk append in progress holds a smaller number: wait for it to be published.
            if st.writing.is_some_and(|w| w < next_seq) {
                return Ok(None);
            }
            let Some(s) = from_disk else {
                let Some(e) = st.memory.get(mi) else {
                    return Ok(None);
                };
                let delivery = Delivery {
                    seq: e.seq,
                    points: e.points,
                    payload: e.payload.clone(),
                };
                mark_sent(&mut st, delivery.seq, delivery.payload.len() as u64, None);
                return Ok(Some(delivery));
            };
            drop(st);
            let outcome = self.read_disk(&mut rd, s, d)?;
            let mut st = self.state();
            match outcome {
                ReadOutcome::Record(h, payload, next_offset) => {
                    rd.hint = Some(Hint {
                        segment: s.first,
                        after: h.seq,
                        offset: next_offset,
                    });
                    mark_sent(&mut st, h.seq, u64::from(h.len), Some(s.first));
                    return Ok(Some(Delivery {
                        seq: h.seq,
                        points: h.points,
                        payload: Bytes::from(payload),
                    }));
                }
                ReadOutcome::Corrupt(seq, next_offset) => {
                    warn!(
                        task = %self.shared.task_id,
                        seq,
                        segment = %segment::path(&self.shared.dir, s.first).display(),
                        "queued batch failed its checksum, skipped"
                    );
                    rd.hint = Some(Hint {
                        segment: s.first,
                        after: seq,
                        offset: next_offset,
                    });
                    st.corrupt_batches += 1;
                    mark_sent(&mut st, seq, 0, Some(s.first));
                }
                ReadOutcome::Unreadable(why) => {
                    warn!(
                        task = %self.shared.task_id,
                        after = d,
                        segment = %segment::path(&self.shared.dir, s.first).display(),
                        reason = %why,
                        "rest of a queue segment unreadable, skipped"
                    );
                    rd.hint = None;
                    st.corrupt_batches += 1;
                    mark_sent(&mut st, s.last, 0, Some(s.first));
                }
            }
        }
    }

    /// Reads the first record after `after` in segment `s` (published part only).
    fn read_disk(
        &self,
        rd: &mut ReaderState,
        s: SegMeta,
        after: u64,
    ) -> Result<ReadOutcome, QueueError> {
        let p = segment::path(&self.shared.dir, s.first);
        let io = |e: io::Error| QueueError::io("reading segment", &p, e);
        if rd.file.as_ref().is_none_or(|(first, _)| *first != s.first) {
            rd.file = None;
            rd.file = Some((s.first, File::open(&p).map_err(io)?));
        }
        let (_, f) = rd.file.as_ref().expect("opened above");
        let mut offset = match rd.hint {
            Some(h) if h.segment == s.first && h.after == after => h.offset,
            _ => HEADER_LEN,
        };
        // Skip what was already handed out (after a rewind: a scan of record headers).
        loop {
            if offset + RECORD_HEADER_LEN > s.len {
                return Ok(ReadOutcome::Unreadable(format!(
                    "no record after {after} before offset {}",
                    s.len
                )));
            }
            let h = segment::read_header_at(f, offset).map_err(io)?;
            if h.record_len() > s.len - offset || h.seq > s.last {
                return Ok(ReadOutcome::Unreadable(format!(
                    "implausible record header at offset {offset}"
                )));
            }
            if h.seq > after {
                let payload = segment::read_payload_at(f, offset, &h).map_err(io)?;
                let next = offset + h.record_len();
                if !h.checks(&payload) {
                    return Ok(ReadOutcome::Corrupt(h.seq, next));
                }
                return Ok(ReadOutcome::Record(h, payload, next));
            }
            offset += h.record_len();
        }
    }

    /// Acknowledges every batch up to `seq`: frees their memory, and deletes the segment
    /// files whose records are all acknowledged. Acknowledging less than before does
    /// nothing; more than was ever handed out is [`QueueError::AckAhead`].
    pub fn ack(&self, seq: u64) -> Result<(), QueueError> {
        let mut rd = lock(&self.shared.reader);
        let mut guard = self.state();
        if guard.destroyed {
            return Err(QueueError::Destroyed);
        }
        if seq > guard.highest_delivered {
            return Err(QueueError::AckAhead {
                seq,
                delivered: guard.highest_delivered,
            });
        }
        if seq <= guard.acked {
            return Ok(());
        }
        let st = &mut *guard;
        let old_delivered = st.delivered;
        while let Some(s) = st.sent.front()
            && s.seq <= seq
        {
            let s = st.sent.pop_front().expect("front exists");
            if s.seq <= old_delivered {
                st.in_flight_batches -= 1;
                st.in_flight_bytes -= s.len;
            }
            if let Some(first) = s.segment
                && let Some(m) = st.segments.iter_mut().find(|m| m.first == first)
            {
                m.acked_records += 1;
            }
        }
        st.acked = seq;
        st.delivered = st.delivered.max(seq);
        let mut freed = 0;
        while let Some(e) = st.memory.front()
            && e.seq <= seq
        {
            freed += e.cost;
            st.memory.pop_front();
        }
        st.memory_bytes -= freed;
        self.shared.budget.give_back(freed);

        let mut doomed = Vec::new();
        let mut tail_done = false;
        let tail = st.tail;
        let mut kept = Vec::with_capacity(st.segments.len());
        for m in st.segments.drain(..) {
            if m.last > seq {
                kept.push(m);
            } else if Some(m.first) == tail {
                tail_done = true;
                kept.push(m);
            } else {
                st.disk_bytes -= m.len;
                doomed.push(m.first);
            }
        }
        st.segments = kept;
        drop(guard);
        for first in &doomed {
            if rd.file.as_ref().is_some_and(|(f, _)| f == first) {
                rd.file = None;
            }
            self.remove_segment(*first);
        }
        if tail_done {
            // The segment being appended to is drained: take the writer so that no append
            // is under way, then delete it (the next append starts a new one).
            let mut w = lock(&self.shared.writer);
            let mut st = self.state();
            let acked = st.acked;
            if let Some(t) = st.tail
                && let Some(m) = st.segments.last().copied()
                && m.first == t
                && m.last <= acked
            {
                st.segments.pop();
                st.disk_bytes -= m.len;
                st.tail = None;
                w.file = None;
                drop(st);
                drop(w);
                if rd.file.as_ref().is_some_and(|(f, _)| *f == t) {
                    rd.file = None;
                }
                self.remove_segment(t);
                doomed.push(t);
            }
        }
        drop(rd);
        if freed > 0 || !doomed.is_empty() {
            self.notify_room();
        }
        Ok(())
    }

    fn remove_segment(&self, first: u64) {
        if let Err(e) = segment::remove(&segment::path(&self.shared.dir, first)) {
            // Its records are acknowledged: left behind, they come back after a restart as
            // duplicates, never as loss.
            warn!(task = %self.shared.task_id, error = %e, "could not delete an acknowledged queue segment");
        }
    }

    /// Makes the next [`next`](Queue::next) start again at the first unacknowledged batch
    /// (a worker reconnected: what it had not acknowledged is sent again). Nothing is in
    /// flight afterwards.
    pub fn rewind(&self) {
        let mut rd = lock(&self.shared.reader);
        let mut st = self.state();
        st.delivered = st.acked;
        st.in_flight_batches = 0;
        st.in_flight_bytes = 0;
        rd.hint = None;
    }

    /// Writes every unacknowledged batch held in memory to segment files (fsynced, with the
    /// directory) and records the acknowledged floor, so that a restart finds them all and
    /// does not hand out acknowledged ones again. Meant for a clean shutdown; the queue stays
    /// usable (the batches are then read back from disk). Ignores the disk limit: what was
    /// in memory was already accepted. Returns how many batches it wrote; on an error, the
    /// batches not yet written stay in memory.
    pub fn persist_memory(&self) -> Result<u64, QueueError> {
        let mut rd = lock(&self.shared.reader);
        let mut w = lock(&self.shared.writer);
        let mut st = self.state();
        if st.destroyed {
            return Err(QueueError::Destroyed);
        }
        let dir = self.shared.dir.clone();
        // Later appends start a segment of their own, after the ones written here.
        w.file = None;
        st.tail = None;
        rd.hint = None;
        let mut persisted = 0;
        let mut synced_any = false;
        while let Some(front) = st.memory.front() {
            let first = front.seq;
            // A run ends where a segment starts: ranges stay disjoint.
            let boundary = st
                .segments
                .iter()
                .map(|s| s.first)
                .find(|&f| f > first)
                .unwrap_or(u64::MAX);
            let n = st.memory.iter().take_while(|e| e.seq < boundary).count();
            let (len, last) = write_run(&dir, st.memory.range(..n))?;
            synced_any = true;
            let mut freed = 0;
            for e in st.memory.drain(..n) {
                freed += e.cost;
            }
            st.memory_bytes -= freed;
            self.shared.budget.give_back(freed);
            let at = st.segments.partition_point(|s| s.first < first);
            st.segments.insert(
                at,
                SegMeta {
                    first,
                    last,
                    records: n as u64,
                    acked_records: 0,
                    len,
                },
            );
            st.disk_bytes += len;
            for s in st.sent.iter_mut() {
                if s.segment.is_none() && (first..=last).contains(&s.seq) {
                    s.segment = Some(first);
                }
            }
            persisted += n as u64;
        }
        ack_file::write(&dir, st.acked)?;
        if synced_any {
            segment::sync_dir(&dir)?;
        }
        Ok(persisted)
    }

    /// Deletes the queue and its directory (the task was deleted or disabled). Every later
    /// call on any handle of it is [`QueueError::Destroyed`]; waiters are woken.
    pub fn destroy(&self) -> Result<(), QueueError> {
        let mut rd = lock(&self.shared.reader);
        let mut w = lock(&self.shared.writer);
        let mut st = self.state();
        if st.destroyed {
            return Ok(());
        }
        st.destroyed = true;
        w.file = None;
        rd.file = None;
        rd.hint = None;
        self.shared.budget.give_back(st.memory_bytes);
        st.memory.clear();
        st.memory_bytes = 0;
        st.segments.clear();
        st.tail = None;
        st.disk_bytes = 0;
        st.sent.clear();
        st.in_flight_batches = 0;
        st.in_flight_bytes = 0;
        drop(st);
        drop(w);
        drop(rd);
        let result = match std::fs::remove_dir_all(&self.shared.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(QueueError::io(
                "removing queue directory",
                &self.shared.dir,
                e,
            )),
        };
        self.notify_room();
        result
    }

    /// What the memory part holds ([`QueueStats::memory_bytes`] without the rest).
    pub fn memory_bytes(&self) -> u64 {
        self.state().memory_bytes
    }

    /// Payload bytes handed out by `next` and not acknowledged ([`QueueStats::in_flight_bytes`]
    /// without the rest of the snapshot): a consumer's flow-control window.
    pub fn in_flight_bytes(&self) -> u64 {
        self.state().in_flight_bytes
    }

    pub fn stats(&self) -> QueueStats {
        let st = self.state();
        let acked = st.acked;
        let oldest = [
            st.memory.front().map(|e| e.seq),
            st.sent.front().map(|s| s.seq),
            st.segments
                .iter()
                .find(|s| s.last > acked)
                .map(|s| s.first.max(acked + 1)),
        ]
        .into_iter()
        .flatten()
        .min();
        QueueStats {
            memory_batches: st.memory.len() as u64,
            memory_bytes: st.memory_bytes,
            disk_batches: st
                .segments
                .iter()
                .map(|s| s.records.saturating_sub(s.acked_records))
                .sum(),
            disk_bytes: st.disk_bytes,
            disk_segments: st.segments.len() as u64,
            spilled_batches: st.spilled_batches,
            spilled_bytes: st.spilled_bytes,
            in_flight_batches: st.in_flight_batches,
            in_flight_bytes: st.in_flight_bytes,
            reserved_memory_bytes: st.reserved_memory,
            reserved_disk_bytes: st.reserved_disk,
            oldest_seq: oldest,
            next_seq: st.next_seq,
            acked_seq: acked,
            corrupt_batches: st.corrupt_batches,
        }
    }
}

fn mark_sent(st: &mut State, seq: u64, len: u64, segment: Option<u64>) {
    st.delivered = seq;
    if seq > st.highest_delivered {
        st.highest_delivered = seq;
        st.sent.push_back(Sent { seq, len, segment });
    }
    st.in_flight_batches += 1;
    st.in_flight_bytes += len;
}

/// Writes batches held in memory as one new segment, fsynced; returns its length and last
/// sequence number. A failure removes the partial file.
fn write_run<'a>(
    dir: &Path,
    entries: impl Iterator<Item = &'a MemEntry>,
) -> Result<(u64, u64), QueueError> {
    let mut entries = entries.peekable();
    let first = entries.peek().map_or(0, |e| e.seq);
    let p = segment::path(dir, first);
    let mut f = segment::create(dir, first)?;
    let mut len = HEADER_LEN;
    let mut last = first;
    let written = (|| {
        for e in entries {
            let h = RecordHeader::new(e.seq, e.points, &e.payload);
            segment::append(&mut f, h, &e.payload)?;
            len += h.record_len();
            last = e.seq;
        }
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok((len, last)),
        Err(e) => {
            drop(f);
            let _ = std::fs::remove_file(&p);
            Err(QueueError::io("persisting queued batches", &p, e))
        }
    }
}

/// Room held in one queue for one batch, until [`commit`](Reservation::commit)ted or
/// dropped (dropping releases it).
#[must_use = "a reservation holds room until committed or dropped"]
pub struct Reservation {
    queue: Queue,
    tier: Tier,
    bytes: u64,
    cost: u64,
    live: bool,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("task_id", &self.queue.task_id())
            .field("tier", &self.tier)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// The part the batch will be kept in.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The payload bytes reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Enqueues the batch (at most the reserved size) and returns its sequence number, once
    /// it is in memory or its bytes are written to the segment file (`write(2)` done, no
    /// fsync: it survives a kill of the process, not a power loss). A disk error is returned
    /// (see [`QueueError::is_no_space`]) and nothing is enqueued; the reservation is released
    /// either way.
    pub fn commit(mut self, payload: Bytes, points: u32) -> Result<u64, QueueError> {
        let got = payload.len() as u64;
        if got > self.bytes {
            return Err(QueueError::OverReservation {
                reserved: self.bytes,
                got,
            });
        }
        self.live = false;
        match self.tier {
            Tier::Memory => self.queue.commit_memory(self.cost, payload, points),
            Tier::Disk => self.queue.commit_disk(self.cost, payload, points),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.live {
            self.queue.release(self.tier, self.cost);
        }
    }
}
