//! The worker's side of the supervisor's watchdog.
//!
//! The supervisor sends `Heartbeat` every second over fd 3; the worker answers from the
//! engine thread (its control queue is served ahead of data), so a worker whose engine is
//! stuck in a loop, blocked, or stopped stays silent and gets restarted.
//!
//! Some waits on the engine thread are legitimate and bounded but may outlast the watchdog:
//! an httpPost node waits for the answer of its POST (its `.timeout()`, 60 s without one),
//! as in Kapacitor. Such a wait is declared with [`BoundedWait`]: while the engine is inside
//! one whose limit has not passed, the heartbeat is answered for it. A wait that overruns its
//! limit, or a loop that declared nothing, is not.

use crate::engine::{HttpPoster, PostOutcome, PostRequest, ReqwestPoster};
use crate::process_engine::EngineHandle;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a heartbeat waiting for a busy engine looks at its declared wait.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// A heartbeat nobody can answer is given up after this (the supervisor gave up long before).
const GIVE_UP: Duration = Duration::from_secs(120);
/// Added to a POST's own timeout: the HTTP thread's hand-over and the answer's read.
const POST_SLACK: Duration = Duration::from_secs(2);

/// Milliseconds since [`epoch`] (plus one, so 0 means "none") until which the engine thread
/// is in a declared wait.
static WAIT_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

/// The engine thread is inside a legitimate wait of at most `limit`, until dropped.
#[must_use = "the wait ends when the guard is dropped"]
pub struct BoundedWait {
    previous: u64,
}

impl BoundedWait {
    pub fn enter(limit: Duration) -> BoundedWait {
        let until = now_ms().saturating_add(limit.as_millis() as u64);
        BoundedWait {
            previous: WAIT_UNTIL_MS.swap(until, Ordering::AcqRel),
        }
    }
}

impl Drop for BoundedWait {
    fn drop(&mut self) {
        WAIT_UNTIL_MS.store(self.previous, Ordering::Release);
    }
}

/// Whether the engine thread is inside a declared wait that has not overrun its limit.
pub fn in_bounded_wait() -> bool {
    let until = WAIT_UNTIL_MS.load(Ordering::Acquire);
    until != 0 && now_ms() < until
}

/// Whether the engine is alive: it took the heartbeat off its control queue, or it is in a
/// declared wait. `false` when the engine is gone or never answers.
pub async fn answer(engine: &EngineHandle) -> bool {
    let beat = engine.heartbeat();
    tokio::pin!(beat);
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let give_up = tokio::time::sleep(GIVE_UP);
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            alive = &mut beat => return alive,
            _ = check.tick() => if in_bounded_wait() {
                return true;
            },
            _ = &mut give_up => return false,
        }
    }
}

/// httpPost's poster for the worker: Kapacitor's blocking POST (the engine's
/// [`ReqwestPoster`], created at the first POST), declared as a bounded wait.
#[derive(Debug, Default)]
pub struct WatchedPoster {
    inner: OnceLock<Result<ReqwestPoster, String>>,
}

impl HttpPoster for WatchedPoster {
    fn post(&self, req: PostRequest) -> PostOutcome {
        let poster = match self.inner.get_or_init(ReqwestPoster::new) {
            Ok(p) => p,
            Err(e) => {
                return PostOutcome {
                    code: 0,
                    error: Some(e.clone()),
                };
            }
        };
        let _wait = BoundedWait::enter(req.timeout + POST_SLACK);
        poster.post(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_engine::Engine;
    use crate::process_runner::{TaskRunner, WorkerContext};
    use kapacitor_ipc::TaskSpec;
    use kapacitor_models::Point;

    /// Busy for 3 s per batch: inside a declared wait (a POST) or not (a loop).
    struct Busy {
        declared: bool,
    }
    impl TaskRunner for Busy {
        fn push_points(&mut self, _: &str, _: &str, _: Vec<Point>) {
            let _wait = self
                .declared
                .then(|| BoundedWait::enter(Duration::from_secs(10)));
            std::thread::sleep(Duration::from_secs(3));
        }
        fn tick(&mut self, _: i64) {}
        fn http_out(&self, _: &str) -> Option<String> {
            None
        }
        fn stats_json(&self) -> String {
            "{}".into()
        }
    }

    fn spec(script: &str) -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: script.into(),
            vars_json: "{}".into(),
        }
    }

    fn busy(spec: &TaskSpec, _: &WorkerContext) -> Result<Box<dyn TaskRunner>, String> {
        Ok(Box::new(Busy {
            declared: spec.script == "declared",
        }))
    }

    /// The heartbeat is answered for an engine inside a declared wait, and not for one busy
    /// otherwise; both answer once the work is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_declared_wait_answers_the_heartbeat_and_a_loop_does_not() {
        for declared in [true, false] {
            let script = if declared { "declared" } else { "loop" };
            let engine = Engine::start(spec(script), WorkerContext::default(), busy).unwrap();
            let h = engine.handle();
            assert!(answer(&h).await);
            assert!(h.push_points("db".into(), "rp".into(), Vec::new()).await);
            // Let the engine thread start on the batch.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let quick = tokio::time::timeout(Duration::from_secs(1), answer(&h)).await;
            assert_eq!(quick.is_ok(), declared, "declared wait: {declared}");
            assert!(
                tokio::time::timeout(Duration::from_secs(10), answer(&h))
                    .await
                    .unwrap()
            );
            drop(h);
            engine.finish().await;
        }
    }

    #[test]
    fn a_declared_wait_lasts_until_dropped_or_overrun() {
        assert!(!in_bounded_wait());
        {
            let _outer = BoundedWait::enter(Duration::from_secs(60));
            assert!(in_bounded_wait());
            {
                let _inner = BoundedWait::enter(Duration::ZERO);
                // A wait past its limit does not count.
                assert!(!in_bounded_wait());
            }
            assert!(in_bounded_wait());
        }
        assert!(!in_bounded_wait());
    }
}
