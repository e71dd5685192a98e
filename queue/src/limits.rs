//! What a queue may hold: its own limits, and the memory budget it shares with the other
//! queues of the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a batch in memory is charged besides its payload (entry, reference count,
/// bookkeeping), so that a flood of tiny batches is bounded too.
pub const BATCH_OVERHEAD: u64 = 64;

/// Limits of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Payload bytes (+ [`BATCH_OVERHEAD`] a batch) kept in memory. 0: every batch is
    /// written to disk (write-through).
    pub memory_bytes: u64,
    /// Bytes of segment files (headers included). 0: nothing is spilled; a full memory part
    /// makes the queue full.
    pub disk_bytes: u64,
    /// A segment file is closed and a new one started when a record would take it past this
    /// size (a record larger than this gets a segment of its own). Disk space is given back a
    /// whole segment at a time, so `disk_bytes` should be several segments.
    pub segment_bytes: u64,
}

impl Default for QueueLimits {
    /// The `[queue]` defaults: 32 MiB in memory, 1 GiB on disk, 16 MiB segments.
    fn default() -> Self {
        QueueLimits {
            memory_bytes: 32 << 20,
            disk_bytes: 1 << 30,
            segment_bytes: 16 << 20,
        }
    }
}

/// Memory shared by several queues (`[queue] memory-total`): a batch is kept in memory only
/// when both its queue's limit and this budget allow it; otherwise it goes to disk.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// A budget that never refuses (only the queues' own limits apply).
    pub fn unlimited() -> Arc<MemoryBudget> {
        MemoryBudget::new(u64::MAX)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held (or reserved) in memory by all queues sharing this budget.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn try_take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    pub(crate) fn give_back(&self, n: u64) {
        if n > 0 {
            let before = self.used.fetch_sub(n, Ordering::AcqRel);
            debug_assert!(before >= n, "memory budget went negative");
        }
    }
}
