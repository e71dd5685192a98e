//! Where topic event states go to survive restarts. apid implements this by forwarding to
//! the supervisor (which owns the store); tests use [`MemoryPersistence`].

use crate::event::EventState;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Called inline by [`crate::AlertService::publish`], after the in-memory state is updated, so
/// implementations must be quick (enqueue, do not block on I/O).
pub trait TopicStatePersistence: Send + Sync {
    /// `Some(state)`: store the event's state (JSON shape: [`EventState::to_persisted_json`]);
    /// `None`: the event returned to OK, delete its stored state.
    fn save(&self, topic: &str, event_id: &str, state: Option<&EventState>);
    /// The topic was deleted: drop all its stored events.
    fn delete_topic(&self, topic: &str);
}

/// Keeps nothing (`[alert] persist-topics = false`, or callers that restore elsewhere).
pub struct NoPersistence;

impl TopicStatePersistence for NoPersistence {
    fn save(&self, _: &str, _: &str, _: Option<&EventState>) {}
    fn delete_topic(&self, _: &str) {}
}

/// An in-memory store, for tests and tools.
#[derive(Default)]
pub struct MemoryPersistence {
    topics: Mutex<BTreeMap<String, BTreeMap<String, EventState>>>,
}

impl MemoryPersistence {
    /// Everything stored, as `restore` takes it.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, EventState>> {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl TopicStatePersistence for MemoryPersistence {
    fn save(&self, topic: &str, event_id: &str, state: Option<&EventState>) {
        let mut t = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        match state {
            Some(s) => {
                t.entry(topic.to_string())
                    .or_default()
                    .insert(event_id.to_string(), s.clone());
            }
            None => {
                if let Some(events) = t.get_mut(topic) {
                    events.remove(event_id);
                }
            }
        }
    }

    fn delete_topic(&self, topic: &str) {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }
}

impl<T: TopicStatePersistence + ?Sized> TopicStatePersistence for std::sync::Arc<T> {
    fn save(&self, topic: &str, event_id: &str, state: Option<&EventState>) {
        (**self).save(topic, event_id, state)
    }
    fn delete_topic(&self, topic: &str) {
        (**self).delete_topic(topic)
    }
}
