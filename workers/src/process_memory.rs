//! The task's memory budget (`[task] memory-limit`): a worker whose memory passes it stops its
//! task with `task <id> exceeded its memory budget of N MiB` instead of growing until the
//! kernel's OOM killer picks a process (maybe another task's, or apid).
//!
//! What is measured: the process's resident anonymous memory (heap and stacks; not the pages
//! of the executable, which every process of kapacitord shares), from `/proc/self/statm`
//! (`resident - shared`). The kernel keeps those counters per process, so a read is one
//! `pread` of a file kept open (1-3 µs): the engine thread checks after every batch of points
//! and every tick (see `process_engine`), at most once per millisecond so that a stream of
//! one-point batches does not pay it per point.
//!
//! When the budget is passed the engine thread stops taking commands and reports through the
//! [`MemoryBudget`] it shares with the process shell, which tells the supervisor
//! (`Message::TaskFailed`, so the task is marked failed rather than restarted) and exits:
//! the exit is what gives the memory back.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The least time between two reads of the process's memory.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The budget of one worker process, shared by the shell and the engine thread.
#[derive(Debug, Clone, Default)]
pub struct MemoryBudget {
    inner: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    task_id: String,
    /// Bytes; 0: no budget.
    limit: u64,
    exceeded: watch::Sender<Option<BudgetExceeded>>,
}

/// The task used more memory than its budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task_id} exceeded its memory budget of {limit_mib} MiB (resident {used_mib} MiB)")]
pub struct BudgetExceeded {
    pub task_id: String,
    pub limit_mib: u64,
    pub used_mib: u64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes for task `task_id`; 0 means none.
    pub fn new(task_id: &str, limit: u64) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(Shared {
                task_id: task_id.to_string(),
                limit,
                exceeded: watch::Sender::new(None),
            }),
        }
    }

    /// The checker for the engine thread.
    pub fn checker(&self) -> MemoryCheck {
        let statm = if self.inner.limit > 0 {
            File::open("/proc/self/statm")
                .inspect_err(|e| {
                    tracing::error!(error = %e, "cannot read /proc/self/statm; the task's memory budget is not enforced")
                })
                .ok()
        } else {
            None
        };
        MemoryCheck {
            budget: self.clone(),
            statm,
            page_size: page_size(),
            last: None,
        }
    }

    /// Resolves once the engine thread found the budget exceeded (never without a budget).
    pub async fn exceeded(&self) -> BudgetExceeded {
        let mut rx = self.inner.exceeded.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().expect("waited for Some"),
            // The sender lives in `self`, so it cannot be dropped while we wait.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Reads the process's memory on the engine thread.
pub struct MemoryCheck {
    budget: MemoryBudget,
    statm: Option<File>,
    page_size: u64,
    last: Option<Instant>,
}

impl MemoryCheck {
    /// `Err` (also reported to [`MemoryBudget::exceeded`]) when the process's resident
    /// anonymous memory is above the budget.
    pub fn check(&mut self) -> Result<(), BudgetExceeded> {
        let Some(statm) = &self.statm else {
            return Ok(());
        };
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < MIN_INTERVAL)
        {
            return Ok(());
        }
        self.last = Some(now);
        let Some(used) = resident_anon_pages(statm).map(|p| p * self.page_size) else {
            return Ok(());
        };
        let shared = &self.budget.inner;
        if used <= shared.limit {
            return Ok(());
        }
        let e = BudgetExceeded {
            task_id: shared.task_id.clone(),
            limit_mib: shared.limit / MIB,
            used_mib: used / MIB,
        };
        shared.exceeded.send_replace(Some(e.clone()));
        Err(e)
    }
}

const MIB: u64 = 1024 * 1024;

/// `resident - shared` of `/proc/self/statm`, in pages.
fn resident_anon_pages(statm: &File) -> Option<u64> {
    let mut buf = [0u8; 128];
    let n = statm.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let mut fields = text.split_ascii_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    Some(resident.saturating_sub(shared))
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_budget_never_fails() {
        let mut c = MemoryBudget::new("t", 0).checker();
        assert!(c.statm.is_none());
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn the_resident_memory_is_read() {
        let statm = File::open("/proc/self/statm").unwrap();
        let before = resident_anon_pages(&statm).unwrap() * page_size();
        // 64 MiB touched: resident.
        let big = vec![1u8; 64 * MIB as usize];
        let after = resident_anon_pages(&statm).unwrap() * page_size();
        assert!(after >= before + 60 * MIB, "before {before}, after {after}");
        drop(big);
    }

    #[tokio::test]
    async fn a_process_over_its_budget_is_reported_once_with_the_message() {
        // A budget of one byte: any process is over it.
        let budget = MemoryBudget::new("cpu", 1);
        let mut c = budget.checker();
        let e = c.check().unwrap_err();
        assert_eq!(e.task_id, "cpu");
        assert_eq!(e.limit_mib, 0);
        assert!(
            e.to_string()
                .starts_with("task cpu exceeded its memory budget of 0 MiB"),
            "{e}"
        );
        assert_eq!(budget.exceeded().await, e);
        let roomy = MemoryBudget::new("cpu", 1 << 50);
        assert_eq!(roomy.checker().check(), Ok(()));
    }

    /// Not an assertion on time (the machine is shared): prints what a read and a check cost.
    #[test]
    fn a_check_is_cheap() {
        let statm = File::open("/proc/self/statm").unwrap();
        let n = 20_000;
        let start = Instant::now();
        for _ in 0..n {
            assert!(resident_anon_pages(&statm).is_some());
        }
        let read = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        let mut c = MemoryBudget::new("t", 1 << 50).checker();
        let start = Instant::now();
        for _ in 0..n {
            c.check().unwrap();
        }
        let check = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!(
            "one read of statm: {read:.2} µs; one check (at most one read per ms): {check:.3} µs"
        );
    }
}
