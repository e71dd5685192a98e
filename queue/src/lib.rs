//! One task's durable queue of encoded batches, for apid's `/write` path (issue 13: nothing
//! accepted is ever lost).
//!
//! A [`Queue`] holds opaque payloads (in practice "kapacitor batch v1", see
//! `kapacitor_models::batch_wire`) with a point count and a sequence number each. It keeps
//! them in memory up to [`QueueLimits::memory_bytes`] (and a [`MemoryBudget`] shared by all
//! queues of the process), then in segment files under its directory up to
//! [`QueueLimits::disk_bytes`]; beyond both, room cannot be reserved
//! ([`QueueError::Full`]) and the caller pushes back (HTTP 503). One consumer takes batches
//! with [`Queue::next`] and acknowledges them with [`Queue::ack`]; [`Queue::rewind`] sends the
//! unacknowledged ones again (worker reconnected).
//!
//! It depends on no other crate of the workspace and on no async runtime: apid wires it to
//! its HTTP handlers and worker links (a [`QueueListener`] bridges to async wake-ups).
//!
//! # Guarantees
//!
//! * **Order**: batches are handed out in sequence-number order, which is commit order,
//!   wherever they are kept; after a rewind or a restart, from the first unacknowledged one.
//! * **Delivery**: at least once. A batch is handed out again after a rewind, and after a
//!   restart, unless it was acknowledged and its segment file deleted (or a clean shutdown
//!   recorded the acknowledged floor).
//! * **Durability of a committed batch** ([`Reservation::commit`] / [`Queue::push`] returned):
//!   - on disk (spilled, or every batch with `memory_bytes = 0`): its bytes went through
//!     `write(2)`, no fsync. It survives a crash or `kill -9` of the process (the page cache
//!     belongs to the kernel); it does not survive a power loss or kernel crash.
//!   - in memory: it survives a clean shutdown that calls [`Queue::persist_memory`] (which
//!     fsyncs), not a `kill -9`.
//! * **Recovery** ([`Queue::open`]): every record is checked (length, CRC-32, sequence
//!   order); a segment is cut at its first torn or damaged record, which is logged and
//!   reported, and the next segments are still read. A segment written by a newer format
//!   version, or a file that is not ours, is an error, never deleted.
//! * **Bounds**: memory held is at most the memory limit (payload + [`BATCH_OVERHEAD`] a
//!   batch) and within the shared budget; segment files stay within the disk limit
//!   (headers counted), except that `persist_memory` writes what memory held regardless. The
//!   consumer's in-flight batches are counted ([`QueueStats::in_flight_bytes`]) so its
//!   caller can bound a flow-control window.
//! * **Errors**: a disk error on a push is returned ([`QueueError::is_no_space`] for
//!   ENOSPC/EDQUOT/EFBIG) with nothing enqueued; the queue stays usable and nothing committed
//!   before is lost.
//!
//! A queue's directory is named from its task id so that any id stays inside the root
//! ([`queue_dir_name`]); [`list_task_ids`] and [`remove_queue_dir`] serve apid's startup.

mod dirname;
mod error;
mod limits;
mod queue;
mod segment;

pub use dirname::{
    MAX_PLAIN_NAME, list_task_ids, queue_dir, queue_dir_name, remove_queue_dir,
    task_id_from_dir_name,
};
pub use error::QueueError;
pub use limits::{BATCH_OVERHEAD, MemoryBudget, QueueLimits};
pub use queue::{
    Delivery, MAX_PAYLOAD, OWNER_FILE_SUFFIX, Queue, QueueListener, QueueStats, RecoveryReport,
    Reservation, Tier,
};
pub use segment::Cut;

#[cfg(test)]
mod tests;
