//! The notification log: which events some owner already delivered.
//!
//! Keyed by (topic, event id, level, event time) so the copies of one alert produced by the
//! same task on two members are one entry. Merge is a set union (an entry says "done", and
//! "done" never becomes "not done"), which makes every merge order converge to the same log.
//! Entries expire `retention` after they were recorded (wall clock, milliseconds since the
//! Unix epoch, so the value means the same on every member) and the log holds at most
//! `capacity` entries, dropping the oldest first: a dropped entry can only cause a duplicate,
//! never a lost alert.

use crate::level::Level;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NoticeKey {
    pub topic: String,
    pub event_id: String,
    pub level: Level,
    /// Event time, nanoseconds since the Unix epoch.
    pub time: i64,
}

impl NoticeKey {
    pub fn of(event: &crate::Event) -> NoticeKey {
        NoticeKey {
            topic: event.topic.clone(),
            event_id: event.id.clone(),
            level: event.level,
            time: event.time,
        }
    }
}

/// "`by` delivered `key` at `at_ms`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub key: NoticeKey,
    /// The member that delivered it.
    pub by: String,
    /// Wall clock when it was delivered, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The event's state (`EventState::to_persisted_json`) as the delivering member recorded
    /// it, so every member's topic shows the same events and levels. Not in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NotificationLog {
    entries: HashMap<NoticeKey, Notice>,
    /// (recorded at, key) in expiry order.
    by_age: BTreeSet<(u64, NoticeKey)>,
    retention_ms: u64,
    capacity: usize,
}

/// Default retention: far longer than any delay-per-member chain, short enough to stay small.
pub const DEFAULT_RETENTION_MS: u64 = 15 * 60 * 1000;
pub const DEFAULT_CAPACITY: usize = 200_000;

impl Default for NotificationLog {
    fn default() -> Self {
        NotificationLog::new(DEFAULT_RETENTION_MS, DEFAULT_CAPACITY)
    }
}

impl NotificationLog {
    pub fn new(retention_ms: u64, capacity: usize) -> NotificationLog {
        NotificationLog {
            entries: HashMap::new(),
            by_age: BTreeSet::new(),
            retention_ms,
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &NoticeKey) -> bool {
        self.entries.contains_key(key)
    }

    pub fn get(&self, key: &NoticeKey) -> Option<&Notice> {
        self.entries.get(key)
    }

    /// Records a notice; `false` when the key was already there (the earlier entry stays, so
    /// that merges commute) or the notice has already expired at `now_ms`.
    pub fn insert(&mut self, notice: Notice, now_ms: u64) -> bool {
        if self.entries.contains_key(&notice.key)
            || notice.at_ms.saturating_add(self.retention_ms) <= now_ms
        {
            return false;
        }
        self.by_age.insert((notice.at_ms, notice.key.clone()));
        self.entries.insert(notice.key.clone(), notice);
        while self.entries.len() > self.capacity {
            let Some((_, k)) = self.by_age.pop_first() else {
                break;
            };
            self.entries.remove(&k);
        }
        true
    }

    /// The union with `other`; returns the notices that were new here (to re-gossip them).
    pub fn merge(&mut self, other: impl IntoIterator<Item = Notice>, now_ms: u64) -> Vec<Notice> {
        let mut fresh = Vec::new();
        for n in other {
            if self.insert(n.clone(), now_ms) {
                fresh.push(n);
            }
        }
        fresh
    }

    /// Drops the entries older than the retention.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some((at, _)) = self.by_age.first() {
            if at.saturating_add(self.retention_ms) > now_ms {
                break;
            }
            if let Some((_, k)) = self.by_age.pop_first() {
                self.entries.remove(&k);
            }
        }
    }

    /// Every entry, oldest first (for a full sync).
    pub fn snapshot(&self) -> Vec<Notice> {
        self.by_age
            .iter()
            .filter_map(|(_, k)| self.entries.get(k).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: &str, at_ms: u64) -> Notice {
        Notice {
            key: NoticeKey {
                topic: "cpu".into(),
                event_id: id.into(),
                level: Level::Critical,
                time: 1,
            },
            by: "a".into(),
            at_ms,
            state: None,
        }
    }

    #[test]
    fn union_is_order_independent() {
        let ns: Vec<Notice> = (0..20)
            .map(|i| notice(&format!("e{i}"), 1000 + i))
            .collect();
        let mut a = NotificationLog::default();
        let mut b = NotificationLog::default();
        a.merge(ns[..12].iter().cloned(), 2000);
        b.merge(ns[8..].iter().rev().cloned(), 2000);
        let fresh = a.merge(b.snapshot(), 2000);
        assert_eq!(fresh.len(), 8);
        b.merge(a.snapshot(), 2000);
        assert_eq!(a.snapshot(), b.snapshot());
        assert_eq!(a.len(), 20);
    }

    #[test]
    fn key_includes_level_and_time() {
        let mut log = NotificationLog::default();
        let n = notice("e", 10);
        assert!(log.insert(n.clone(), 10));
        assert!(!log.insert(n.clone(), 10));
        let mut other_level = n.clone();
        other_level.key.level = Level::Ok;
        assert!(log.insert(other_level, 10));
        let mut other_time = n;
        other_time.key.time = 2;
        assert!(log.insert(other_time, 10));
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn retention_and_capacity() {
        let mut log = NotificationLog::new(100, 3);
        assert!(!log.insert(notice("old", 0), 100), "already expired");
        for i in 0..5 {
            log.insert(notice(&format!("e{i}"), 50 + i), 60);
        }
        assert_eq!(log.len(), 3);
        assert!(!log.contains(&notice("e0", 0).key) && log.contains(&notice("e4", 0).key));
        log.expire(152);
        assert_eq!(log.len(), 2, "e2 recorded at 52 expires at 152");
        log.expire(1000);
        assert!(log.is_empty());
    }
}
