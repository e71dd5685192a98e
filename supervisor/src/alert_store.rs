//! The alert records of the store, served to apid: topic handler specs (written synchronously
//! on API calls, so that apid's 200 means stored) and topic event states (batched by apid).
//! apid owns the alert service; the supervisor only keeps its durable state, as JSON, and
//! never interprets a spec or a state beyond checking that it is JSON.

use crate::store_thread::{self, StoreHandle};
use kapacitor_ipc::{Incoming, Message, TopicEventState, TopicStateChange};
use kapacitor_store::{Namespace, Op, Store, StoreError, split_topic_key, topic_key, topic_prefix};
use serde_json::Value;
use tracing::{debug, warn};

/// Whether apid's message is for the alert store.
pub fn handles(msg: &Message) -> bool {
    matches!(
        msg,
        Message::AlertStoreLoad
            | Message::AlertHandlerPut { .. }
            | Message::AlertHandlerDelete { .. }
            | Message::AlertStatesSave { .. }
    )
}

/// Answers one alert store request from a task of its own: a commit (fsync) must not stall
/// the keeper that reads apid's messages.
pub fn serve(store: StoreHandle, inc: Incoming) {
    tokio::spawn(async move {
        let answer = answer(&store, inc.msg.clone()).await;
        if inc.is_request()
            && let Err(e) = inc.reply(answer).await
        {
            debug!(error = %e, "reply to apid failed");
        }
    });
}

async fn answer(store: &StoreHandle, msg: Message) -> Message {
    let result = match msg {
        Message::AlertStoreLoad => store.call(load).await,
        Message::AlertHandlerPut {
            topic,
            id,
            spec_json,
            previous_id,
        } => match json(&spec_json) {
            Ok(spec) => {
                store
                    .call(move |s| {
                        let mut ops = vec![Op::put(
                            Namespace::TopicHandlers,
                            &topic_key(&topic, &id),
                            &spec,
                        )?];
                        if let Some(old) = previous_id.filter(|old| *old != id) {
                            ops.push(Op::Delete(
                                Namespace::TopicHandlers,
                                topic_key(&topic, &old),
                            ));
                        }
                        s.apply(&ops).map(|()| Message::Done)
                    })
                    .await
            }
            Err(e) => Err(e),
        },
        Message::AlertHandlerDelete { topic, id } => {
            store
                .call(move |s| {
                    s.delete(Namespace::TopicHandlers, &topic_key(&topic, &id))
                        .map(|_| Message::Done)
                })
                .await
        }
        Message::AlertStatesSave { changes } => match state_ops(changes) {
            Ok(ops) => {
                store
                    .call(move |s| s.apply(&ops).map(|()| Message::Done))
                    .await
            }
            Err(e) => Err(e),
        },
        other => Ok(Message::Error {
            message: format!("the alert store does not serve {}", other.name()),
        }),
    };
    result.unwrap_or_else(|e| store_thread::failed(&e, e.to_string()))
}

fn json(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Db(format!("invalid JSON record: {e}")))
}

fn state_ops(changes: Vec<TopicStateChange>) -> Result<Vec<Op>, StoreError> {
    let ns = Namespace::TopicStates;
    changes
        .into_iter()
        .map(|c| match c {
            TopicStateChange::Put(s) => {
                Op::put(ns, &topic_key(&s.topic, &s.event_id), &json(&s.state_json)?)
            }
            TopicStateChange::Delete { topic, event_id } => {
                Ok(Op::Delete(ns, topic_key(&topic, &event_id)))
            }
            TopicStateChange::DeleteTopic { topic } => {
                Ok(Op::DeletePrefix(ns, topic_prefix(&topic)))
            }
        })
        .collect()
}

/// Every handler spec and event state. An unreadable record is logged and left out, so that
/// one bad record does not cost every other handler (the record stays in the file).
fn load(s: &Store) -> Result<Message, StoreError> {
    let mut handlers_json = Vec::new();
    for (key, rec) in s.list_each::<Value>(Namespace::TopicHandlers)? {
        match rec {
            Ok(v) => handlers_json.push(v.to_string()),
            Err(e) => warn!(key = %key, error = %e, "skipping an unreadable topic handler"),
        }
    }
    let mut states = Vec::new();
    for (key, rec) in s.list_each::<Value>(Namespace::TopicStates)? {
        match (rec, split_topic_key(&key)) {
            (Ok(v), Some((topic, event_id))) => states.push(TopicEventState {
                topic: topic.to_string(),
                event_id: event_id.to_string(),
                state_json: v.to_string(),
            }),
            (Err(e), _) => warn!(key = %key, error = %e, "skipping an unreadable topic state"),
            (Ok(_), None) => warn!(key = %key, "skipping a topic state with a malformed key"),
        }
    }
    Ok(Message::AlertStore {
        handlers_json,
        states,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_state(topic: &str, id: &str, level: &str) -> TopicStateChange {
        TopicStateChange::Put(TopicEventState {
            topic: topic.into(),
            event_id: id.into(),
            state_json: format!(r#"{{"level":"{level}"}}"#),
        })
    }

    #[tokio::test]
    async fn specs_and_states_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreHandle::open(&dir.path().join("k.db")).unwrap();
        let put = |id: &str, prev: Option<&str>| Message::AlertHandlerPut {
            topic: "cpu".into(),
            id: id.into(),
            spec_json: format!(r#"{{"id":"{id}","topic":"cpu","kind":"log"}}"#),
            previous_id: prev.map(str::to_string),
        };
        assert_eq!(answer(&store, put("a", None)).await, Message::Done);
        assert_eq!(answer(&store, put("b", Some("a"))).await, Message::Done);
        assert_eq!(answer(&store, put("c", None)).await, Message::Done);
        let del = Message::AlertHandlerDelete {
            topic: "cpu".into(),
            id: "c".into(),
        };
        assert_eq!(answer(&store, del).await, Message::Done);
        let changes = vec![
            put_state("cpu", "x/1", "CRITICAL"),
            put_state("cpu", "y", "WARNING"),
            put_state("mem", "z", "INFO"),
            TopicStateChange::DeleteTopic {
                topic: "cpu".into(),
            },
            put_state("cpu", "w", "WARNING"),
            TopicStateChange::Delete {
                topic: "mem".into(),
                event_id: "z".into(),
            },
        ];
        let save = Message::AlertStatesSave { changes };
        assert_eq!(answer(&store, save).await, Message::Done);
        let Message::AlertStore {
            handlers_json,
            states,
        } = answer(&store, Message::AlertStoreLoad).await
        else {
            panic!("no AlertStore answer");
        };
        assert_eq!(handlers_json.len(), 1, "{handlers_json:?}");
        assert!(
            handlers_json[0].contains(r#""id":"b""#),
            "{handlers_json:?}"
        );
        assert_eq!(states.len(), 1, "{states:?}");
        assert_eq!(
            (states[0].topic.as_str(), states[0].event_id.as_str()),
            ("cpu", "w")
        );
    }

    #[tokio::test]
    async fn garbage_is_an_error_answer_not_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreHandle::open(&dir.path().join("k.db")).unwrap();
        let bad = Message::AlertStatesSave {
            changes: vec![TopicStateChange::Put(TopicEventState {
                topic: "cpu".into(),
                event_id: "a".into(),
                state_json: "{nope".into(),
            })],
        };
        assert!(matches!(answer(&store, bad).await, Message::Error { .. }));
        let Message::AlertStore { states, .. } = answer(&store, Message::AlertStoreLoad).await
        else {
            panic!("no AlertStore answer");
        };
        assert!(states.is_empty());
    }
}
