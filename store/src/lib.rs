//! Durable state of one kapacitord member, in a single redb file.
//!
//! Values are JSON wrapped as `{"version": N, "value": ...}` (as Kapacitor's own
//! `storage.VersionWrapper`), never postcard: the file must stay readable across builds, and
//! fields can be added with `#[serde(default)]`. The schema version of the whole file lives in
//! the `meta` table; a file written by a newer schema is refused rather than misread.
//!
//! redb takes an exclusive lock on the file, which doubles as the "one kapacitord per data
//! directory" guard. Exactly one process opens it: the supervisor.

#[cfg(test)]
mod disk_faults;
mod records;

pub use records::{DbrpRecord, TaskRecord, TaskStatus, TemplateRecord};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    const ALL: [Namespace; 6] = [
        Namespace::Tasks,
        Namespace::Templates,
        Namespace::TopicHandlers,
        Namespace::TopicStates,
        Namespace::ConfigOverrides,
        Namespace::LoadItems,
    ];

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
    /// The file could not be read or written (disk full, quota, EIO...). The store has closed
    /// the database; the next operation reopens it.
    #[error("storage: I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
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
    /// redb refused the database after an earlier I/O failure ("Previous I/O error occurred"):
    /// the handle must be dropped and the file opened again. Never leaves [`Store`], which
    /// reopens and retries instead.
    #[error("storage: the database needs to be reopened after an earlier I/O error")]
    NeedsReopen,
}

impl StoreError {
    /// The OS error of a failed read or write of the file, if that is what this is.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The disk or the user's quota is full (ENOSPC, EDQUOT): HTTP 507, not 500.
    pub fn is_disk_full(&self) -> bool {
        self.io_error().is_some_and(is_disk_full)
    }
}

