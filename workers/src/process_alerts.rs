//! Alert events on their way from the engine to apid's alert service.
//!
//! The engine thread converts each event of an alert node to the alert service's [`Event`]
//! (one per topic it goes to: the node's anonymous topic `main:<task>:<node>` when the script
//! gives it handlers, and its `.topic()`), as JSON, into the process's [`AlertOutbox`]. The
//! apid link sends the outbox in batches (`Message::AlertEvents`) while it is connected, and
//! the node's script handlers (`Message::AlertScriptHandlers`) on every connection, before
//! any event. While apid is away the outbox keeps the newest [`OUTBOX_CAP`] events and counts
//! (and logs) the ones it had to drop: that is the loss window of an apid restart.

use crate::engine::AlertEvent;
use kapacitor_alert::{Event, InhibitorSpec, Level, anonymous_topic, script_handler_specs};
use kapacitor_config::Config;
use kapacitor_ipc::TaskSpec;
use kapacitor_models::Result as InfluxResult;
use std::collections::{HashSet, VecDeque};
use std::sync::{LazyLock, Mutex, MutexGuard};
use tickscript::Vars;
use tokio::sync::Notify;
use tracing::{error, warn};

/// Events kept while apid is unreachable.
pub const OUTBOX_CAP: usize = 10_000;
/// Events per `AlertEvents` frame.
pub const BATCH: usize = 500;

/// Where a task's alert events go, from its script.
#[derive(Debug, Clone, Default)]
struct Routing {
    task: String,
    /// Alert nodes with script handlers: their events go to their anonymous topic.
    anonymous: HashSet<String>,
    /// Handler specs of the anonymous topics, as JSON objects.
    specs_json: Vec<String>,
}

#[derive(Default)]
struct State {
    routing: Routing,
    events: VecDeque<String>,
    dropped: u64,
}

/// The queue between the engine thread (producer, never blocks) and the apid link.
pub struct AlertOutbox {
    cap: usize,
    state: Mutex<State>,
    ready: Notify,
}

static OUTBOX: LazyLock<AlertOutbox> = LazyLock::new(|| AlertOutbox::new(OUTBOX_CAP));

/// The worker process's outbox (one task per process).
pub fn outbox() -> &'static AlertOutbox {
    &OUTBOX
}

/// Reads the task's alert nodes and their handlers, so that events are routed and the
/// handlers registered. A handler the alert service would refuse (bad options, a relative
/// `.log()` path...) is an error: the task does not start.
pub fn prepare(spec: &TaskSpec, cfg: &Config) -> Result<(), String> {
    let mut routing = Routing {
        task: spec.id.clone(),
        ..Routing::default()
    };
    if !spec.script.trim().is_empty() {
        let vars: Vars = if spec.vars_json.trim().is_empty() {
            Vars::new()
        } else {
            serde_json::from_str(&spec.vars_json).map_err(|e| format!("invalid task vars: {e}"))?
        };
        let pipeline = tickscript::compile(&spec.script, &vars)
            .map_err(|e| format!("invalid TICKscript: {e}"))?;
        for node in pipeline
            .nodes
            .iter()
            .filter(|n| n.kind == "alert" || n.kind == "deadman")
        {
            let name = pipeline.node_name(node.id);
            let specs = script_handler_specs(&spec.id, &name, &node.props, cfg)
                .map_err(|e| e.to_string())?;
            // A node with inhibitors publishes to its anonymous topic even without handlers:
            // its events are what sets and clears the inhibitors in the alert service.
            if !specs.is_empty() || node.props.iter().any(|p| p.name == "inhibit") {
                routing.anonymous.insert(name);
            }
            for s in specs {
                routing
                    .specs_json
                    .push(serde_json::to_string(&s).map_err(|e| e.to_string())?);
            }
        }
    }
    outbox().lock().routing = routing;
    Ok(())
}

