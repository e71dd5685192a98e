//! apid hosts the alert service: events from the workers, the script handlers of each task's
//! anonymous topics, and the durable state the supervisor keeps for it.
//!
//! - At start, before any worker can connect, the stored handler specs are registered and the
//!   stored topic event states restored ([`AlertHost::start`]).
//! - Handler specs written through the API are stored synchronously (an API answer of 200
//!   means the supervisor committed it); a failed store undoes the change in memory.
//! - Topic event states are saved asynchronously: `publish` only records the change in
//!   [`StatePersister`], which coalesces changes per event and sends them in batches. While the
//!   supervisor is unreachable the batch is kept and retried; it cannot grow beyond one entry
//!   per event id.

use crate::api_json::{api_error, store_failed_status};
use axum::http::StatusCode;
use axum::response::Response;
use kapacitor_alert::{
    AlertService, Event, EventState, HandlerError, HandlerSpec, NoPersistence,
    TopicStatePersistence, anonymous_topic_prefix,
};
use kapacitor_config::Config;
use kapacitor_ipc::{Message, Peer, TopicEventState, TopicStateChange};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// How long a store request may take (a commit is an fsync).
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the supervisor did not store an alert change, with the HTTP status it answers.
#[derive(Debug)]
pub(crate) struct StoreFailure {
    status: StatusCode,
    message: String,
}

