//! The table of open HTTP connections: what each one is doing (a request in progress, idle
//! since when, a request head being read since when), the limit, and which connection makes
//! room for a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Milliseconds since the table was made, never 0 (0 means "not set" in [`ConnState`]).
#[derive(Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64 + 1
    }

    pub fn instant(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms.saturating_sub(1))
    }
}

/// One connection's state, shared by its task, its I/O wrapper and its requests.
pub(crate) struct ConnState {
    id: u64,
    clock: Clock,
    /// Requests whose response has not been sent completely.
    busy: AtomicU32,
    /// When it last had nothing in progress (accept, end of a response).
    idle_since: AtomicU64,
    /// When the head of the next request started arriving (at accept, as in Go: the first
    /// request's headers are timed from the connection); 0 while none is being read.
    head_since: AtomicU64,
    /// Told to close (room for a new connection); it will not be chosen again.
    evicting: AtomicBool,
    /// Wakes the connection's task to recompute its deadline or to close.
    pub changed: Notify,
}

/// What a connection's task should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// A request is in progress: no timeout until it ends.
    None,
    /// The request head has not arrived by then: close at once.
    Header(Instant),
    /// Idle until then: close gracefully.
    Idle(Instant),
}

impl ConnState {
    /// Bytes arrived. While nothing is in progress they are the start of a request head.
    pub fn on_read(&self) {
        if self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0 {
            self.head_since
                .store(self.clock.now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// A request's head was parsed and handed to the router.
    pub fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
    }

    /// A request's response was sent (or abandoned).
    pub fn request_finished(&self) {
        if self.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since
                .store(self.clock.now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    pub fn is_evicting(&self) -> bool {
        self.evicting.load(Ordering::Acquire)
    }

    pub fn deadline(&self, header_timeout: Duration, idle_timeout: Duration) -> Deadline {
        if self.busy.load(Ordering::Acquire) > 0 {
            return Deadline::None;
        }
        match self.head_since.load(Ordering::Acquire) {
            0 => Deadline::Idle(
                self.clock.instant(self.idle_since.load(Ordering::Acquire)) + idle_timeout,
            ),
            since => Deadline::Header(self.clock.instant(since) + header_timeout),
        }
    }
}

/// Whether a new connection may be served.
pub(crate) enum Admission {
    Admitted(Arc<ConnState>),
    /// Admitted after telling the longest-idle connection to close.
    MadeRoom(Arc<ConnState>),
    /// Every connection has a request in progress.
    Full,
}

pub(crate) struct ConnTable {
    max: usize,
    clock: Clock,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
}

impl ConnTable {
    pub fn new(max: usize) -> ConnTable {
        ConnTable {
            max: max.max(1),
            clock: Clock(Instant::now()),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection, making room at the limit by evicting the connection that
    /// has been idle longest (no request in progress); `Full` when every one is busy.
    pub fn admit(&self) -> Admission {
        let mut conns = self.lock();
        let leaving = conns.values().filter(|c| c.is_evicting()).count();
        let mut made_room = false;
        if conns.len() - leaving >= self.max {
            match self.idlest(&conns) {
                Some(victim) => {
                    victim.evicting.store(true, Ordering::Release);
                    victim.changed.notify_one();
                    made_room = true;
                }
                None => return Admission::Full,
            }
        }
        let now = self.clock.now_ms();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            id,
            clock: self.clock,
            busy: AtomicU32::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now),
            evicting: AtomicBool::new(false),
            changed: Notify::new(),
        });
        conns.insert(id, state.clone());
        if made_room {
            Admission::MadeRoom(state)
        } else {
            Admission::Admitted(state)
        }
    }

    /// Tells the longest-idle connection to close (the process ran out of descriptors).
    pub fn evict_idlest(&self) -> bool {
        let conns = self.lock();
        match self.idlest(&conns) {
            Some(victim) => {
                victim.evicting.store(true, Ordering::Release);
                victim.changed.notify_one();
                true
            }
            None => false,
        }
    }

    fn idlest<'a>(&self, conns: &'a HashMap<u64, Arc<ConnState>>) -> Option<&'a Arc<ConnState>> {
        conns
            .values()
            .filter(|c| !c.is_evicting() && c.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|c| c.idle_since.load(Ordering::Acquire))
    }

    pub fn remove(&self, state: &ConnState) {
        self.lock().remove(&state.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(a: Admission) -> Arc<ConnState> {
        match a {
            Admission::Admitted(s) | Admission::MadeRoom(s) => s,
            Admission::Full => panic!("refused"),
        }
    }

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room() {
        let t = ConnTable::new(2);
        let a = state(t.admit());
        std::thread::sleep(Duration::from_millis(3));
        let b = state(t.admit());
        b.request_started();
        // Full: `a` is idle, `b` busy, so `a` goes.
        let c = match t.admit() {
            Admission::MadeRoom(s) => s,
            _ => panic!("room should have been made"),
        };
        assert!(a.is_evicting() && !b.is_evicting() && !c.is_evicting());
        c.request_started();
        // `b` and `c` busy, `a` leaving: nobody can make room.
        assert!(matches!(t.admit(), Admission::Full));
        t.remove(&a);
        assert!(matches!(t.admit(), Admission::Full));
        b.request_finished();
        assert!(matches!(t.admit(), Admission::MadeRoom(_)));
        assert!(b.is_evicting() && !c.is_evicting());
    }

    #[test]
    fn deadlines_follow_the_connection_state() {
        let t = ConnTable::new(10);
        let s = state(t.admit());
        let h = Duration::from_secs(10);
        let i = Duration::from_secs(120);
        // A new connection is reading its first request head.
        assert!(matches!(s.deadline(h, i), Deadline::Header(_)));
        s.request_started();
        assert_eq!(s.deadline(h, i), Deadline::None);
        s.request_finished();
        assert!(matches!(s.deadline(h, i), Deadline::Idle(_)));
        s.on_read();
        assert!(matches!(s.deadline(h, i), Deadline::Header(_)));
    }
}