/// The node's `.inhibit(category, tags...)` properties.
fn inhibitors(props: &[tickscript::pipeline::Property]) -> Vec<InhibitorSpec> {
    use tickscript::pipeline::Arg;
    props
        .iter()
        .filter(|p| p.name == "inhibit")
        .filter_map(|p| {
            let mut strs = p.args.iter().filter_map(|a| match a {
                Arg::Str(s) => Some(s.clone()),
                _ => None,
            });
            Some(InhibitorSpec {
                category: strs.next()?,
                equal_tags: strs.collect(),
            })
        })
        .collect()
}

/// The alert service's events for one engine event: one per topic it goes to.
fn to_events(task: &str, anonymous: bool, ev: AlertEvent) -> Vec<Event> {
    let mut topics = Vec::with_capacity(2);
    if anonymous {
        topics.push(anonymous_topic(task, &ev.node));
    }
    if let Some(t) = ev.topic.as_ref().filter(|t| !t.is_empty()) {
        topics.push(t.clone());
    }
    if topics.is_empty() {
        return Vec::new();
    }
    let parse = |l: &str| l.parse::<Level>().unwrap_or(Level::Ok);
    // The fields of the event's point: the first row of the data (stream: the point itself).
    let fields = ev
        .data
        .values
        .first()
        .map(|vals| {
            ev.data
                .columns
                .iter()
                .zip(vals)
                .filter(|(c, _)| c.as_str() != "time")
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let base = Event {
        topic: String::new(),
        id: ev.id,
        message: ev.message,
        details: ev.details,
        time: ev.time,
        duration: ev.duration,
        level: parse(&ev.level),
        previous_level: parse(&ev.previous_level),
        recoverable: ev.recoverable,
        name: ev.data.name.clone(),
        task_name: task.to_string(),
        group: String::new(),
        tags: ev.data.tags.clone(),
        fields,
        data: InfluxResult {
            series: Some(vec![ev.data]),
        },
        category: ev.category.unwrap_or_default(),
        inhibitors: inhibitors(&ev.handlers),
        no_external: false,
    };
    let mut out: Vec<Event> = topics
        .into_iter()
        .map(|topic| Event {
            topic,
            ..base.clone()
        })
        .collect();
    out.shrink_to_fit();
    out
}

impl AlertOutbox {
    pub fn new(cap: usize) -> AlertOutbox {
        AlertOutbox {
            cap: cap.max(1),
            state: Mutex::new(State::default()),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an engine event (engine thread; never waits).
    pub fn push_engine_event(&self, ev: AlertEvent) {
        let (task, anonymous) = {
            let st = self.lock();
            (
                st.routing.task.clone(),
                st.routing.anonymous.contains(&ev.node),
            )
        };
        for e in to_events(&task, anonymous, ev) {
            self.push_json(e.to_ipc_json());
        }
    }

    /// Queues one event as IPC JSON; the oldest is dropped when the outbox is full.
    pub fn push_json(&self, json: String) {
        let dropped = {
            let mut st = self.lock();
            let dropped = if st.events.len() >= self.cap {
                st.events.pop_front();
                st.dropped += 1;
                Some(st.dropped)
            } else {
                None
            };
            st.events.push_back(json);
            dropped
        };
        // One line per thousand drops: the link is down and the log must stay readable.
        if let Some(n) = dropped.filter(|n| n % 1000 == 1) {
            error!(
                dropped_total = n,
                cap = self.cap,
                "alert events dropped: apid unreachable and the outbox is full"
            );
        }
        self.ready.notify_one();
    }

    /// Up to `max` queued events, oldest first.
    pub fn take(&self, max: usize) -> Vec<String> {
        let mut st = self.lock();
        let n = st.events.len().min(max);
        st.events.drain(..n).collect()
    }

    /// Puts events that could not be sent back at the front (within the cap).
    pub fn unshift(&self, events: Vec<String>) {
        let mut st = self.lock();
        let room = self.cap.saturating_sub(st.events.len());
        let lost = events.len().saturating_sub(room);
        if lost > 0 {
            st.dropped += lost as u64;
            warn!(
                lost,
                "alert events dropped: outbox full while apid was away"
            );
        }
        for e in events.into_iter().skip(lost).rev() {
            st.events.push_front(e);
        }
    }

    /// Events dropped since the process started.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// The script handler specs to register on every connection.
    pub fn script_handlers(&self) -> Vec<String> {
        self.lock().routing.specs_json.clone()
    }

    /// Resolves when events may be waiting (a permit is kept if nobody waits).
    pub async fn ready(&self) {
        self.ready.notified().await
    }
}

/// A JSON array of IPC events, as `Message::AlertEvents` carries it.
pub fn events_array(events: &[String]) -> String {
    let mut s = String::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    s.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(e);
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::Row;

    fn engine_event(node: &str, topic: Option<&str>) -> AlertEvent {
        AlertEvent {
            task: "t".into(),
            node: node.into(),
            id: "cpu:nil".into(),
            message: "cpu:nil is CRITICAL".into(),
            details: "d".into(),
            time: 1_000_000_000,
            duration: 0,
            level: "CRITICAL".into(),
            previous_level: "OK".into(),
            recoverable: true,
            data: Row {
                name: "cpu".into(),
                tags: [("host".to_string(), "a".to_string())]
                    .into_iter()
                    .collect(),
                columns: vec!["time".into(), "value".into()],
                values: vec![vec!["1970-01-01T00:00:01Z".into(), 1.5.into()]],
            },
            topic: topic.map(str::to_string),
            category: None,
            handlers: Vec::new(),
        }
    }

    #[test]
    fn events_go_to_the_anonymous_and_the_named_topic() {
        let evs = to_events("t", true, engine_event("alert2", Some("cpu")));
        let topics: Vec<&str> = evs.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(topics, ["main:t:alert2", "cpu"]);
        let e = &evs[0];
        assert_eq!(e.level, Level::Critical);
        assert_eq!(e.name, "cpu");
        assert_eq!(e.task_name, "t");
        assert_eq!(e.tags["host"], "a");
        assert_eq!(e.fields["value"], 1.5);
        assert!(
            e.alert_json().starts_with(
                r#"{"id":"cpu:nil","message":"cpu:nil is CRITICAL","details":"d","time":"1970-01-01T00:00:01Z","duration":0,"level":"CRITICAL","data":{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[["1970-01-01T00:00:01Z",1.5]]}]}"#
            ),
            "{}",
            e.alert_json()
        );
        let back = Event::from_ipc_json(&e.to_ipc_json()).unwrap();
        assert_eq!(&back, e);
        assert!(to_events("t", false, engine_event("alert2", None)).is_empty());
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_and_counts() {
        let o = AlertOutbox::new(3);
        for i in 0..5 {
            o.push_json(format!("{i}"));
        }
        assert_eq!(o.dropped(), 2);
        let batch = o.take(2);
        assert_eq!(batch, ["2", "3"]);
        o.push_json("5".into());
        // The link failed to send the batch: it goes back in front, the oldest beyond the
        // cap is lost.
        o.unshift(batch);
        assert_eq!(o.dropped(), 3);
        assert_eq!(o.take(10), ["3", "4", "5"]);
        assert_eq!(events_array(&["{}".into(), "[]".into()]), "[{},[]]");
    }

    #[test]
    fn prepare_reads_script_handlers_and_refuses_bad_ones() {
        let mut spec = TaskSpec {
            id: "cpu_alert".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: "stream|from().measurement('cpu')|alert().crit(lambda: TRUE).log('/tmp/x.log')"
                .into(),
            vars_json: String::new(),
        };
        prepare(&spec, &Config::default()).unwrap();
        let specs = outbox().script_handlers();
        assert_eq!(specs.len(), 1);
        assert!(
            specs[0].contains(r#""topic":"main:cpu_alert:alert2""#),
            "{specs:?}"
        );
        spec.script = "stream|from()|alert().crit(lambda: TRUE).log('x.log')".into();
        let e = prepare(&spec, &Config::default()).unwrap_err();
        assert!(e.contains("log path must be absolute"), "{e}");
    }
}
