//! The alert service: topics (latest state per event ID, level, collected), topic handlers
//! and their delivery tasks.

use crate::delivery::{Counters, RetryPolicy, Worker};
use crate::event::{Event, EventState};
use crate::glob;
use crate::kinds::{Action, MqttClients, Shared};
use crate::level::Level;
use crate::matcher::Matcher;
use crate::persist::TopicStatePersistence;
use crate::spec::{HandlerError, HandlerSpec, validate_topic_id};
use kapacitor_config::Config;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// Tunables that are not in Kapacitor's configuration.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub retry: RetryPolicy,
    /// Per-request limit for web hooks (a `post` handler's `timeout` overrides it), and for
    /// SMTP, MQTT and Sensu exchanges.
    pub http_timeout: Duration,
    /// Default limit for `exec` programs (an `exec` handler's `timeout` overrides it).
    pub exec_timeout: Duration,
    /// Kapacitor's own API URL, sent to PagerDuty as `client_url`; default
    /// `http://<hostname>:<port of [http] bind-address>/kapacitor/v1`.
    pub client_url: Option<String>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            retry: RetryPolicy::default(),
            http_timeout: Duration::from_secs(30),
            exec_timeout: Duration::from_secs(60),
            client_url: None,
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the alert service must be created inside a tokio runtime")]
    NoRuntime,
    #[error("failed to build the HTTP client: {0}")]
    Http(String),
}

/// A topic as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStatus {
    pub id: String,
    /// Highest level over the topic's events (OK if none).
    pub level: Level,
    /// Events received since the process started.
    pub collected: u64,
}

/// Counters of one handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerStats {
    pub topic: String,
    pub id: String,
    pub kind: String,
    /// Delivered (for `aggregate`: combined events emitted).
    pub sent: u64,
    /// Given up on after the last attempt.
    pub failed: u64,
    /// Dropped because the handler's queue was full.
    pub dropped: u64,
    /// Attempts that failed and were tried again.
    pub retried: u64,
    /// Events whose `match` expression failed to evaluate (not handled).
    pub match_errors: u64,
    /// Events waiting in the queue now.
    pub queued: u64,
}

/// Everything the service counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertStats {
    pub topics: Vec<TopicStatus>,
    pub handlers: Vec<HandlerStats>,
}

struct HandlerEntry {
    spec: HandlerSpec,
    matcher: Option<Matcher>,
    external: bool,
    /// `None` for kinds disabled with `-disable-handlers`.
    tx: Option<mpsc::Sender<Arc<Event>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Topic {
    events: HashMap<String, EventState>,
    collected: u64,
    handlers: BTreeMap<String, HandlerEntry>,
}

impl Topic {
    fn level(&self) -> Level {
        self.events
            .values()
            .map(|e| e.level)
            .max()
            .unwrap_or(Level::Ok)
    }
}

pub(crate) struct Inner {
    disabled: HashSet<String>,
    persist: Box<dyn TopicStatePersistence>,
    persist_topics: bool,
    buffer_len: usize,
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    retry: RetryPolicy,
    topics: Mutex<BTreeMap<String, Topic>>,
    inhibitors: Mutex<crate::inhibit::Inhibitors>,
    /// Events suppressed by an inhibitor.
    inhibited: std::sync::atomic::AtomicU64,
}

/// The alert service. Cheap to clone (shared state); `Send + Sync`. Must be created inside a
/// tokio runtime, on which the handler tasks run.
#[derive(Clone)]
pub struct AlertService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AlertService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertService").finish_non_exhaustive()
    }
}

fn default_client_url(cfg: &Config) -> String {
    let port = cfg
        .http
        .bind_address
        .rsplit(':')
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("9092");
    let scheme = if cfg.http.https_enabled {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}:{port}/kapacitor/v1", cfg.hostname)
}

fn http_client(insecure: bool, timeout: Duration) -> Result<reqwest::Client, ServiceError> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| ServiceError::Http(e.to_string()))
}

impl AlertService {
    /// `disabled_kinds` is kapacitord's `-disable-handlers`: those kinds are accepted but
    /// inert. `persist` receives event states when `[alert] persist-topics` is on.
    pub fn new(
        cfg: &Config,
        disabled_kinds: &[String],
        persist: Box<dyn TopicStatePersistence>,
    ) -> Result<AlertService, ServiceError> {
        AlertService::with_options(cfg, disabled_kinds, persist, ServiceOptions::default())
    }

