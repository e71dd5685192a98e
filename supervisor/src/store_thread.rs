//! The task store on its own thread. redb calls block (fsync on commit), and the supervisor's
//! runtime is single-threaded: a slow disk must never delay a restart or a signal. Every
//! store call is a closure sent to this thread; the answer comes back on a oneshot.

use kapacitor_ipc::Message;
use kapacitor_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&Store) + Send>;

/// Handle on the store thread; cheap to clone. The thread ends when every handle is gone.
#[derive(Clone)]
pub struct StoreHandle {
    tx: std::sync::mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Opens the store at `path` on a new thread. An error (file locked by another
    /// kapacitord, newer schema, unreadable file) is returned as is.
    pub fn open(path: &Path) -> Result<StoreHandle, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let store = match Store::open(&path) {
                    Ok(s) => {
                        let _ = opened_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&store);
                }
            })
            .map_err(|e| StoreError::Db(format!("cannot start the store thread: {e}")))?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(StoreHandle { tx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Db(
                "the store thread ended while opening".into(),
            )),
        }
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = tx.send(f(store));
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Db("the store thread is gone".into()))?;
        rx.await
            .map_err(|_| StoreError::Db("the store thread ended during a call".into()))?
    }
}

/// The answer to a request the store could not serve, `message` saying what failed: an I/O
/// error on the file is `StoreFailed` (apid answers 507 for a full disk, else 500), anything
/// else `Error`.
pub fn failed(e: &StoreError, message: String) -> Message {
    if e.io_error().is_some() {
        Message::StoreFailed {
            disk_full: e.is_disk_full(),
            message,
        }
    } else {
        Message::Error { message }
    }
}

/// Where the store file lives: `[storage] boltdb`, with a relative path taken under
/// `data_dir`. The code default (`/var/lib/kapacitor/kapacitor.db`) follows a non-default
/// `data_dir`, as the demo configuration keeps both together: a configuration that only
/// moves `data_dir` must not write to `/var/lib/kapacitor`.
pub fn store_path(cfg: &kapacitor_config::Config) -> PathBuf {
    let defaults = kapacitor_config::Config::default();
    let path = &cfg.storage.boltdb;
    if path == &defaults.storage.boltdb && cfg.data_dir != defaults.data_dir {
        return cfg.data_dir.join("kapacitor.db");
    }
    if path.is_relative() {
        cfg.data_dir.join(path)
    } else {
        path.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_store::{Namespace, TaskRecord};

    #[test]
    fn store_path_follows_data_dir() {
        let mut cfg = kapacitor_config::Config::default();
        assert_eq!(
            store_path(&cfg),
            Path::new("/var/lib/kapacitor/kapacitor.db")
        );
        cfg.data_dir = PathBuf::from("/tmp/x");
        assert_eq!(store_path(&cfg), Path::new("/tmp/x/kapacitor.db"));
        cfg.storage.boltdb = PathBuf::from("k/tasks.db");
        assert_eq!(store_path(&cfg), Path::new("/tmp/x/k/tasks.db"));
        cfg.storage.boltdb = PathBuf::from("/srv/k.db");
        assert_eq!(store_path(&cfg), Path::new("/srv/k.db"));
    }

    #[test]
    fn io_errors_are_typed_answers_with_the_reason() {
        let io = |errno| StoreError::Io {
            path: "/d/k.db".into(),
            source: std::io::Error::from_raw_os_error(errno),
        };
        let full = io(28);
        assert_eq!(
            failed(&full, full.to_string()),
            Message::StoreFailed {
                disk_full: true,
                message: "storage: I/O error on /d/k.db: No space left on device (os error 28)"
                    .into()
            }
        );
        assert!(matches!(
            failed(&io(5), "x".into()),
            Message::StoreFailed {
                disk_full: false,
                ..
            }
        ));
        assert!(matches!(
            failed(&StoreError::Db("bad".into()), "bad".into()),
            Message::Error { .. }
        ));
    }

    #[tokio::test]
    async fn calls_run_on_the_store_thread_and_a_second_open_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let h = StoreHandle::open(&path).unwrap();
        h.call(|s| s.put(Namespace::Tasks, "a", &TaskRecord::new_for_test("a")))
            .await
            .unwrap();
        let got: Option<TaskRecord> = h.call(|s| s.get(Namespace::Tasks, "a")).await.unwrap();
        assert_eq!(got.unwrap().id, "a");
        let second = StoreHandle::open(&path).err().expect("locked");
        assert!(second.to_string().contains("already open"), "{second}");
    }
}
