//! The cluster-replicated topic handler set: a last-writer-wins map keyed by (topic, handler
//! id), with tombstones so a delete on one member cannot be undone by a stale copy elsewhere.
//!
//! Each change is stamped (Lamport version, member id): the version is one above every
//! version this member has seen, so a change made after seeing another member's change always
//! wins over it, and concurrent changes are ordered by member id, the same way everywhere.
//! Merging is idempotent, commutative and associative, so members converge whatever order
//! pushes and full syncs arrive in.
//!
//! Persisted in `<data_dir>/alert_handlers.json` (versioned JSON, written through a temporary
//! file and a rename). gossipd is the single owner of the replicated set; apid's alert service
//! applies it (see ARCHITECTURE.md, "Cluster alerting").

use kapacitor_ipc::ClusterHandler;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const HANDLERS_FILE: &str = "alert_handlers.json";
pub const FORMAT_VERSION: u32 = 1;
/// Tombstones are kept this long: a member away for longer comes back with a stale handler.
pub const TOMBSTONE_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub topic: String,
    pub id: String,
    pub version: u64,
    /// The member that made this change.
    pub member: String,
    /// The spec JSON object; `None` for a deleted handler.
    pub spec_json: Option<String>,
    /// Wall clock of the change, milliseconds since the Unix epoch (tombstone expiry only).
    pub changed_ms: u64,
}

