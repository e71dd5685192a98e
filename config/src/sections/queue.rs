//! `[queue]`: apid's durable task queues (what `/write` accepted for a task and the task has
//! not processed yet). Not a Kapacitor section: Kapacitor blocks writes instead.

use crate::{ByteSize, GoDuration};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct QueueConfig {
    /// Where each task's queue keeps its segment files (one directory per task). A relative
    /// path is taken under `data_dir`, and the default follows a non-default `data_dir`: see
    /// [`Config::queue_dir`](crate::Config::queue_dir).
    pub dir: PathBuf,
    /// Batches kept in memory per task before they spill to disk; 0 writes every batch to
    /// disk before `/write` answers.
    pub memory_per_task: ByteSize,
    /// Cap on the memory of all task queues together; beyond it batches spill.
    pub memory_total: ByteSize,
    /// Disk a task's queue may use; when memory and disk are full, `/write` waits.
    pub disk_per_task: ByteSize,
    /// Size of a segment file; disk space is given back a segment at a time.
    pub segment_size: ByteSize,
    /// How long `/write` waits for room in a full queue before answering 503.
    pub write_timeout: GoDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            dir: PathBuf::from("/var/lib/kapacitor/queues"),
            memory_per_task: ByteSize::mib(32),
            memory_total: ByteSize::mib(256),
            disk_per_task: ByteSize::gib(1),
            segment_size: ByteSize::mib(16),
            write_timeout: GoDuration::from_secs(10),
        }
    }
}
