//! Gives the memory of a burst of large writes back to the OS once it is over.
//!
//! mimalloc (the process's allocator) purges freed memory only after a delay (1 s) and only
//! when some thread allocates or collects afterwards: an apid that goes quiet after a burst of
//! large `/write`s would keep the burst's size resident indefinitely. A forced collect purges
//! every freed range at once (program wide for large blocks, this thread's pages for small
//! ones); it costs a walk of this thread's pages and the page faults of the next burst, so it
//! runs only when a burst of at least [`RELEASE_AFTER`] bytes has just ended.
//!
//! The batches a write leaves in the task queues' memory are freed later, when the workers
//! acknowledge them, on another thread than the runtime thread that allocated them; mimalloc
//! reclaims such blocks only when their owning thread collects. So a drained queue
//! ([`queue_drained`]) asks every runtime thread to collect once, the next time it parks
//! ([`on_thread_park`], apid's runtime hook).

// The library is linked through this dependency (the binary's global allocator is mimalloc).
use libmimalloc_sys as _;

/// Bytes of write bodies held at the peak of a burst from which memory is given back.
pub const RELEASE_AFTER: u64 = 8 * 1024 * 1024;

unsafe extern "C" {
    // mimalloc's API (`mimalloc.h`): collects this thread's heap; with `force`, also purges
    // every freed arena range now instead of after the purge delay.
    safe fn mi_collect(force: bool);
}

/// Frees what a burst left behind.
pub fn release_freed_memory() {
    mi_collect(true);
}

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped to ask every runtime thread for one collect.
static RELEASE_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Queue memory freed since the last request.
static DRAINED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SEEN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// A task queue freed `bytes` of batches held in memory; `empty`: its memory part is empty
/// now. Once queues drained at least [`RELEASE_AFTER`] bytes, the runtime threads collect.
pub fn queue_drained(bytes: u64, empty: bool) {
    let total = DRAINED.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if empty && total >= RELEASE_AFTER {
        DRAINED.store(0, Ordering::Relaxed);
        RELEASE_EPOCH.fetch_add(1, Ordering::Release);
    }
}

/// apid's runtime `on_thread_park` hook: one forced collect on this thread per request.
pub fn on_thread_park() {
    let epoch = RELEASE_EPOCH.load(Ordering::Acquire);
    SEEN_EPOCH.with(|seen| {
        if seen.get() != epoch {
            seen.set(epoch);
            mi_collect(true);
        }
    });
}