    pub fn with_options(
        cfg: &Config,
        disabled_kinds: &[String],
        persist: Box<dyn TopicStatePersistence>,
        opts: ServiceOptions,
    ) -> Result<AlertService, ServiceError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| ServiceError::NoRuntime)?;
        // reqwest is built without a default crypto provider; installing one twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cfg = Arc::new(cfg.clone());
        let client_url = opts
            .client_url
            .clone()
            .unwrap_or_else(|| default_client_url(&cfg));
        let http = http_client(false, opts.http_timeout)?;
        let insecure_http = http_client(true, opts.http_timeout)?;
        let inner = Arc::new_cyclic(|weak| Inner {
            persist_topics: cfg.alert.persist_topics,
            // Kapacitor enforces at least 1000 in its config validation; a smaller value only
            // reaches here from tests, where small queues are the point.
            buffer_len: (cfg.alert.topic_buffer_length as usize).max(1),
            disabled: disabled_kinds.iter().cloned().collect(),
            persist,
            rt,
            retry: opts.retry.clone(),
            shared: Arc::new(Shared {
                cfg: std::sync::RwLock::new(cfg.clone()),
                http,
                insecure_http,
                http_timeout: opts.http_timeout,
                exec_timeout: opts.exec_timeout,
                client_url,
                mqtt: MqttClients::default(),
                service: weak.clone(),
            }),
            topics: Mutex::new(BTreeMap::new()),
            inhibitors: Mutex::new(crate::inhibit::Inhibitors::default()),
            inhibited: std::sync::atomic::AtomicU64::new(0),
        });
        Ok(AlertService { inner })
    }

    /// Collects an event: updates the topic's state for the event ID (setting
    /// `previous_level`), persists it, and queues it to every handler of the topic whose
    /// `match` passes. Never waits on a handler.
    pub fn publish(&self, ev: Event) {
        self.inner.publish(ev);
    }

    /// Records the state of an event another cluster member delivered, without handling it
    /// here, so that every member's topic shows the same events and levels. A state older
    /// than the one held (by event time) is ignored: notices can arrive out of order. Returns
    /// whether it was applied.
    pub fn record_state(&self, topic: &str, event_id: &str, state: EventState) -> bool {
        self.inner.record_state(topic, event_id, state)
    }

    /// Events an inhibitor suppressed since the service started.
    pub fn inhibited(&self) -> u64 {
        self.inner.inhibited.load(Ordering::Relaxed)
    }

    /// Registers a new handler; the topic is created if needed.
    pub fn register_handler(&self, spec: HandlerSpec) -> Result<(), HandlerError> {
        let entry = self.inner.build(&spec)?;
        let mut topics = self.inner.lock();
        let t = topics.entry(spec.topic.clone()).or_default();
        if t.handlers.contains_key(&spec.id) {
            return Err(HandlerError::Exists(spec.id));
        }
        t.handlers.insert(spec.id.clone(), entry);
        Ok(())
    }

    /// Replaces handler `id` of `topic` with `spec` (whose id may differ; topic may not).
    /// Events queued to the old handler are still delivered by it.
    pub fn replace_handler(
        &self,
        topic: &str,
        id: &str,
        spec: HandlerSpec,
    ) -> Result<(), HandlerError> {
        if spec.topic != topic {
            return Err(HandlerError::TopicChange);
        }
        let entry = self.inner.build(&spec)?;
        let mut topics = self.inner.lock();
        let unknown = || HandlerError::Unknown {
            topic: topic.to_string(),
            id: id.to_string(),
        };
        let t = topics.get_mut(topic).ok_or_else(unknown)?;
        if !t.handlers.contains_key(id) {
            return Err(unknown());
        }
        if spec.id != id && t.handlers.contains_key(&spec.id) {
            return Err(HandlerError::Exists(spec.id));
        }
        t.handlers.remove(id);
        t.handlers.insert(spec.id.clone(), entry);
        Ok(())
    }

    /// Registers or replaces (startup loading, anonymous handlers of a restarted task).
    pub fn set_handler(&self, spec: HandlerSpec) -> Result<(), HandlerError> {
        let entry = self.inner.build(&spec)?;
        let mut topics = self.inner.lock();
        let t = topics.entry(spec.topic.clone()).or_default();
        t.handlers.insert(spec.id.clone(), entry);
        Ok(())
    }

    /// Removes a handler; its queued events are still delivered. Returns whether it existed.
    pub fn remove_handler(&self, topic: &str, id: &str) -> bool {
        let mut topics = self.inner.lock();
        topics
            .get_mut(topic)
            .is_some_and(|t| t.handlers.remove(id).is_some())
    }

    /// Handler specs of a topic whose id matches `pattern` (Go `path.Match`; empty = all),
    /// sorted by id.
    pub fn handlers(&self, topic: &str, pattern: &str) -> Vec<HandlerSpec> {
        let topics = self.inner.lock();
        topics
            .get(topic)
            .map(|t| {
                t.handlers
                    .iter()
                    .filter(|(id, _)| glob::matches(pattern, id))
                    .map(|(_, h)| h.spec.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn handler(&self, topic: &str, id: &str) -> Option<HandlerSpec> {
        let topics = self.inner.lock();
        topics.get(topic)?.handlers.get(id).map(|h| h.spec.clone())
    }

    /// Topics whose id matches `pattern` and whose level is at least `min_level`, sorted by
    /// id. A malformed pattern is an error (`syntax error in pattern`).
    pub fn topics(&self, pattern: &str, min_level: Level) -> Result<Vec<TopicStatus>, String> {
        glob::validate(pattern)?;
        let topics = self.inner.lock();
        Ok(topics
            .iter()
            .filter(|(id, _)| glob::matches(pattern, id))
            .map(|(id, t)| TopicStatus {
                id: id.clone(),
                level: t.level(),
                collected: t.collected,
            })
            .filter(|t| t.level >= min_level)
            .collect())
    }

    pub fn topic(&self, id: &str) -> Option<TopicStatus> {
        let topics = self.inner.lock();
        topics.get(id).map(|t| TopicStatus {
            id: id.to_string(),
            level: t.level(),
            collected: t.collected,
        })
    }

    /// Drops a topic's events (in memory and persisted) and its counter. Its handlers stay
    /// registered (Kapacitor closes them until restart; keeping them is what users expect).
    /// Returns whether the topic existed.
    pub fn delete_topic(&self, id: &str) -> bool {
        let existed = {
            let mut topics = self.inner.lock();
            match topics.get_mut(id) {
                None => false,
                Some(t) if t.handlers.is_empty() => {
                    topics.remove(id);
                    true
                }
                Some(t) => {
                    t.events.clear();
                    t.collected = 0;
                    true
                }
            }
        };
        if existed && self.inner.persist_topics {
            self.inner.persist.delete_topic(id);
        }
        existed
    }

    /// Events of a topic at `min_level` or above, highest level first, then by id. Unknown
    /// topic: Kapacitor's `unknown topic "x"`.
    pub fn events(
        &self,
        topic: &str,
        min_level: Level,
    ) -> Result<Vec<(String, EventState)>, String> {
        let topics = self.inner.lock();
        let t = topics
            .get(topic)
            .ok_or_else(|| format!("unknown topic {topic:?}"))?;
        let mut out: Vec<(String, EventState)> = t
            .events
            .iter()
            .filter(|(_, s)| s.level >= min_level)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        out.sort_by(|a, b| b.1.level.cmp(&a.1.level).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    pub fn event(&self, topic: &str, id: &str) -> Option<EventState> {
        let topics = self.inner.lock();
        topics.get(topic)?.events.get(id).cloned()
    }

    /// Restores persisted event states of a topic at startup (replacing what it holds).
    pub fn restore(&self, topic: &str, states: impl IntoIterator<Item = (String, EventState)>) {
        let mut topics = self.inner.lock();
        let t = topics.entry(topic.to_string()).or_default();
        t.events = states.into_iter().collect();
    }

    pub fn stats(&self) -> AlertStats {
        let topics = self.inner.lock();
        let mut stats = AlertStats::default();
        for (id, t) in topics.iter() {
            stats.topics.push(TopicStatus {
                id: id.clone(),
                level: t.level(),
                collected: t.collected,
            });
            for (hid, h) in &t.handlers {
                let c = &h.counters;
                let queued =
                    h.tx.as_ref()
                        .map_or(0, |tx| (tx.max_capacity() - tx.capacity()) as u64);
                stats.handlers.push(HandlerStats {
                    topic: id.clone(),
                    id: hid.clone(),
                    kind: h.spec.kind.clone(),
                    sent: c.sent.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    retried: c.retried.load(Ordering::Relaxed),
                    match_errors: c.match_errors.load(Ordering::Relaxed),
                    queued,
                });
            }
        }
        stats
    }

    /// The configuration in use: the one the service was built with, or the last one given
    /// to [`AlertService::update_config`].
    pub fn config(&self) -> Arc<Config> {
        self.inner.shared.cfg()
    }

    /// Replaces the configuration the handler kinds read (the config API's overrides of
    /// `[slack]`, `[smtp]`, ...): deliveries from now on use it. Options resolved when a
    /// handler was built (a `post` handler's `[[httppost]]` endpoint) keep their value until
    /// the handler is defined again.
    pub fn update_config(&self, cfg: &Config) {
        self.inner.shared.set_cfg(Arc::new(cfg.clone()));
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Topic>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the service, so keep going.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Validates the spec, builds its action and matcher, and starts its task.
    fn build(&self, spec: &HandlerSpec) -> Result<HandlerEntry, HandlerError> {
        spec.validate()?;
        let disabled = self.disabled.contains(&spec.kind);
        let action =
            Action::build(spec, &self.shared.cfg(), disabled).map_err(HandlerError::Create)?;
        let matcher = if spec.match_.trim().is_empty() {
            None
        } else {
            Some(Matcher::compile(&spec.match_).map_err(HandlerError::Create)?)
        };
        let counters = Arc::new(Counters::default());
        let external = action.is_external();
        let tx = if matches!(action, Action::Inert) {
            None
        } else {
            let (tx, rx) = mpsc::channel(self.buffer_len);
            let worker = Worker {
                topic: spec.topic.clone(),
                id: spec.id.clone(),
                action: Arc::new(action),
                counters: counters.clone(),
                shared: self.shared.clone(),
                retry: self.retry.clone(),
            };
            self.rt.spawn(worker.run(rx));
            Some(tx)
        };
        Ok(HandlerEntry {
            spec: spec.clone(),
            matcher,
            external,
            tx,
            counters,
        })
    }

    fn record_state(&self, topic_id: &str, event_id: &str, state: EventState) -> bool {
        if validate_topic_id(topic_id).is_err() {
            return false;
        }
        {
            let mut topics = self.lock();
            let t = topics.entry(topic_id.to_string()).or_default();
            if t.events
                .get(event_id)
                .is_some_and(|cur| cur.time > state.time || *cur == state)
            {
                return false;
            }
            t.events.insert(event_id.to_string(), state.clone());
            t.collected += 1;
        }
        if self.persist_topics {
            let saved = (state.level != Level::Ok).then_some(&state);
            self.persist.save(topic_id, event_id, saved);
        }
        true
    }

    pub(crate) fn publish(&self, mut ev: Event) {
        if let Err(e) = validate_topic_id(&ev.topic) {
            tracing::error!(event = %ev.id, error = %e, "dropping alert event with an invalid topic");
            return;
        }
        {
            let mut inh = self.inhibitors.lock().unwrap_or_else(|p| p.into_inner());
            if inh.inhibits(&ev) {
                self.inhibited.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if !ev.inhibitors.is_empty() {
                inh.update(&ev);
            }
        }
        let state = ev.state();
        let topic_id = ev.topic.clone();
        let event_id = ev.id.clone();
        {
            let mut topics = self.lock();
            let t = topics.entry(topic_id.clone()).or_default();
            let prev = t.events.insert(event_id.clone(), state.clone());
            ev.previous_level = prev.map_or(Level::Ok, |p| p.level);
            t.collected += 1;
            let ev = Arc::new(ev);
            for (hid, h) in &t.handlers {
                let Some(tx) = &h.tx else { continue };
                if h.external && ev.no_external {
                    continue;
                }
                if let Some(m) = &h.matcher {
                    match m.matches(&ev) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            Counters::inc(&h.counters.match_errors);
                            tracing::error!(topic = %topic_id, handler = %hid, event = %event_id,
                                error = %e, "failed to evaluate match expression");
                            continue;
                        }
                    }
                }
                match tx.try_send(ev.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        Counters::inc(&h.counters.dropped);
                        tracing::error!(topic = %topic_id, handler = %hid,
                            "failed to deliver event {event_id:?} to handler: queue full");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        Counters::inc(&h.counters.dropped);
                        tracing::error!(topic = %topic_id, handler = %hid,
                            "failed to deliver event {event_id:?} to handler: handler stopped");
                    }
                }
            }
        }
        if self.persist_topics {
            let saved = (state.level != Level::Ok).then_some(&state);
            self.persist.save(&topic_id, &event_id, saved);
        }
    }
}