/// Whether an OS error says the disk or the quota is full (ENOSPC, EDQUOT).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Every redb error, sorted by what it means for the handle: an I/O failure (the handle is
/// dead: redb latches it and answers "Previous I/O error occurred" from then on), a handle
/// that must be reopened, or anything else (bad input, corruption), which leaves it usable.
fn from_redb(e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(source) => StoreError::Io {
            path: PathBuf::new(),
            source,
        },
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => StoreError::NeedsReopen,
        other => StoreError::Db(other.to_string()),
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { from_redb(e.into()) }
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

/// The store: one redb file, reopened after an I/O failure.
///
/// redb latches a failed write or fsync (a commit on a full disk): the handle answers
/// "Previous I/O error occurred" to everything after it until it is dropped and the file is
/// opened again, which repairs it to the last good commit (commits are atomic). So the store
/// answers the I/O error and marks the handle failed; the next operation drops it and opens
/// the file again: once space is back it succeeds, without a restart and with every earlier
/// commit in place. While the file cannot be reopened each operation tries again and answers
/// why not. The failed handle is kept until then because it holds the file lock (the
/// one-kapacitord-per-data-directory guard); only a reopen that fails leaves the file unlocked
/// until one succeeds.
pub struct Store {
    path: PathBuf,
    opener: Opener,
    slot: Mutex<Slot>,
}

struct Slot {
    /// `None` only after a reopen failed.
    db: Option<Database>,
    /// The handle saw an I/O error: redb refuses it from now on.
    failed: bool,
}

/// Opens the redb database at a path; a parameter so that tests can put a disk that fails
/// under it.
type Opener = Box<dyn Fn(&Path) -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// A record's key with the record, or why it cannot be read.
pub type Keyed<T> = (String, Result<T, StoreError>);

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Box::new(|p| Database::create(p)))
    }

    fn open_with(path: &Path, opener: Opener) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Db(format!("creating {}: {e}", dir.display())))?;
        }
        let store = Store {
            path: path.to_path_buf(),
            opener,
            slot: Mutex::new(Slot {
                db: None,
                failed: false,
            }),
        };
        let db = store.open_db()?;
        store.init_schema(&db).map_err(|e| store.named(e))?;
        store.slot().db = Some(db);
        Ok(store)
    }

    fn open_db(&self) -> Result<Database, StoreError> {
        (self.opener)(&self.path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Db(format!(
                "{} is already open by another process (is another kapacitord running on this data directory?)",
                self.path.display()
            )),
            redb::DatabaseError::Storage(redb::StorageError::Io(source)) => StoreError::Io {
                path: self.path.clone(),
                source,
            },
            other => StoreError::Db(format!("opening {}: {other}", self.path.display())),
        })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Names the file in an I/O error raised inside redb.
    fn named(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Io { source, .. } => StoreError::Io {
                path: self.path.clone(),
                source,
            },
            other => other,
        }
    }

    /// Runs `f` on the database, opening it again first if an I/O error failed the handle.
    /// `f` is one transaction: when redb refuses it for an earlier failure (which the store
    /// did not see), nothing was written, so it runs once more on a fresh handle.
    fn with_db<R>(&self, f: impl Fn(&Database) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let mut slot = self.slot();
        for attempt in 0..2 {
            if slot.failed || slot.db.is_none() {
                // The old handle must be gone first: it holds the file lock, and dropping it
                // is what lets the next open repair the file.
                slot.db = None;
                let db = self.open_db()?;
                self.check_schema(&db).map_err(|e| self.named(e))?;
                tracing::info!(path = %self.path.display(), "storage reopened after an I/O error");
                *slot = Slot {
                    db: Some(db),
                    failed: false,
                };
            }
            let Some(db) = slot.db.as_ref() else {
                unreachable!("opened above")
            };
            match f(db) {
                Err(StoreError::NeedsReopen) if attempt == 0 => slot.failed = true,
                Err(StoreError::NeedsReopen) => {
                    slot.failed = true;
                    return Err(StoreError::Db(format!(
                        "{} fails right after being reopened",
                        self.path.display()
                    )));
                }
                Err(e @ StoreError::Io { .. }) => {
                    slot.failed = true;
                    let e = self.named(e);
                    tracing::warn!(error = %e, "storage failed with an I/O error; the next operation reopens it");
                    return Err(e);
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    fn init_schema(&self, db: &Database) -> Result<(), StoreError> {
        if self.check_schema(db)? {
            return Ok(());
        }
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if meta.get("schema_version")?.is_none() {
                meta.insert("schema_version", SCHEMA_VERSION.to_string().as_str())?;
            }
            for ns in Namespace::ALL {
                txn.open_table(ns.table())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Refuses a file of a newer schema; `Ok(true)` when every table exists already (a reopen
    /// then writes nothing: the disk may still be full).
    fn check_schema(&self, db: &Database) -> Result<bool, StoreError> {
        let txn = db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let found = meta
            .get("schema_version")?
            .map(|v| v.value().parse::<u32>().unwrap_or(u32::MAX));
        match found {
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew {
                path: self.path.display().to_string(),
                found: v,
            }),
            None => Ok(false),
            Some(_) => {
                for ns in Namespace::ALL {
                    match txn.open_table(ns.table()) {
                        Ok(_) => {}
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(true)
            }
        }
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        ns: Namespace,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(ns.table())?;
            match table.get(key)? {
                Some(v) => decode(ns, key, v.value()).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Every record of a namespace in key order. An unreadable record is an error that names
    /// it, rather than being skipped: silently dropping a task is worse than refusing to list.
    pub fn list<T: DeserializeOwned>(&self, ns: Namespace) -> Result<Vec<(String, T)>, StoreError> {
        self.list_each(ns)?
            .into_iter()
            .map(|(key, rec)| rec.map(|r| (key, r)))
            .collect()
    }

    /// Every record of a namespace in key order, each decoded on its own: one unreadable
    /// record is reported in its slot instead of hiding the others (boot must start every
    /// task it can, and name the ones it cannot).
    pub fn list_each<T: DeserializeOwned>(
        &self,
        ns: Namespace,
    ) -> Result<Vec<Keyed<T>>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(ns.table())?;
            let mut out = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let key = k.value().to_string();
                let rec = decode(ns, &key, v.value());
                out.push((key, rec));
            }
            Ok(out)
        })
    }

    pub fn put<T: Serialize>(&self, ns: Namespace, key: &str, value: &T) -> Result<(), StoreError> {
        self.apply(&[Op::Put(ns, key.to_string(), encode(ns, value)?)])
    }

    /// Removes a record; returns whether it existed.
    pub fn delete(&self, ns: Namespace, key: &str) -> Result<bool, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            let existed = {
                let mut table = txn.open_table(ns.table())?;
                table.remove(key)?.is_some()
            };
            txn.commit()?;
            Ok(existed)
        })
    }

    /// Applies several changes in one durable transaction (all or nothing).
    pub fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            for op in ops {
                apply_op(&txn, op)?;
            }
            txn.commit()?;
            Ok(())
        })
    }
}

fn apply_op(txn: &redb::WriteTransaction, op: &Op) -> Result<(), StoreError> {
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
    Ok(())
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
