//! Where apid keeps its task queues (`[queue]`), and what it keeps beside each one.
//!
//! apid owns one `kapacitor_queue::Queue` per subscribed task, under `[queue] dir`, with the
//! `[queue]` limits and one `MemoryBudget` (`memory-total`) shared by all. Beside the queue's
//! segments, `subscription.json` records what the task's worker subscribed to (versioned
//! JSON: `{"version":1,"dbrps":[{"db","rp"}],"measurements":null|[...]}`), so that after an
//! apid or daemon restart writes for an enabled task are queued before its worker is back.
//!
//! At start ([`restore`]), apid asks the supervisor which tasks are enabled: queues of tasks
//! that are not (deleted or disabled while apid was down) are removed, the others opened
//! (recovering their segments) with their subscription.

use crate::registry::{Registry, Subscription};
use kapacitor_config::Config;
use kapacitor_ipc::{Dbrp, Message, Peer};
use kapacitor_queue::{MemoryBudget, Queue, QueueError, QueueLimits};
use kapacitor_store::{TaskRecord, TaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// The file beside a queue's segments that holds the task's subscription.
pub const SUBSCRIPTION_FILE: &str = "subscription.json";
const SUBSCRIPTION_VERSION: u32 = 1;

/// `[queue]` as apid uses it.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub root: PathBuf,
    pub limits: QueueLimits,
    pub budget: Arc<MemoryBudget>,
    /// How long a write waits for room before it is refused.
    pub write_timeout: Duration,
}

impl QueueSettings {
    pub fn from_config(cfg: &Config) -> QueueSettings {
        let q = &cfg.queue;
        QueueSettings {
            root: cfg.queue_dir(),
            limits: QueueLimits {
                memory_bytes: q.memory_per_task.0,
                disk_bytes: q.disk_per_task.0,
                segment_bytes: q.segment_size.0,
            },
            budget: MemoryBudget::new(q.memory_total.0),
            write_timeout: q.write_timeout.as_duration(),
        }
    }

    /// The defaults under `root` (tests).
    pub fn under(root: &Path) -> QueueSettings {
        QueueSettings {
            root: root.to_path_buf(),
            limits: QueueLimits::default(),
            budget: MemoryBudget::unlimited(),
            write_timeout: Duration::from_secs(10),
        }
    }

    /// Opens (creating or recovering) the queue of `task_id`. Blocks on disk I/O.
    pub fn open(&self, task_id: &str) -> Result<Queue, QueueError> {
        Queue::open(&self.root, task_id, self.limits, self.budget.clone())
    }
}

#[derive(Serialize, Deserialize)]
struct SubscriptionFile {
    version: u32,
    dbrps: Vec<DbrpJson>,
    measurements: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct DbrpJson {
    db: String,
    rp: String,
}

/// Writes the subscription beside the queue in `dir` (temp file + rename). Blocks.
pub fn save_subscription(dir: &Path, sub: &Subscription) -> std::io::Result<()> {
    let mut measurements: Option<Vec<String>> = sub
        .measurements
        .as_ref()
        .map(|m| m.iter().cloned().collect());
    if let Some(m) = measurements.as_mut() {
        m.sort();
    }
    let file = SubscriptionFile {
        version: SUBSCRIPTION_VERSION,
        dbrps: sub
            .dbrps
            .iter()
            .map(|d| DbrpJson {
                db: d.db.clone(),
                rp: d.rp.clone(),
            })
            .collect(),
        measurements,
    };
    let text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    let path = dir.join(SUBSCRIPTION_FILE);
    let tmp = dir.join(format!("{SUBSCRIPTION_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// The subscription saved beside the queue in `dir`; `None` when there is none or it cannot
/// be read (logged: the worker subscribes again when it connects).
pub fn load_subscription(dir: &Path) -> Option<Subscription> {
    let path = dir.join(SUBSCRIPTION_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(file = %path.display(), error = %e, "task subscription unreadable; waiting for the worker");
            return None;
        }
    };
    match serde_json::from_slice::<SubscriptionFile>(&text) {
        Ok(f) if f.version == SUBSCRIPTION_VERSION => Some(Subscription {
            dbrps: f
                .dbrps
                .into_iter()
                .map(|d| Dbrp { db: d.db, rp: d.rp })
                .collect(),
            measurements: f.measurements.map(|m| m.into_iter().collect()),
        }),
        Ok(f) => {
            warn!(file = %path.display(), version = f.version, "task subscription of an unknown version; waiting for the worker");
            None
        }
        Err(e) => {
            warn!(file = %path.display(), error = %e, "task subscription unreadable; waiting for the worker");
            None
        }
    }
}

/// The ids of the enabled tasks, from the supervisor; `None` if it could not tell.
async fn enabled_tasks(supervisor: &Peer) -> Option<HashSet<String>> {
    let answer = supervisor
        .request_timeout(Message::TaskListRequest, Duration::from_secs(30))
        .await;
    match answer {
        Ok(Message::Tasks(states)) => {
            let mut enabled = HashSet::new();
            for s in states {
                match serde_json::from_str::<TaskRecord>(&s.record_json) {
                    Ok(r) if r.status == TaskStatus::Enabled => {
                        enabled.insert(r.id);
                    }
                    Ok(_) => {}
                    // Unreadable: keep whatever queue it may have rather than lose it.
                    Err(_) => return None,
                }
            }
            Some(enabled)
        }
        Ok(other) => {
            warn!(answer = other.name(), "task list not available");
            None
        }
        Err(e) => {
            warn!(error = %e, "task list not available");
            None
        }
    }
}

/// At apid's start, before workers connect and writes are accepted: removes the queues of
/// tasks that are not enabled and gives the registry the others, with their subscriptions.
/// When the supervisor cannot tell which tasks are enabled, every queue is kept.
pub async fn restore(registry: &Registry, supervisor: &Peer) {
    let settings = registry.queue_settings().clone();
    let root = settings.root.clone();
    let ids = match tokio::task::spawn_blocking(move || kapacitor_queue::list_task_ids(&root)).await
    {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => {
            error!(error = %e, "task queues cannot be listed");
            return;
        }
        Err(_) => return,
    };
    if ids.is_empty() {
        return;
    }
    let enabled = enabled_tasks(supervisor).await;
    for id in ids {
        if enabled.as_ref().is_some_and(|e| !e.contains(&id)) {
            let root = settings.root.clone();
            let task = id.clone();
            match tokio::task::spawn_blocking(move || {
                kapacitor_queue::remove_queue_dir(&root, &task)
            })
            .await
            {
                Ok(Ok(_)) => info!(task = %id, "queue of a task that is not enabled removed"),
                Ok(Err(e)) => {
                    warn!(task = %id, error = %e, "could not remove the queue of a task that is not enabled")
                }
                Err(_) => {}
            }
            continue;
        }
        let s = settings.clone();
        let task = id.clone();
        let opened = tokio::task::spawn_blocking(move || {
            s.open(&task).map(|q| (load_subscription(q.dir()), q))
        })
        .await;
        match opened {
            Ok(Ok((sub, queue))) => {
                let stats = queue.stats();
                info!(
                    task = %id,
                    batches = stats.memory_batches + stats.disk_batches,
                    bytes = stats.disk_bytes,
                    subscribed = sub.is_some(),
                    "task queue restored"
                );
                registry.restore(&id, sub, queue);
            }
            Ok(Err(e)) => {
                error!(task = %id, error = %e, "task queue cannot be opened; writes for the task will fail")
            }
            Err(_) => {}
        }
    }
}
