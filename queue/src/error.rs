use std::io;
use std::path::{Path, PathBuf};

/// Why a queue operation failed. Nothing that was committed before is lost by any of these;
/// the queue stays usable after every one but [`QueueError::Destroyed`].
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Memory and disk budgets are both full (counting reservations): wait for the consumer
    /// to acknowledge, or refuse the write (HTTP 503).
    #[error("queue full: no room for {bytes} more bytes in memory or on disk")]
    Full { bytes: u64 },
    /// The batch is larger than the memory limit and the disk limit: it can never fit.
    #[error(
        "batch of {bytes} bytes is larger than the queue's memory ({memory_limit} bytes) and disk ({disk_limit} bytes) limits"
    )]
    TooLarge {
        bytes: u64,
        memory_limit: u64,
        disk_limit: u64,
    },
    /// A commit carried more bytes than its reservation.
    #[error("commit of {got} bytes exceeds the reservation of {reserved} bytes")]
    OverReservation { reserved: u64, got: u64 },
    /// An acknowledgement of a batch that was never handed out.
    #[error("acknowledgement of batch {seq}, but only up to {delivered} was handed out")]
    AckAhead { seq: u64, delivered: u64 },
    #[error("the queue was destroyed")]
    Destroyed,
    #[error("invalid task id {0:?} for a queue")]
    InvalidTaskId(String),
    /// A disk error (ENOSPC, EIO, ...). See [`QueueError::is_no_space`].
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file in the queue directory that is not a segment this build wrote: refused rather
    /// than deleted.
    #[error("{}: {reason}", path.display())]
    BadSegment { path: PathBuf, reason: String },
    #[error("{}: segment format version {version} is not supported by this build", path.display())]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("queue directory {} belongs to task {found:?}, not {wanted:?}", path.display())]
    DirectoryMismatch {
        path: PathBuf,
        wanted: String,
        found: String,
    },
}

impl QueueError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> QueueError {
        QueueError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A disk that is out of space or quota (ENOSPC, EDQUOT, or EFBIG from a file size
    /// limit): the caller answers 507 and a later push may succeed once space is freed.
    pub fn is_no_space(&self) -> bool {
        match self {
            QueueError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)
            ),
            _ => false,
        }
    }
}
