//! Asynchronous delivery: every handler owns a bounded queue and a task. A slow or failing
//! endpoint only fills its own queue; a full queue drops (counted and logged), failures are
//! retried with exponential backoff when the error allows it.

use crate::event::Event;
use crate::kinds::{Action, AggregateAction, Shared};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Per-handler counters, read by [`crate::AlertService::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
    pub match_errors: AtomicU64,
}

impl Counters {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Retries of retryable failures: at most `max_attempts` tries in all, waiting
/// `initial_backoff`, doubled each time up to `max_backoff`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Worker {
    pub topic: String,
    pub id: String,
    pub action: Arc<Action>,
    pub counters: Arc<Counters>,
    pub shared: Arc<Shared>,
    pub retry: RetryPolicy,
}

impl Worker {
    pub async fn run(self, mut rx: mpsc::Receiver<Arc<Event>>) {
        if let Action::Aggregate(a) = &*self.action {
            return self.run_aggregate(a, rx).await;
        }
        while let Some(ev) = rx.recv().await {
            self.deliver(&ev).await;
        }
    }

    async fn deliver(&self, ev: &Event) {
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match self.action.deliver(ev, &self.shared).await {
                Ok(()) => {
                    Counters::inc(&self.counters.sent);
                    return;
                }
                Err(e) if e.retryable && attempt < self.retry.max_attempts => {
                    Counters::inc(&self.counters.retried);
                    tracing::warn!(topic = %self.topic, handler = %self.id, event = %ev.id,
                        attempt, error = %e.message, "alert handler failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    attempt += 1;
                }
                Err(e) => {
                    Counters::inc(&self.counters.failed);
                    tracing::error!(topic = %self.topic, handler = %self.id, event = %ev.id,
                        attempts = attempt, error = %e.message, "failed to send event");
                    return;
                }
            }
        }
    }

    async fn run_aggregate(&self, a: &AggregateAction, mut rx: mpsc::Receiver<Arc<Event>>) {
        let mut ticker = tokio::time::interval(a.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut pending: Vec<Arc<Event>> = Vec::new();
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => pending.push(ev),
                    None => break,
                },
                _ = ticker.tick() => {
                    if pending.is_empty() {
                        continue;
                    }
                    let agg = a.combine(&pending);
                    pending.clear();
                    match self.shared.service.upgrade() {
                        Some(svc) => {
                            svc.publish(agg);
                            Counters::inc(&self.counters.sent);
                        }
                        None => break,
                    }
                }
            }
        }
    }
}