impl Entry {
    fn newer_than(&self, other: &Entry) -> bool {
        (self.version, &self.member) > (other.version, &other.member)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HandlersFile {
    version: u32,
    clock: u64,
    revision: u64,
    handlers: Vec<Entry>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandlerSet {
    entries: BTreeMap<(String, String), Entry>,
    clock: u64,
    /// Grows with every change that altered the set (sent to apid with the set).
    revision: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlersError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
}

impl HandlerSet {
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Defines or replaces a handler; returns the entry to send to the other members.
    pub fn put(&mut self, topic: &str, id: &str, spec_json: &str, me: &str, now_ms: u64) -> Entry {
        self.change(topic, id, Some(spec_json.to_string()), me, now_ms)
    }

    /// Deletes a handler; `None` when there is no such live handler.
    pub fn delete(&mut self, topic: &str, id: &str, me: &str, now_ms: u64) -> Option<Entry> {
        let live = self
            .entries
            .get(&(topic.to_string(), id.to_string()))
            .is_some_and(|e| e.spec_json.is_some());
        live.then(|| self.change(topic, id, None, me, now_ms))
    }

    fn change(
        &mut self,
        topic: &str,
        id: &str,
        spec_json: Option<String>,
        me: &str,
        now_ms: u64,
    ) -> Entry {
        self.clock += 1;
        let e = Entry {
            topic: topic.to_string(),
            id: id.to_string(),
            version: self.clock,
            member: me.to_string(),
            spec_json,
            changed_ms: now_ms,
        };
        self.entries
            .insert((e.topic.clone(), e.id.clone()), e.clone());
        self.revision += 1;
        e
    }

    /// Merges entries from another member; returns whether the set changed.
    pub fn merge(&mut self, entries: impl IntoIterator<Item = Entry>) -> bool {
        let mut changed = false;
        for e in entries {
            self.clock = self.clock.max(e.version);
            let k = (e.topic.clone(), e.id.clone());
            match self.entries.get(&k) {
                Some(cur) if !e.newer_than(cur) => {}
                _ => {
                    self.entries.insert(k, e);
                    changed = true;
                }
            }
        }
        if changed {
            self.revision += 1;
        }
        changed
    }

    /// Every entry, tombstones included (for a full sync).
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.values().cloned().collect()
    }

    /// The live handlers, as apid applies them.
    pub fn live(&self) -> Vec<ClusterHandler> {
        self.entries
            .values()
            .filter_map(|e| {
                e.spec_json.as_ref().map(|s| ClusterHandler {
                    topic: e.topic.clone(),
                    id: e.id.clone(),
                    spec_json: s.clone(),
                })
            })
            .collect()
    }

    /// The (topic, id) of every tombstone.
    pub fn deleted(&self) -> Vec<(String, String)> {
        self.entries
            .values()
            .filter(|e| e.spec_json.is_none())
            .map(|e| (e.topic.clone(), e.id.clone()))
            .collect()
    }

    /// Forgets tombstones older than [`TOMBSTONE_TTL_MS`].
    pub fn expire_tombstones(&mut self, now_ms: u64) {
        self.entries.retain(|_, e| {
            e.spec_json.is_some() || e.changed_ms.saturating_add(TOMBSTONE_TTL_MS) > now_ms
        });
    }

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(HANDLERS_FILE)
    }

    /// Reads the file; an empty set when there is none yet.
    pub fn load(data_dir: &Path) -> Result<HandlerSet, HandlersError> {
        let p = Self::path(data_dir);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HandlerSet::default()),
            Err(source) => return Err(HandlersError::Io { path: p, source }),
        };
        let invalid = |msg: String| HandlersError::Invalid {
            path: p.clone(),
            msg,
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let version = v.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(invalid(format!(
                "unsupported format version {version:?} (expected {FORMAT_VERSION})"
            )));
        }
        let f: HandlersFile = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
        let mut set = HandlerSet {
            entries: BTreeMap::new(),
            clock: f.clock,
            revision: f.revision,
        };
        for e in f.handlers {
            set.clock = set.clock.max(e.version);
            set.entries.insert((e.topic.clone(), e.id.clone()), e);
        }
        Ok(set)
    }

    pub fn save(&self, data_dir: &Path) -> Result<(), HandlersError> {
        let p = Self::path(data_dir);
        let io_err = |source| HandlersError::Io {
            path: p.clone(),
            source,
        };
        let f = HandlersFile {
            version: FORMAT_VERSION,
            clock: self.clock,
            revision: self.revision,
            handlers: self.entries(),
        };
        // Plain data with string keys: serialising cannot fail.
        let text = serde_json::to_string_pretty(&f).unwrap_or_default();
        let tmp = p.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &p)
        };
        // A failed write leaves the old file and removes the half-written temp file.
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_change_wins_and_merge_order_does_not_matter() {
        let mut a = HandlerSet::default();
        let mut b = HandlerSet::default();
        let e1 = a.put("cpu", "h", r#"{"kind":"log"}"#, "a", 1);
        b.merge([e1.clone()]);
        // b saw a's change, so its change is newer even with a smaller member id elsewhere.
        let e2 = b.put("cpu", "h", r#"{"kind":"post"}"#, "b", 2);
        let del = b.delete("cpu", "h", "b", 3).unwrap();
        let mut x = HandlerSet::default();
        x.merge([del.clone(), e1.clone(), e2.clone()]);
        let mut y = HandlerSet::default();
        y.merge([e2, e1]);
        y.merge([del]);
        assert_eq!(x.entries(), y.entries());
        assert!(x.live().is_empty(), "the delete is the last change");
        assert_eq!(x.deleted(), vec![("cpu".to_string(), "h".to_string())]);
        assert!(b.delete("cpu", "h", "b", 4).is_none(), "already deleted");
    }

    #[test]
    fn concurrent_changes_are_ordered_by_member() {
        let mut a = HandlerSet::default();
        let mut b = HandlerSet::default();
        let ea = a.put("cpu", "h", "{\"v\":\"a\"}", "member-a", 1);
        let eb = b.put("cpu", "h", "{\"v\":\"b\"}", "member-b", 1);
        assert!(a.merge([eb.clone()]));
        assert!(!b.merge([ea]));
        assert_eq!(a.live(), b.live());
        assert_eq!(a.live()[0].spec_json, "{\"v\":\"b\"}");
        // Merging the same thing twice changes nothing.
        let rev = a.revision();
        assert!(!a.merge([eb]));
        assert_eq!(a.revision(), rev);
    }

    #[test]
    fn survives_a_restart_and_keeps_its_clock() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = HandlerSet::default();
        s.put("cpu", "h1", "{}", "a", 1);
        s.put("mem", "h2", "{}", "a", 1);
        s.delete("mem", "h2", "a", 2);
        s.save(dir.path()).unwrap();
        let mut back = HandlerSet::load(dir.path()).unwrap();
        assert_eq!(back, s);
        let e = back.put("cpu", "h1", "{}", "a", 3);
        assert_eq!(e.version, 4, "versions continue after a restart");
    }

    #[test]
    fn tombstones_expire_and_bad_files_are_errors() {
        let mut s = HandlerSet::default();
        s.put("cpu", "h", "{}", "a", 0);
        s.delete("cpu", "h", "a", 0);
        s.expire_tombstones(TOMBSTONE_TTL_MS + 1);
        assert!(s.entries().is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert!(HandlerSet::load(dir.path()).unwrap().entries().is_empty());
        for (content, needle) in [("nope", "not JSON"), ("{\"version\":2}", "version")] {
            std::fs::write(HandlerSet::path(dir.path()), content).unwrap();
            let e = HandlerSet::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(HANDLERS_FILE) && e.contains(needle), "{e}");
        }
    }
}