impl StoreFailure {
    /// The API's error for an operation (`what`: "failed to delete handler") that failed here.
    fn response(&self, what: &str) -> Response {
        api_error(self.status, &format!("{what}: {}", self.message))
    }
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Changes arriving within this window go in one transaction.
const SAVE_BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Wait before retrying a batch the supervisor did not take.
const SAVE_RETRY: Duration = Duration::from_millis(500);
/// How long apid waits for its stored alert state at start before serving without it.
const LOAD_DEADLINE: Duration = Duration::from_secs(20);

/// Cheap to clone.
#[derive(Clone)]
pub struct AlertHost {
    inner: Arc<Inner>,
}

struct Inner {
    service: AlertService,
    supervisor: Peer,
    persister: Option<Arc<StatePersister>>,
    /// Task → the (topic, id) of the script handlers it registered.
    script: Mutex<HashMap<String, Vec<(String, String)>>>,
    events_received: AtomicU64,
    events_invalid: AtomicU64,
}

/// The kinds of `-disable-handlers`, as the supervisor passes them.
fn disabled_kinds() -> Vec<String> {
    std::env::var(crate::DISABLE_HANDLERS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

impl AlertHost {
    /// Builds the service, loads the stored specs and states from the supervisor and starts
    /// the state saver. Call before accepting workers: events must find their handlers.
    pub async fn start(
        cfg: &Config,
        supervisor: Peer,
        cancel: CancellationToken,
    ) -> Result<AlertHost, String> {
        let disabled = disabled_kinds();
        if !disabled.is_empty() {
            info!(kinds = ?disabled, "alert handler kinds disabled");
        }
        let persister = cfg
            .alert
            .persist_topics
            .then(|| Arc::new(StatePersister::default()));
        let persistence: Box<dyn TopicStatePersistence> = match &persister {
            Some(p) => Box::new(p.clone()),
            None => Box::new(NoPersistence),
        };
        let service = AlertService::new(cfg, &disabled, persistence).map_err(|e| e.to_string())?;
        let host = AlertHost {
            inner: Arc::new(Inner {
                service,
                supervisor: supervisor.clone(),
                persister: persister.clone(),
                script: Mutex::new(HashMap::new()),
                events_received: AtomicU64::new(0),
                events_invalid: AtomicU64::new(0),
            }),
        };
        host.load().await;
        if let Some(p) = persister {
            tokio::spawn(p.run(supervisor, cancel));
        }
        Ok(host)
    }

    /// A host without stored state, for tests of the routes.
    pub fn detached(cfg: &Config, supervisor: Peer) -> Result<AlertHost, String> {
        let service =
            AlertService::new(cfg, &[], Box::new(NoPersistence)).map_err(|e| e.to_string())?;
        Ok(AlertHost {
            inner: Arc::new(Inner {
                service,
                supervisor,
                persister: None,
                script: Mutex::new(HashMap::new()),
                events_received: AtomicU64::new(0),
                events_invalid: AtomicU64::new(0),
            }),
        })
    }

    pub fn service(&self) -> &AlertService {
        &self.inner.service
    }

    async fn load(&self) {
        let deadline = tokio::time::Instant::now() + LOAD_DEADLINE;
        let (handlers_json, states) = loop {
            match self
                .inner
                .supervisor
                .request_timeout(Message::AlertStoreLoad, STORE_TIMEOUT)
                .await
            {
                Ok(Message::AlertStore {
                    handlers_json,
                    states,
                }) => break (handlers_json, states),
                other => {
                    let why = match other {
                        Ok(Message::Error { message })
                        | Ok(Message::StoreFailed { message, .. }) => message,
                        Ok(m) => format!("unexpected answer {}", m.name()),
                        Err(e) => e.to_string(),
                    };
                    if tokio::time::Instant::now() >= deadline {
                        error!(error = %why, "cannot load the stored topic handlers and states; serving without them");
                        return;
                    }
                    warn!(error = %why, "loading the stored alert state failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let mut handlers = 0;
        for j in &handlers_json {
            match serde_json::from_str::<HandlerSpec>(j) {
                Ok(spec) => match self.inner.service.set_handler(spec.clone()) {
                    Ok(()) => handlers += 1,
                    Err(e) => error!(topic = %spec.topic, handler = %spec.id, error = %e,
                        "stored topic handler cannot be registered"),
                },
                Err(e) => error!(error = %e, spec = %j, "stored topic handler is unreadable"),
            }
        }
        let mut by_topic: BTreeMap<String, Vec<(String, EventState)>> = BTreeMap::new();
        let mut events = 0;
        if self.inner.persister.is_some() {
            for s in states {
                match EventState::from_persisted_json(&s.state_json) {
                    Ok(st) => {
                        events += 1;
                        by_topic.entry(s.topic).or_default().push((s.event_id, st));
                    }
                    Err(e) => error!(topic = %s.topic, event = %s.event_id, error = %e,
                        "stored topic event state is unreadable"),
                }
            }
        }
        let topics = by_topic.len();
        for (topic, states) in by_topic {
            self.inner.service.restore(&topic, states);
        }
        info!(handlers, topics, events, "alert state loaded");
    }

    /// `Message::AlertEvents` from a worker.
    pub fn publish_json(&self, task: &str, json: &str) {
        match serde_json::from_str::<Vec<Event>>(json) {
            Ok(events) => {
                self.inner
                    .events_received
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                let cluster = crate::cluster_alert::get();
                for ev in events {
                    if cluster.is_some_and(|c| c.intercept(&ev)) {
                        continue;
                    }
                    self.inner.service.publish(ev);
                }
            }
            Err(e) => {
                self.inner.events_invalid.fetch_add(1, Ordering::Relaxed);
                error!(task = %task, error = %e, "unreadable alert events from a worker");
            }
        }
    }

    fn lock_script(&self) -> MutexGuard<'_, HashMap<String, Vec<(String, String)>>> {
        self.inner.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Message::AlertScriptHandlers`: the task's handlers replace what it registered before.
    /// A spec that is not on one of the task's own anonymous topics is refused.
    pub fn set_script_handlers(&self, task: &str, specs_json: &[String]) {
        let prefix = anonymous_topic_prefix(task);
        let mut specs = Vec::with_capacity(specs_json.len());
        for j in specs_json {
            match serde_json::from_str::<HandlerSpec>(j) {
                Ok(s) if s.topic.starts_with(&prefix) => specs.push(s),
                Ok(s) => warn!(task = %task, topic = %s.topic,
                    "script handler for another task's topic refused"),
                Err(e) => error!(task = %task, error = %e, "unreadable script handler spec"),
            }
        }
        let svc = &self.inner.service;
        let mut script = self.lock_script();
        for (topic, id) in script.remove(task).unwrap_or_default() {
            if !specs.iter().any(|s| s.topic == topic && s.id == id) {
                svc.remove_handler(&topic, &id);
            }
        }
        for s in &specs {
            // An unchanged handler keeps its queue and delivery task.
            if svc.handler(&s.topic, &s.id).as_ref() == Some(s) {
                continue;
            }
            if let Err(e) = svc.set_handler(s.clone()) {
                error!(task = %task, topic = %s.topic, handler = %s.id, error = %e,
                    "script handler cannot be registered");
            }
        }
        script.insert(
            task.to_string(),
            specs.into_iter().map(|s| (s.topic, s.id)).collect(),
        );
    }

    /// The task was disabled (or renamed away): its script handlers go; the states stay, so
    /// that the topics show the last levels.
    pub fn task_stopped(&self, task: &str) {
        let registered = self.lock_script().remove(task).unwrap_or_default();
        for (topic, id) in registered {
            self.inner.service.remove_handler(&topic, &id);
        }
    }

    /// The task was deleted: its anonymous topics go too, with their stored states.
    pub fn task_deleted(&self, task: &str) {
        self.task_stopped(task);
        let prefix = anonymous_topic_prefix(task);
        let pattern = format!("{prefix}*");
        let topics = self
            .inner
            .service
            .topics(&pattern, kapacitor_alert::Level::Ok)
            .unwrap_or_default();
        for t in topics.iter().filter(|t| t.id.starts_with(&prefix)) {
            self.inner.service.delete_topic(&t.id);
        }
    }

    /// `Message::AlertStatesRequest` from a starting worker: every event state of these
    /// topics, in their persisted form.
    pub fn event_states(&self, topics: &[String]) -> Vec<TopicEventState> {
        let svc = &self.inner.service;
        let mut out = Vec::new();
        for topic in topics {
            for (event_id, st) in svc
                .events(topic, kapacitor_alert::Level::Ok)
                .unwrap_or_default()
            {
                out.push(TopicEventState {
                    topic: topic.clone(),
                    event_id,
                    state_json: st.to_persisted_json(),
                });
            }
        }
        out
    }

    /// A store request from cluster alerting (replicated handler changes).
    pub(crate) async fn store_message(&self, msg: Message) -> Result<(), StoreFailure> {
        self.store(msg).await
    }

    async fn store(&self, msg: Message) -> Result<(), StoreFailure> {
        let failed = |message| StoreFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
        };
        match self
            .inner
            .supervisor
            .request_timeout(msg, STORE_TIMEOUT)
            .await
        {
            Ok(Message::Done) => Ok(()),
            Ok(Message::Error { message }) => Err(failed(message)),
            Ok(Message::StoreFailed { disk_full, message }) => Err(StoreFailure {
                status: store_failed_status(disk_full),
                message,
            }),
            Ok(other) => Err(failed(format!("unexpected answer {}", other.name()))),
            Err(e) => Err(StoreFailure {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("supervisor unavailable: {e}"),
            }),
        }
    }

    async fn store_spec(
        &self,
        spec: &HandlerSpec,
        previous_id: Option<String>,
    ) -> Result<(), StoreFailure> {
        let spec_json = serde_json::to_string(spec).map_err(|e| StoreFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
        self.store(Message::AlertHandlerPut {
            topic: spec.topic.clone(),
            id: spec.id.clone(),
            spec_json,
            previous_id,
        })
        .await
    }

    /// `POST .../handlers`: registered, then stored; undone if it cannot be stored.
    pub async fn create_handler(&self, spec: HandlerSpec) -> Result<(), Response> {
        let failed = |e: &dyn std::fmt::Display| {
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to create handler: {e}"),
            )
        };
        self.inner
            .service
            .register_handler(spec.clone())
            .map_err(|e| failed(&e))?;
        if let Err(e) = self.store_spec(&spec, None).await {
            self.inner.service.remove_handler(&spec.topic, &spec.id);
            return Err(e.response("failed to create handler: storing the handler"));
        }
        if let Some(c) = crate::cluster_alert::get() {
            c.handler_put(&spec, None).await;
        }
        Ok(())
    }

    /// `PUT`/`PATCH .../handlers/<id>`: `old` is the current spec.
    pub async fn update_handler(
        &self,
        old: &HandlerSpec,
        spec: HandlerSpec,
    ) -> Result<(), Response> {
        let failed = |e: &dyn std::fmt::Display| {
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to update handler: {e}"),
            )
        };
        let svc = &self.inner.service;
        svc.replace_handler(&old.topic, &old.id, spec.clone())
            .map_err(|e: HandlerError| failed(&e))?;
        if let Err(e) = self.store_spec(&spec, Some(old.id.clone())).await {
            if let Err(undo) = svc.replace_handler(&spec.topic, &spec.id, old.clone()) {
                error!(error = %undo, "could not restore the handler after a failed store");
            }
            return Err(e.response("failed to update handler: storing the handler"));
        }
        if let Some(c) = crate::cluster_alert::get() {
            c.handler_put(&spec, Some(&old.id)).await;
        }
        Ok(())
    }

    /// `DELETE .../handlers/<id>`: removed from the store first, so that a failure leaves it
    /// both running and stored.
    pub async fn delete_handler(&self, topic: &str, id: &str) -> Result<(), Response> {
        self.store(Message::AlertHandlerDelete {
            topic: topic.to_string(),
            id: id.to_string(),
        })
        .await
        .map_err(|e| e.response("failed to delete handler"))?;
        self.inner.service.remove_handler(topic, id);
        if let Some(c) = crate::cluster_alert::get() {
            c.handler_deleted(topic, id).await;
        }
        Ok(())
    }

    /// Saves what is pending (at shutdown).
    pub async fn flush(&self) {
        if let Some(p) = &self.inner.persister {
            p.flush(&self.inner.supervisor).await;
        }
    }

    /// Entries of the `kapacitor` map of `/debug/vars`: one `topics` entry per topic (as
    /// Kapacitor reports it), one `alert_handlers` entry per handler and the service totals.
    pub fn debug_vars(&self, m: &mut serde_json::Map<String, Value>, base_tags: &Value) {
        let stats = self.inner.service.stats();
        let tags = |extra: Value| {
            let mut t = base_tags.clone();
            if let (Value::Object(t), Value::Object(extra)) = (&mut t, extra) {
                t.extend(extra);
            }
            t
        };
        for t in &stats.topics {
            m.insert(
                format!("topics:{}", t.id),
                json!({
                    "name": "topics",
                    "tags": tags(json!({"id": t.id})),
                    "values": {"collected": t.collected},
                }),
            );
        }
        for h in &stats.handlers {
            m.insert(
                format!("alert_handlers:{}:{}", h.topic, h.id),
                json!({
                    "name": "alert_handlers",
                    "tags": tags(json!({"topic": h.topic, "handler": h.id, "kind": h.kind})),
                    "values": {
                        "sent": h.sent,
                        "failed": h.failed,
                        "dropped": h.dropped,
                        "retried": h.retried,
                        "match_errors": h.match_errors,
                        "queued": h.queued,
                    },
                }),
            );
        }
        let (pending, save_failures) = self
            .inner
            .persister
            .as_ref()
            .map_or((0, 0), |p| (p.pending_len() as u64, p.failures()));
        m.insert(
            "alert_service".into(),
            json!({
                "name": "alert_service",
                "tags": tags(json!({})),
                "values": {
                    "events_received": self.inner.events_received.load(Ordering::Relaxed),
                    "events_invalid": self.inner.events_invalid.load(Ordering::Relaxed),
                    "topics": stats.topics.len(),
                    "handlers": stats.handlers.len(),
                    "inhibited": self.inner.service.inhibited(),
                    "state_changes_pending": pending,
                    "state_save_failures": save_failures,
                },
            }),
        );
    }
}

/// Topic state changes waiting to be saved: the latest change per (topic, event), in order.
#[derive(Default)]
struct Pending {
    changes: Vec<TopicStateChange>,
    index: HashMap<(String, String), usize>,
}

fn change_topic(c: &TopicStateChange) -> &str {
    match c {
        TopicStateChange::Put(s) => &s.topic,
        TopicStateChange::Delete { topic, .. } | TopicStateChange::DeleteTopic { topic } => topic,
    }
}

impl Pending {
    fn push(&mut self, c: TopicStateChange) {
        let key = match &c {
            TopicStateChange::Put(s) => (s.topic.clone(), s.event_id.clone()),
            TopicStateChange::Delete { topic, event_id } => (topic.clone(), event_id.clone()),
            TopicStateChange::DeleteTopic { topic } => {
                // Everything pending for the topic is moot.
                self.changes.retain(|x| change_topic(x) != topic);
                self.changes.push(c);
                self.reindex();
                return;
            }
        };
        match self.index.get(&key) {
            Some(&i) => self.changes[i] = c,
            None => {
                self.index.insert(key, self.changes.len());
                self.changes.push(c);
            }
        }
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, c) in self.changes.iter().enumerate() {
            match c {
                TopicStateChange::Put(s) => {
                    self.index.insert((s.topic.clone(), s.event_id.clone()), i);
                }
                TopicStateChange::Delete { topic, event_id } => {
                    self.index.insert((topic.clone(), event_id.clone()), i);
                }
                TopicStateChange::DeleteTopic { .. } => {}
            }
        }
    }

    fn take(&mut self) -> Vec<TopicStateChange> {
        self.index.clear();
        std::mem::take(&mut self.changes)
    }
}

/// [`TopicStatePersistence`] for the alert service: never blocks `publish`.
#[derive(Default)]
pub struct StatePersister {
    pending: Mutex<Pending>,
    wake: Notify,
    failures: AtomicU64,
    /// The last batch failed: a full disk retries every `SAVE_RETRY`, logged once.
    failing: std::sync::atomic::AtomicBool,
}

impl StatePersister {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, c: TopicStateChange) {
        self.lock().push(c);
        self.wake.notify_one();
    }

    pub fn pending_len(&self) -> usize {
        self.lock().changes.len()
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Sends batches while apid runs; the last one at cancellation.
    async fn run(self: Arc<Self>, supervisor: Peer, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.wake.notified() => {}
            }
            tokio::time::sleep(SAVE_BATCH_WINDOW).await;
            if !self.flush(&supervisor).await {
                tokio::time::sleep(SAVE_RETRY).await;
                self.wake.notify_one();
            }
        }
    }

    /// Sends what is pending; on failure it goes back before newer changes. Returns whether
    /// everything was saved.
    async fn flush(&self, supervisor: &Peer) -> bool {
        let batch = self.lock().take();
        if batch.is_empty() {
            return true;
        }
        let n = batch.len();
        let msg = Message::AlertStatesSave {
            changes: batch.clone(),
        };
        match supervisor.request_timeout(msg, STORE_TIMEOUT).await {
            Ok(Message::Done) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    info!(changes = n, "topic states saved after earlier failures");
                }
                true
            }
            other => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let why = match other {
                    Ok(Message::Error { message }) | Ok(Message::StoreFailed { message, .. }) => {
                        message
                    }
                    Ok(m) => format!("unexpected answer {}", m.name()),
                    Err(e) => e.to_string(),
                };
                if !self.failing.swap(true, Ordering::Relaxed) {
                    warn!(changes = n, error = %why, "saving topic states failed; retrying until it works");
                } else {
                    debug!(changes = n, error = %why, "saving topic states failed again");
                }
                let mut p = self.lock();
                let newer = p.take();
                for c in batch.into_iter().chain(newer) {
                    p.push(c);
                }
                false
            }
        }
    }
}

impl TopicStatePersistence for StatePersister {
    fn save(&self, topic: &str, event_id: &str, state: Option<&EventState>) {
        self.push(match state {
            Some(s) => TopicStateChange::Put(TopicEventState {
                topic: topic.to_string(),
                event_id: event_id.to_string(),
                state_json: s.to_persisted_json(),
            }),
            None => TopicStateChange::Delete {
                topic: topic.to_string(),
                event_id: event_id.to_string(),
            },
        });
    }

    fn delete_topic(&self, topic: &str) {
        self.push(TopicStateChange::DeleteTopic {
            topic: topic.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(topic: &str, id: &str, json: &str) -> TopicStateChange {
        TopicStateChange::Put(TopicEventState {
            topic: topic.into(),
            event_id: id.into(),
            state_json: json.into(),
        })
    }

    #[test]
    fn pending_changes_coalesce_per_event_and_keep_order() {
        let mut p = Pending::default();
        p.push(put("cpu", "a", "1"));
        p.push(put("mem", "b", "1"));
        p.push(put("cpu", "a", "2"));
        p.push(TopicStateChange::Delete {
            topic: "mem".into(),
            event_id: "b".into(),
        });
        assert_eq!(
            p.changes,
            [
                put("cpu", "a", "2"),
                TopicStateChange::Delete {
                    topic: "mem".into(),
                    event_id: "b".into()
                }
            ]
        );
        p.push(TopicStateChange::DeleteTopic {
            topic: "cpu".into(),
        });
        p.push(put("cpu", "c", "3"));
        p.push(put("cpu", "c", "4"));
        let all = p.take();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(
            all[1],
            TopicStateChange::DeleteTopic {
                topic: "cpu".into()
            }
        );
        assert_eq!(all[2], put("cpu", "c", "4"));
        assert!(p.take().is_empty());
    }
}
