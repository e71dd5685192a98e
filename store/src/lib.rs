//! Durable state of one kapacitord member, in a single redb file.
//!
//! Values are JSON wrapped as `{"version": N, "value": ...}` (as Kapacitor's own
//! `storage.VersionWrapper`), never postcard: the file must stay readable across builds, and
//! fields can be added with `#[serde(default)]`. The schema version of the whole file lives in
//! the `meta` table; a file written by a newer schema is refused rather than misread.
//!
//! redb takes an exclusive lock on the file, which doubles as the "one kapacitord per data
//! directory" guard. Exactly one process opens it: the supervisor.

mod records;

pub use records::{DbrpRecord, TaskRecord, TaskStatus, TemplateRecord};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;

/// Version of the layout of the file (tables and record versions below).
pub const SCHEMA_VERSION: u32 = 1;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// A kind of record; each is one redb table keyed by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Tasks,
    Templates,
    TopicHandlers,
    TopicStates,
    /// `POST /config` overrides, keyed `<section>/<element>` (`smtp/` for a single section).
    ConfigOverrides,
    /// What each `[load]` directory file defined, keyed by the file's path in the directory.
    LoadItems,
}

impl Namespace {
    fn table(self) -> TableDefinition<'static, &'static str, &'static str> {
        TableDefinition::new(self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Namespace::Tasks => "tasks",
            Namespace::Templates => "templates",
            Namespace::TopicHandlers => "handler-specs",
            Namespace::TopicStates => "topic-states",
            Namespace::ConfigOverrides => "config-overrides",
            Namespace::LoadItems => "load-items",
        }
    }

    /// Version of the JSON records stored in this namespace.
    fn record_version(self) -> u32 {
        1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Db(String),
    #[error("storage: record {namespace}/{key} is unreadable: {reason}")]
    Corrupt {
        namespace: &'static str,
        key: String,
        reason: String,
    },
    #[error(
        "storage: {path} has schema version {found}, newer than this build's {SCHEMA_VERSION}; refusing to open it"
    )]
    TooNew { path: String, found: u32 },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[derive(Serialize, serde::Deserialize)]
struct Wrapper<T> {
    version: u32,
    value: T,
}

pub struct Store {
    db: Database,
}

