//! apid's records of recordings and replays: one versioned JSON index per kind in the replay
//! directory (`recordings.json`, `replays.json`), rewritten through a temp file and a rename
//! so a crash leaves the old or the new index, never half of one.
//!
//! A write that fails (disk full) never replaces the good index. A request's own change
//! (create, remove) is undone in memory and answered with the error; a record's state change
//! (a recording finished or failed) stays in memory and is written with the next write of the
//! index, which every read retries while one is pending.
//!
//! The data files next to them (`<id>.srpl`, `<id>.brpl`) are Kapacitor's formats, so
//! recordings can be copied between servers: at start every data file the index does not know
//! is registered as a finished recording, and whatever was `running` when apid stopped is
//! `failed` with Kapacitor's `unexpected Kapacitor shutdown`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing::{error, info, warn};

/// Version of the index files' layout.
pub const INDEX_VERSION: u64 = 1;

/// Error of a recording or replay that was running when the daemon stopped.
pub const SHUTDOWN_ERROR: &str = "unexpected Kapacitor shutdown";

pub const RUNNING: &str = "running";
pub const FINISHED: &str = "finished";
pub const FAILED: &str = "failed";

/// One recording, as stored and as the API shows it (without its link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingMeta {
    pub id: String,
    /// `stream` or `batch`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    /// RFC 3339: when it started, then when it finished.
    pub date: String,
    #[serde(default)]
    pub error: String,
    pub status: String,
    #[serde(default)]
    pub progress: f64,
}

/// One replay, as stored and as the API shows it (without its link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayMeta {
    pub id: String,
    pub task: String,
    /// Empty for a live replay (`replays/batch`, `replays/query`).
    pub recording: String,
    #[serde(rename = "recording-time")]
    pub recording_time: bool,
    /// `fast` or `real`.
    pub clock: String,
    pub date: String,
    #[serde(default)]
    pub error: String,
    pub status: String,
    #[serde(default)]
    pub progress: f64,
    /// The task's `{"task-stats","node-stats"}` once it finished.
    #[serde(default)]
    pub stats: Option<Value>,
}

/// Something kept in an index, by id.
pub trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for RecordingMeta {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Keyed for ReplayMeta {
    fn key(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0} already exists")]
    Exists(&'static str),
    #[error("writing {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl IndexError {
    /// The OS error of a failed write, if that is what this is.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            IndexError::Io { source, .. } => Some(source),
            IndexError::Exists(_) => None,
        }
    }
}

/// A versioned JSON file of records by id, kept in memory and rewritten on every change.
pub struct JsonIndex<T> {
    path: PathBuf,
    /// The array's key in the file (`recordings`, `replays`), also the noun of errors.
    what: &'static str,
    items: Mutex<Items<T>>,
}

struct Items<T> {
    by_id: BTreeMap<String, T>,
    /// A change is in memory that the last write could not put on disk.
    unsaved: bool,
}

#[derive(Deserialize)]
struct IndexFile<T> {
    version: u64,
    #[serde(flatten)]
    rest: BTreeMap<String, Vec<T>>,
}

