//! Gives the memory of a burst of large writes back to the OS once it is over.
//!
//! mimalloc (the process's allocator) purges freed memory only after a delay (1 s) and only
//! when some thread allocates or collects afterwards: an apid that goes quiet after a burst of
//! large `/write`s would keep the burst's size resident indefinitely. A forced collect purges
//! every freed range at once (program wide for large blocks, this thread's pages for small
//! ones); it costs a walk of this thread's pages and the page faults of the next burst, so it
//! runs only when a burst of at least [`RELEASE_AFTER`] bytes has just ended.

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