/// A record's key with the record, or why it cannot be read.
pub type Keyed<T> = (String, Result<T, StoreError>);

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Db(format!("creating {}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Db(format!(
                "{} is already open by another process (is another kapacitord running on this data directory?)",
                path.display()
            )),
            other => StoreError::Db(format!("opening {}: {other}", path.display())),
        })?;
        let store = Store { db };
        store.init_schema(path)?;
        Ok(store)
    }

    fn init_schema(&self, path: &Path) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta
                .get("schema_version")?
                .map(|v| v.value().parse::<u32>().unwrap_or(u32::MAX));
            match found {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew {
                        path: path.display().to_string(),
                        found: v,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION.to_string().as_str())?;
                }
            }
            for ns in [
                Namespace::Tasks,
                Namespace::Templates,
                Namespace::TopicHandlers,
                Namespace::TopicStates,
                Namespace::ConfigOverrides,
                Namespace::LoadItems,
            ] {
                txn.open_table(ns.table())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ns.table())?;
        match table.get(key)? {
            Some(v) => decode(ns, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every record of a namespace in key order. An unreadable record is an error that names
    /// it, rather than being skipped: silently dropping a task is worse than refusing to list.
    pub fn list<T: DeserializeOwned>(&self, ns: Namespace) -> Result<Vec<(String, T)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ns.table())?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            let key = k.value().to_string();
            let rec = decode(ns, &key, v.value())?;
            out.push((key, rec));
        }
        Ok(out)
    }

    /// Every record of a namespace in key order, each decoded on its own: one unreadable
    /// record is reported in its slot instead of hiding the others (boot must start every
    /// task it can, and name the ones it cannot).
    pub fn list_each<T: DeserializeOwned>(
        &self,
        ns: Namespace,
    ) -> Result<Vec<Keyed<T>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ns.table())?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            let key = k.value().to_string();
            let rec = decode(ns, &key, v.value());
            out.push((key, rec));
        }
        Ok(out)
    }

    pub fn put<T: Serialize>(&self, ns: Namespace, key: &str, value: &T) -> Result<(), StoreError> {
        self.apply(&[Op::Put(ns, key.to_string(), encode(ns, value)?)])
    }

    /// Removes a record; returns whether it existed.
    pub fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = {
            let mut table = txn.open_table(ns.table())?;
            table.remove(key)?.is_some()
        };
        txn.commit()?;
        Ok(existed)
    }

    /// Applies several changes in one durable transaction (all or nothing).
    pub fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        for op in ops {
            match op {
                Op::Put(ns, key, json) => {
                    txn.open_table(ns.table())?
                        .insert(key.as_str(), json.as_str())?;
                }
                Op::Delete(ns, key) => {
                    txn.open_table(ns.table())?.remove(key.as_str())?;
                }
                Op::DeletePrefix(ns, prefix) => {
                    let mut table = txn.open_table(ns.table())?;
                    let mut keys = Vec::new();
                    for item in table.range(prefix.as_str()..)? {
                        let (k, _) = item?;
                        let k = k.value();
                        if !k.starts_with(prefix.as_str()) {
                            break;
                        }
                        keys.push(k.to_string());
                    }
                    for k in keys {
                        table.remove(k.as_str())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// One change of a multi-record transaction; build puts with [`Op::put`].
#[derive(Debug, Clone)]
pub enum Op {
    Put(Namespace, String, String),
    Delete(Namespace, String),
    /// Removes every record whose key starts with the prefix (all events of a topic).
    DeletePrefix(Namespace, String),
}

/// The key of a record that belongs to a topic (a handler spec, an event state):
/// `<topic>/<id>`. Topic ids cannot contain `/`, so the first `/` splits the key again even
/// when the id (an alert event id is free text) contains one.
pub fn topic_key(topic: &str, id: &str) -> String {
    format!("{topic}/{id}")
}

/// The prefix of every key of `topic` (see [`topic_key`]).
pub fn topic_prefix(topic: &str) -> String {
    format!("{topic}/")
}

/// `(topic, id)` of a key made by [`topic_key`].
pub fn split_topic_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
}

impl Op {
    pub fn put<T: Serialize>(ns: Namespace, key: &str, value: &T) -> Result<Op, StoreError> {
        Ok(Op::Put(ns, key.to_string(), encode(ns, value)?))
    }
}

fn encode<T: Serialize>(ns: Namespace, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(&Wrapper {
        version: ns.record_version(),
        value,
    })
    .map_err(|e| StoreError::Db(format!("encoding {} record: {e}", ns.name())))
}

fn decode<T: DeserializeOwned>(ns: Namespace, key: &str, json: &str) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        namespace: ns.name(),
        key: key.to_string(),
        reason,
    };
    let w: Wrapper<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    if w.version > ns.record_version() {
        return Err(corrupt(format!(
            "record version {} is newer than this build's {}",
            w.version,
            ns.record_version()
        )));
    }
    serde_json::from_value(w.value).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kapacitor.db");
        {
            let s = Store::open(&path).unwrap();
            let t = TaskRecord::new_for_test("cpu_alert");
            s.put(Namespace::Tasks, "cpu_alert", &t).unwrap();
            s.put(Namespace::Tasks, "a", &TaskRecord::new_for_test("a"))
                .unwrap();
            assert!(s.delete(Namespace::Tasks, "a").unwrap());
            assert!(!s.delete(Namespace::Tasks, "a").unwrap());
        }
        let s = Store::open(&path).unwrap();
        let all: Vec<(String, TaskRecord)> = s.list(Namespace::Tasks).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1.id, "cpu_alert");
        let none: Option<TaskRecord> = s.get(Namespace::Tasks, "nope").unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn second_open_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kapacitor.db");
        let _s = Store::open(&path).unwrap();
        let err = Store::open(&path).err().expect("second open must fail");
        assert!(err.to_string().contains("already open"), "{err}");
    }

    #[test]
    fn newer_record_versions_and_garbage_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("k.db")).unwrap();
        s.apply(&[
            Op::Put(
                Namespace::Tasks,
                "x".into(),
                "{\"version\":99,\"value\":{}}".into(),
            ),
            Op::Put(Namespace::Templates, "y".into(), "not json".into()),
        ])
        .unwrap();
        let e = s.get::<TaskRecord>(Namespace::Tasks, "x").unwrap_err();
        assert!(e.to_string().contains("tasks/x"), "{e}");
        let e = s.list::<TemplateRecord>(Namespace::Templates).unwrap_err();
        assert!(e.to_string().contains("templates/y"), "{e}");
        s.put(Namespace::Tasks, "ok", &TaskRecord::new_for_test("ok"))
            .unwrap();
        let each = s.list_each::<TaskRecord>(Namespace::Tasks).unwrap();
        assert_eq!(each.len(), 2);
        assert_eq!(each[0].1.as_ref().unwrap().id, "ok");
        assert!(
            each[1]
                .1
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("tasks/x")
        );
    }

    #[test]
    fn delete_prefix_removes_only_that_topic() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("k.db")).unwrap();
        let v = serde_json::json!({"level": "CRITICAL"});
        let mut ops = Vec::new();
        for (t, id) in [("cpu", "a"), ("cpu", "b/c"), ("cpu2", "a"), ("cp", "u/x")] {
            ops.push(Op::put(Namespace::TopicStates, &topic_key(t, id), &v).unwrap());
        }
        s.apply(&ops).unwrap();
        s.apply(&[Op::DeletePrefix(
            Namespace::TopicStates,
            topic_prefix("cpu"),
        )])
        .unwrap();
        let left: Vec<(String, serde_json::Value)> = s.list(Namespace::TopicStates).unwrap();
        let keys: Vec<&str> = left.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cp/u/x", "cpu2/a"]);
        assert_eq!(split_topic_key("cp/u/x"), Some(("cp", "u/x")));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert("schema_version", "7")
                .unwrap();
            txn.commit().unwrap();
        }
        let e = Store::open(&path).err().unwrap();
        assert!(matches!(e, StoreError::TooNew { found: 7, .. }), "{e}");
    }
}