impl<T: Keyed + Clone + Serialize + DeserializeOwned> JsonIndex<T> {
    /// Reads the index at `path` (none yet: empty). An unreadable index is moved aside to
    /// `<path>.corrupt` (never overwritten, so nothing is lost) and the index starts empty.
    pub fn open(path: PathBuf, what: &'static str) -> JsonIndex<T> {
        let items = match std::fs::read(&path) {
            Ok(bytes) => match parse_index::<T>(&bytes, what) {
                Ok(items) => items,
                Err(e) => {
                    let aside = path.with_extension("json.corrupt");
                    error!(path = %path.display(), error = %e, aside = %aside.display(),
                        "unreadable index; moved aside, starting empty");
                    let _ = std::fs::rename(&path, &aside);
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                error!(path = %path.display(), error = %e, "cannot read index; starting empty");
                BTreeMap::new()
            }
        };
        JsonIndex {
            path,
            what,
            items: Mutex::new(Items {
                by_id: items,
                unsaved: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Items<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The records, after retrying the write of a change that could not be saved.
    fn read(&self) -> std::sync::MutexGuard<'_, Items<T>> {
        let mut items = self.lock();
        if items.unsaved && self.save(&mut items).is_ok() {
            info!(path = %self.path.display(), "index written after an earlier failure");
        }
        items
    }

    pub fn get(&self, id: &str) -> Option<T> {
        self.read().by_id.get(id).cloned()
    }

    pub fn all(&self) -> Vec<T> {
        self.read().by_id.values().cloned().collect()
    }

    /// Adds a record whose id is new; when it cannot be written it is not added.
    pub fn create(&self, item: T) -> Result<(), IndexError> {
        let mut items = self.lock();
        if items.by_id.contains_key(item.key()) {
            return Err(IndexError::Exists(singular(self.what)));
        }
        let key = item.key().to_string();
        items.by_id.insert(key.clone(), item);
        self.save(&mut items).inspect_err(|_| {
            items.by_id.remove(&key);
        })
    }

    /// Changes a record in place; `Ok(None)` when there is no such record. The change stays
    /// in memory even when it cannot be written (see the module doc).
    pub fn update(&self, id: &str, f: impl FnOnce(&mut T)) -> Result<Option<T>, IndexError> {
        let mut items = self.lock();
        let Some(item) = items.by_id.get_mut(id) else {
            return Ok(None);
        };
        f(item);
        let out = item.clone();
        self.save(&mut items)?;
        Ok(Some(out))
    }

    /// Changes every record `pick` selects (one write for all of them), as `update`.
    pub fn update_all(&self, mut f: impl FnMut(&mut T) -> bool) -> Result<Vec<T>, IndexError> {
        let mut items = self.lock();
        let mut changed = Vec::new();
        for item in items.by_id.values_mut() {
            if f(item) {
                changed.push(item.clone());
            }
        }
        if !changed.is_empty() {
            self.save(&mut items)?;
        }
        Ok(changed)
    }

    /// Removes a record; when that cannot be written it stays.
    pub fn remove(&self, id: &str) -> Result<Option<T>, IndexError> {
        let mut items = self.lock();
        let Some(old) = items.by_id.remove(id) else {
            return Ok(None);
        };
        match self.save(&mut items) {
            Ok(()) => Ok(Some(old)),
            Err(e) => {
                items.by_id.insert(id.to_string(), old);
                Err(e)
            }
        }
    }

    /// Writes the whole index (temp file, fsync, rename) and notes whether memory and disk
    /// now agree.
    fn save(&self, items: &mut Items<T>) -> Result<(), IndexError> {
        let result = self.write(&items.by_id);
        items.unsaved = result.is_err();
        result
    }

    fn write(&self, items: &BTreeMap<String, T>) -> Result<(), IndexError> {
        let list: Vec<&T> = items.values().collect();
        let mut doc = serde_json::Map::new();
        doc.insert("version".into(), INDEX_VERSION.into());
        doc.insert(
            self.what.into(),
            serde_json::to_value(&list).unwrap_or(Value::Null),
        );
        let body = serde_json::to_vec_pretty(&Value::Object(doc)).unwrap_or_default();
        write_atomically(&self.path, &body).map_err(|source| IndexError::Io {
            path: self.path.display().to_string(),
            source,
        })
    }
}

fn singular(what: &'static str) -> &'static str {
    match what {
        "recordings" => "recording",
        "replays" => "replay",
        other => other,
    }
}

fn parse_index<T: Keyed + DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<BTreeMap<String, T>, String> {
    let file: IndexFile<Value> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != INDEX_VERSION {
        return Err(format!(
            "index version {} is not {INDEX_VERSION}",
            file.version
        ));
    }
    let mut out = BTreeMap::new();
    for (n, v) in file.rest.get(what).into_iter().flatten().enumerate() {
        // One bad record is logged and skipped; the others stay usable.
        match serde_json::from_value::<T>(v.clone()) {
            Ok(item) => {
                out.insert(item.key().to_string(), item);
            }
            Err(e) => warn!(what, index = n, error = %e, "unreadable record skipped"),
        }
    }
    Ok(out)
}

/// Writes `body` to `path` through `<path>.tmp`, fsynced, then renamed over `path`. On
/// failure `path` is untouched and the temp file is removed (it may hold half the body, and
/// the space it takes is what a full disk needs back).
pub fn write_atomically(path: &Path, body: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let write = || -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()
    };
    if let Err(e) = write().and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Both indexes of one replay directory.
pub struct Store {
    pub dir: PathBuf,
    pub recordings: JsonIndex<RecordingMeta>,
    pub replays: JsonIndex<ReplayMeta>,
}

impl Store {
    /// Opens (creating the directory) and repairs the store as Kapacitor does at start:
    /// running records become failed, unknown data files become finished recordings.
    /// Returns the ids of the replays that were running (their workers may still exist).
    pub fn open(dir: &Path) -> io::Result<(Store, Vec<String>)> {
        std::fs::create_dir_all(dir)?;
        let store = Store {
            dir: dir.to_path_buf(),
            recordings: JsonIndex::open(dir.join("recordings.json"), "recordings"),
            replays: JsonIndex::open(dir.join("replays.json"), "replays"),
        };
        let now = crate::api_json::now_rfc3339();
        let fail = |status: &mut String, error: &mut String| {
            if status == RUNNING {
                *status = FAILED.into();
                *error = SHUTDOWN_ERROR.into();
                true
            } else {
                false
            }
        };
        if let Err(e) = store
            .recordings
            .update_all(|r| fail(&mut r.status, &mut r.error))
        {
            error!(error = %e, "cannot mark interrupted recordings failed");
        }
        let interrupted = match store
            .replays
            .update_all(|r| fail(&mut r.status, &mut r.error))
        {
            Ok(v) => v.into_iter().map(|r| r.id).collect(),
            Err(e) => {
                error!(error = %e, "cannot mark interrupted replays failed");
                Vec::new()
            }
        };
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let kind = match ext {
                "srpl" => "stream",
                "brpl" => "batch",
                _ => continue,
            };
            if store.recordings.get(stem).is_some() || !crate::api_json::valid_id(stem) {
                continue;
            }
            let meta = entry.metadata().ok();
            let date = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| kapacitor_models::time_fmt::rfc3339_nano(d.as_nanos() as i64))
                .unwrap_or_else(|| now.clone());
            let rec = RecordingMeta {
                id: stem.to_string(),
                kind: kind.into(),
                size: meta.map(|m| m.len()).unwrap_or(0),
                date,
                error: String::new(),
                status: FINISHED.into(),
                progress: 1.0,
            };
            if let Err(e) = store.recordings.create(rec) {
                error!(file = %path.display(), error = %e, "cannot register recording file");
            }
        }
        Ok((store, interrupted))
    }

    /// `<dir>/<id>.srpl` or `.brpl`.
    pub fn data_path(&self, id: &str, kind: &str) -> PathBuf {
        let ext = if kind == "batch" { "brpl" } else { "srpl" };
        self.dir.join(format!("{id}.{ext}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, status: &str) -> RecordingMeta {
        RecordingMeta {
            id: id.into(),
            kind: "stream".into(),
            size: 0,
            date: "2020-01-01T00:00:00Z".into(),
            error: String::new(),
            status: status.into(),
            progress: 0.0,
        }
    }

    #[test]
    fn index_round_trips_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recordings.json");
        let idx: JsonIndex<RecordingMeta> = JsonIndex::open(path.clone(), "recordings");
        idx.create(rec("a", RUNNING)).unwrap();
        assert!(matches!(
            idx.create(rec("a", RUNNING)),
            Err(IndexError::Exists("recording"))
        ));
        idx.update("a", |r| r.size = 7).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["recordings"][0]["size"], 7);
        let again: JsonIndex<RecordingMeta> = JsonIndex::open(path, "recordings");
        assert_eq!(again.get("a").unwrap().size, 7);
        assert_eq!(again.remove("a").unwrap().unwrap().id, "a");
        assert!(again.get("a").is_none());
    }

    /// A write that fails leaves the good file, never lists a record whose create failed,
    /// keeps a state change in memory and writes it once writing works again.
    #[test]
    fn failed_writes_keep_the_good_file_and_heal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recordings.json");
        let idx: JsonIndex<RecordingMeta> = JsonIndex::open(path.clone(), "recordings");
        idx.create(rec("a", RUNNING)).unwrap();
        let good = std::fs::read(&path).unwrap();
        // A directory where the temp file goes makes every write fail (as root too).
        let blocker = path.with_extension("tmp");
        std::fs::create_dir(&blocker).unwrap();

        let e = idx.create(rec("b", RUNNING)).unwrap_err();
        assert!(e.io_error().is_some(), "{e}");
        assert!(
            idx.get("b").is_none(),
            "a record that was not stored is listed"
        );
        assert!(idx.remove("a").is_err());
        assert!(
            idx.get("a").is_some(),
            "a failed delete must keep the record"
        );
        assert!(idx.update("a", |r| r.status = FINISHED.into()).is_err());
        assert_eq!(idx.get("a").unwrap().status, FINISHED);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            good,
            "the good file was replaced"
        );

        std::fs::remove_dir(&blocker).unwrap();
        // The next read writes the pending change.
        assert_eq!(idx.all().len(), 1);
        let again: JsonIndex<RecordingMeta> = JsonIndex::open(path.clone(), "recordings");
        assert_eq!(again.get("a").unwrap().status, FINISHED);
        idx.create(rec("b", RUNNING)).unwrap();
        assert!(!blocker.exists());
    }

    #[test]
    fn a_failed_atomic_write_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, b"good").unwrap();
        // Renaming a file over a non-empty directory fails after the temp file was written.
        let target = dir.path().join("d.json");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("f"), b"").unwrap();
        assert!(write_atomically(&target, b"new").is_err());
        assert!(!dir.path().join("d.tmp").exists());
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_corrupt_index_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replays.json");
        std::fs::write(&path, "{not json").unwrap();
        let idx: JsonIndex<ReplayMeta> = JsonIndex::open(path.clone(), "replays");
        assert!(idx.all().is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("replays.json.corrupt")).unwrap(),
            "{not json"
        );
    }

    #[test]
    fn open_fails_running_records_and_registers_unknown_files() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path()).unwrap();
            store.recordings.create(rec("r1", RUNNING)).unwrap();
            store.recordings.create(rec("r2", FINISHED)).unwrap();
        }
        std::fs::write(dir.path().join("copied.srpl"), b"x").unwrap();
        std::fs::write(dir.path().join("b.brpl"), b"yy").unwrap();
        std::fs::write(dir.path().join("other.txt"), b"z").unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let r1 = store.recordings.get("r1").unwrap();
        assert_eq!(
            (r1.status.as_str(), r1.error.as_str()),
            (FAILED, SHUTDOWN_ERROR)
        );
        assert_eq!(store.recordings.get("r2").unwrap().status, FINISHED);
        let c = store.recordings.get("copied").unwrap();
        assert_eq!(
            (c.kind.as_str(), c.size, c.status.as_str()),
            ("stream", 1, FINISHED)
        );
        assert_eq!(store.recordings.get("b").unwrap().kind, "batch");
        assert_eq!(store.recordings.all().len(), 4);
    }
}
