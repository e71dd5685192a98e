//! The bytes of `/write` bodies held at once, across all requests
//! (`[http] max-concurrent-write-bytes`).
//!
//! A request reserves what it is about to hold before holding it: the body's declared length
//! before reading it, more as a chunked body or a gzip stream grows, the decoded text while
//! both are held. When the budget is used up the request waits, at most [`WAIT`], and then
//! gets 503 with `Retry-After`. Waiting costs nothing: the body has not been read yet (it is
//! still in the socket buffers or at the client), so memory stays within the budget. A short
//! wait absorbs the common burst (a few large writes arriving together, each done in well under
//! a second) without turning it into errors, and stays well inside the 5 s timeouts clients
//! such as Telegraf use, so a 503 reaches them instead of a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The longest a write waits for room before it is answered 503.
pub const WAIT: Duration = Duration::from_secs(2);

/// Accounting unit: permits are KiB so a single reservation can exceed 4 GiB.
const UNIT: u64 = 1024;

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BudgetError {
    /// More than the whole budget: it can never fit.
    #[error(
        "a write needs {needed} bytes at once, more than [http] max-concurrent-write-bytes ({total})"
    )]
    NeverFits { needed: u64, total: u64 },
    /// The budget stayed full for [`WAIT`].
    #[error(
        "too many concurrent writes: {total} bytes of request bodies are being processed \
         ([http] max-concurrent-write-bytes); retry later"
    )]
    Busy { total: u64 },
}

#[derive(Debug, Clone)]
pub struct WriteBudget {
    sem: Arc<Semaphore>,
    total: u64,
    /// Most units in use since the budget was last wholly free.
    peak: Arc<AtomicU64>,
}

impl WriteBudget {
    pub fn new(total_bytes: u64) -> WriteBudget {
        let permits = units(total_bytes).min(Semaphore::MAX_PERMITS as u64) as usize;
        WriteBudget {
            sem: Arc::new(Semaphore::new(permits)),
            total: total_bytes,
            peak: Arc::new(AtomicU64::new(0)),
        }
    }

    fn units_in_use(&self) -> u64 {
        units(self.total).saturating_sub(self.sem.available_permits() as u64)
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> u64 {
        self.sem.available_permits() as u64 * UNIT
    }

    /// An empty reservation, grown with [`Reservation::grow_to`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            units: 0,
        }
    }
}

/// Bytes held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: WriteBudget,
    units: u64,
}

impl Reservation {
    /// Holds `bytes` in all, waiting until `deadline` for the difference.
    pub async fn grow_to(&mut self, bytes: u64, deadline: Instant) -> Result<(), BudgetError> {
        let want = units(bytes);
        if want <= self.units {
            return Ok(());
        }
        if bytes > self.budget.total {
            return Err(BudgetError::NeverFits {
                needed: bytes,
                total: self.budget.total,
            });
        }
        let more = want - self.units;
        let sem = &self.budget.sem;
        let acquire = async {
            // Acquired in pieces a `u32` can count; each piece is kept as it comes, so a
            // timeout part-way gives back only what this call took (on drop of `taken`).
            let mut taken = Taken { sem, units: 0 };
            while taken.units < more {
                let n = (more - taken.units).min(u32::MAX as u64) as u32;
                match sem.acquire_many(n).await {
                    Ok(p) => {
                        p.forget();
                        taken.units += n as u64;
                    }
                    Err(_) => return None,
                }
            }
            Some(std::mem::take(&mut taken.units))
        };
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(Some(n)) => {
                self.units += n;
                self.budget
                    .peak
                    .fetch_max(self.budget.units_in_use(), Ordering::Relaxed);
                Ok(())
            }
            _ => Err(BudgetError::Busy {
                total: self.budget.total,
            }),
        }
    }

    /// Holds only `bytes` from now on.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = units(bytes);
        if keep < self.units {
            self.budget.sem.add_permits((self.units - keep) as usize);
            self.units = keep;
        }
    }

    pub fn bytes(&self) -> u64 {
        self.units * UNIT
    }
}

impl Drop for Reservation {
    /// Gives the bytes back; the last reservation of a large burst also gives the burst's
    /// memory back to the OS (drop a reservation after what it covered).
    fn drop(&mut self) {
        self.budget.sem.add_permits(self.units as usize);
        if self.units > 0
            && self.budget.units_in_use() == 0
            && self.budget.peak.swap(0, Ordering::Relaxed) * UNIT
                >= crate::mem_release::RELEASE_AFTER
        {
            crate::mem_release::release_freed_memory();
        }
    }
}

/// Permits taken by an unfinished [`Reservation::grow_to`]; returned if it is abandoned.
struct Taken<'a> {
    sem: &'a Semaphore,
    units: u64,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(self.units as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn reservations_share_the_budget_and_give_it_back() {
        let b = WriteBudget::new(10 * 1024);
        let mut r1 = b.reservation();
        r1.grow_to(6 * 1024, soon()).await.unwrap();
        let mut r2 = b.reservation();
        assert_eq!(
            r2.grow_to(6 * 1024, soon()).await,
            Err(BudgetError::Busy { total: 10 * 1024 })
        );
        // The failed wait took nothing.
        assert_eq!(b.available(), 4 * 1024);
        r1.shrink_to(2 * 1024);
        r2.grow_to(6 * 1024, soon()).await.unwrap();
        assert_eq!(b.available(), 2 * 1024);
        drop(r1);
        drop(r2);
        assert_eq!(b.available(), 10 * 1024);
        let mut r3 = b.reservation();
        assert!(matches!(
            r3.grow_to(11 * 1024, soon()).await,
            Err(BudgetError::NeverFits { .. })
        ));
    }

    #[tokio::test]
    async fn a_waiting_reservation_gets_the_room_given_back() {
        let b = WriteBudget::new(4096);
        let mut r1 = b.reservation();
        r1.grow_to(4096, soon()).await.unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            let mut r = b2.reservation();
            r.grow_to(2048, Instant::now() + Duration::from_secs(30))
                .await
                .map(|_| r.bytes())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(r1);
        assert_eq!(waiter.await.unwrap(), Ok(2048));
    }
}
