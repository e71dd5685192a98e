//! Points of `kapacitorLoopback()` nodes on their way to apid, which routes them as a
//! `/write` of their database and retention policy. Bounded: while apid is away at most
//! [`CAP`] points wait; beyond that the oldest writes are dropped and counted.

use crate::engine::LoopbackWrite;
use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Points waiting for apid at most.
pub const CAP: usize = 100_000;

#[derive(Default)]
struct State {
    writes: VecDeque<LoopbackWrite>,
    points: usize,
    dropped: u64,
}

pub struct LoopbackOutbox {
    state: Mutex<State>,
    ready: Notify,
}

static OUTBOX: LazyLock<LoopbackOutbox> = LazyLock::new(|| LoopbackOutbox {
    state: Mutex::new(State::default()),
    ready: Notify::new(),
});

/// The process's loopback outbox.
pub fn outbox() -> &'static LoopbackOutbox {
    &OUTBOX
}

impl LoopbackOutbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From the engine thread.
    pub fn push(&self, writes: Vec<LoopbackWrite>) {
        if writes.is_empty() {
            return;
        }
        let mut st = self.lock();
        for w in writes {
            st.points += w.2.len();
            st.writes.push_back(w);
        }
        while st.points > CAP {
            let Some(old) = st.writes.pop_front() else {
                break;
            };
            st.points -= old.2.len();
            st.dropped += old.2.len() as u64;
        }
        drop(st);
        self.ready.notify_one();
    }

    /// The next write to send, if any.
    pub fn pop(&self) -> Option<LoopbackWrite> {
        let mut st = self.lock();
        let w = st.writes.pop_front()?;
        st.points -= w.2.len();
        Some(w)
    }

    /// Puts back a write that could not be delivered, ahead of the others (bounded as
    /// `push`: past [`CAP`] points the oldest queued behind it are dropped and counted).
    pub fn unshift(&self, write: LoopbackWrite) {
        let mut st = self.lock();
        st.points += write.2.len();
        st.writes.push_front(write);
        while st.points > CAP && st.writes.len() > 1 {
            let Some(old) = st.writes.remove(1) else {
                break;
            };
            st.points -= old.2.len();
            st.dropped += old.2.len() as u64;
        }
    }

    /// Resolves when something was pushed since the last wait.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Points apid refused for good.
    pub fn count_dropped(&self, points: usize) {
        self.lock().dropped += points as u64;
    }

    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::Point;

    fn w(n: usize) -> LoopbackWrite {
        let p = Point {
            name: "m".into(),
            tags: Default::default(),
            fields: Default::default(),
            time: 0,
        };
        ("db".into(), "rp".into(), vec![p; n])
    }

    #[test]
    fn bounded_oldest_first() {
        let o = LoopbackOutbox {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
        };
        o.push(vec![w(CAP), w(2)]);
        assert_eq!(o.dropped(), CAP as u64, "the oldest write went");
        assert_eq!(o.pop().unwrap().2.len(), 2);
        assert!(o.pop().is_none());
    }
}
