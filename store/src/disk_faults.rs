//! The store on a failing disk: a redb backend that fails writes with a chosen OS error
//! (the disk, not our code, is what is faked), and the real thing on a small tmpfs.

use super::*;
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// Fails every write, resize and sync with `errno` while it is non-zero.
#[derive(Debug)]
struct FailingDisk {
    inner: FileBackend,
    errno: Arc<AtomicI32>,
}

impl FailingDisk {
    fn check(&self) -> io::Result<()> {
        match self.errno.load(Ordering::SeqCst) {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

impl StorageBackend for FailingDisk {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(s, e)
    }
}

/// A store whose disk fails on demand: set the returned errno, clear it to 0.
fn store_on_failing_disk(path: &Path) -> (Store, Arc<AtomicI32>) {
    let errno = Arc::new(AtomicI32::new(0));
    let e = errno.clone();
    let opener: Opener = Box::new(move |p| {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)?;
        Database::builder().create_with_backend(FailingDisk {
            inner: FileBackend::new(file)?,
            errno: e.clone(),
        })
    });
    (Store::open_with(path, opener).unwrap(), errno)
}

fn task(id: &str) -> TaskRecord {
    TaskRecord::new_for_test(id)
}

fn ids(s: &Store) -> Vec<String> {
    s.list::<TaskRecord>(Namespace::Tasks)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// What redb itself does, which the store works around: after a failed commit the handle
/// refuses everything ("Previous I/O error occurred") even once the disk works again. If a
/// redb upgrade changes this, the reopen in `Store::with_db` may no longer be needed.
#[test]
fn redb_latches_a_failed_commit_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let errno = Arc::new(AtomicI32::new(0));
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    let db = Database::builder()
        .create_with_backend(FailingDisk {
            inner: FileBackend::new(file).unwrap(),
            errno: errno.clone(),
        })
        .unwrap();
    let t: TableDefinition<&str, &str> = TableDefinition::new("t");
    let txn = db.begin_write().unwrap();
    txn.open_table(t).unwrap().insert("a", "1").unwrap();
    txn.commit().unwrap();
    errno.store(libc::ENOSPC, Ordering::SeqCst);
    let txn = db.begin_write().unwrap();
    txn.open_table(t).unwrap().insert("b", "2").unwrap();
    assert!(txn.commit().is_err());
    errno.store(0, Ordering::SeqCst);
    let again = db.begin_write().err().expect("the handle stays failed");
    assert!(again.to_string().contains("Previous I/O error"), "{again}");
    drop(db);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(t).unwrap();
    assert_eq!(table.get("a").unwrap().unwrap().value(), "1");
    assert!(table.get("b").unwrap().is_none());
}

#[test]
fn a_full_disk_is_a_typed_error_and_the_store_heals_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let (s, errno) = store_on_failing_disk(&path);
    s.put(Namespace::Tasks, "a", &task("a")).unwrap();
    s.put(Namespace::Tasks, "b", &task("b")).unwrap();

    errno.store(libc::ENOSPC, Ordering::SeqCst);
    let e = s.put(Namespace::Tasks, "c", &task("c")).unwrap_err();
    assert!(e.is_disk_full(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains("k.db"), "{msg}");
    // Still full: every attempt answers why, none answers "Previous I/O error".
    for _ in 0..3 {
        match s.delete(Namespace::Tasks, "a") {
            Err(e) => assert!(e.is_disk_full(), "{e}"),
            Ok(_) => panic!("a delete committed on a full disk"),
        }
    }

    errno.store(0, Ordering::SeqCst);
    s.put(Namespace::Tasks, "c", &task("c")).unwrap();
    assert_eq!(ids(&s), ["a", "b", "c"]);
    drop(s);
    // The plain file holds every commit, as a restart would see it.
    let s = Store::open(&path).unwrap();
    assert_eq!(ids(&s), ["a", "b", "c"]);
}

/// The handle that failed keeps the file lock until the store reopens the file, so a second
/// kapacitord cannot take the data directory meanwhile.
#[test]
fn a_failed_store_keeps_the_data_directory_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let (s, errno) = store_on_failing_disk(&path);
    errno.store(libc::ENOSPC, Ordering::SeqCst);
    assert!(s.put(Namespace::Tasks, "a", &task("a")).is_err());
    let other = Store::open(&path).err().expect("the file must stay locked");
    assert!(other.to_string().contains("already open"), "{other}");
    errno.store(0, Ordering::SeqCst);
    s.put(Namespace::Tasks, "a", &task("a")).unwrap();
    assert!(Store::open(&path).is_err());
}

#[test]
fn other_io_errors_are_not_disk_full_and_heal_too() {
    let dir = tempfile::tempdir().unwrap();
    let (s, errno) = store_on_failing_disk(&dir.path().join("k.db"));
    s.put(Namespace::Tasks, "a", &task("a")).unwrap();
    errno.store(libc::EIO, Ordering::SeqCst);
    let e = s
        .apply(&[
            Op::put(Namespace::Tasks, "b", &task("b")).unwrap(),
            Op::Delete(Namespace::Tasks, "a".into()),
        ])
        .unwrap_err();
    assert!(!e.is_disk_full(), "{e}");
    assert_eq!(
        e.io_error().and_then(io::Error::raw_os_error),
        Some(libc::EIO)
    );
    assert!(e.to_string().contains("Input/output error"), "{e}");
    errno.store(0, Ordering::SeqCst);
    // The failed transaction left nothing behind; the store works again.
    assert_eq!(ids(&s), ["a"]);
    s.put(Namespace::Tasks, "b", &task("b")).unwrap();
    assert_eq!(ids(&s), ["a", "b"]);
}

#[test]
fn quota_exceeded_counts_as_disk_full() {
    let e = StoreError::Io {
        path: "/x".into(),
        source: io::Error::from_raw_os_error(libc::EDQUOT),
    };
    assert!(e.is_disk_full());
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; `None` (with a loud
/// note) where this process may not mount (not root, no CAP_SYS_ADMIN).
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run"
            );
            return None;
        }
        Some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    let _ = f.sync_all();
}

#[test]
fn a_real_full_tmpfs_answers_enospc_and_heals_once_space_is_freed() {
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let path = fs.path().join("kapacitor.db");
    let s = Store::open(&path).unwrap();
    for id in ["a", "b"] {
        s.put(Namespace::Tasks, id, &task(id)).unwrap();
    }
    let filler = fs.path().join("filler");
    fill(&filler);

    // A record bigger than what is left, so the commit needs new pages.
    let mut big = task("big");
    big.script = "x".repeat(512 * 1024);
    let e = s.put(Namespace::Tasks, "big", &big).unwrap_err();
    assert!(e.is_disk_full(), "{e:?}");
    let e = s.put(Namespace::Tasks, "big", &big).unwrap_err();
    assert!(e.is_disk_full(), "still full: {e:?}");
    assert!(!e.to_string().contains("Previous I/O"), "{e}");

    std::fs::remove_file(&filler).unwrap();
    s.put(Namespace::Tasks, "big", &big).unwrap();
    assert_eq!(ids(&s), ["a", "b", "big"]);
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(ids(&s), ["a", "b", "big"]);
}
