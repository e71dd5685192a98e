//! Restart policy: exponential backoff between restarts and a crash-loop limit for tasks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// First restart delay.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest restart delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A child that ran this long before exiting starts over from [`BACKOFF_START`].
pub const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// A task worker that crashes this many times ...
pub const CRASH_LIMIT: usize = 5;
/// ... within this window is not restarted again.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// 100 ms, 200 ms, 400 ms ... up to the cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    start: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BACKOFF_START, BACKOFF_CAP)
    }
}

impl Backoff {
    pub fn new(start: Duration, cap: Duration) -> Backoff {
        Backoff {
            next: start,
            start,
            cap,
        }
    }

    /// The delay before the next restart; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.start;
    }
}

/// Crash times within a sliding window.
#[derive(Debug, Clone)]
pub struct CrashWindow {
    limit: usize,
    window: Duration,
    crashes: VecDeque<Instant>,
}

impl Default for CrashWindow {
    fn default() -> Self {
        CrashWindow::new(CRASH_LIMIT, CRASH_WINDOW)
    }
}

impl CrashWindow {
    pub fn new(limit: usize, window: Duration) -> CrashWindow {
        CrashWindow {
            limit,
            window,
            crashes: VecDeque::new(),
        }
    }

    /// Records a crash at `at`; true when the limit is reached within the window.
    pub fn record(&mut self, at: Instant) -> bool {
        self.crashes.push_back(at);
        while let Some(&first) = self.crashes.front() {
            if at.duration_since(first) > self.window {
                self.crashes.pop_front();
            } else {
                break;
            }
        }
        self.crashes.len() >= self.limit
    }

    pub fn clear(&mut self) {
        self.crashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..12).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[4], Duration::from_millis(1600));
        assert_eq!(*delays.last().unwrap(), BACKOFF_CAP);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_START);
    }

    #[test]
    fn five_crashes_in_a_minute_trip_the_limit() {
        let t0 = Instant::now();
        let mut w = CrashWindow::default();
        for i in 0..4 {
            assert!(!w.record(t0 + Duration::from_secs(i)));
        }
        assert!(w.record(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn old_crashes_fall_out_of_the_window() {
        let t0 = Instant::now();
        let mut w = CrashWindow::default();
        for i in 0..4 {
            assert!(!w.record(t0 + Duration::from_secs(i * 30)));
        }
        // Crashes at 0, 30, 60, 90 and now 120 s: only three are within the last 60 s.
        assert!(!w.record(t0 + Duration::from_secs(120)));
    }
}
