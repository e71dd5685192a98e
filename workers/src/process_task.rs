//! The pipeline engine behind the [`TaskRunner`] seam: compiles the task's script with its
//! vars, builds the engine's `Task`, and drives it.

use crate::engine::{AlertLevel, HttpPostContext, RestoredEvent, Task, TaskContext, TaskStats};
use crate::process_influxdb_out::OutWriters;
use crate::process_runner::{TaskRunner, WorkerContext};
use kapacitor_ipc::TaskSpec;
use kapacitor_models::{Batch, Point};
use std::collections::HashMap;
use tickscript::pipeline::Pipeline;
use tickscript::{DotStats, NodeDotStats, Vars};
use tracing::debug;

pub struct EngineRunner {
    task: Task,
    pipeline: Pipeline,
    id: String,
    /// influxDBOut writers; `None` when the task has no influxDBOut node.
    outs: Option<OutWriters>,
}

/// [`crate::RunnerFactory`] of the pipeline engine. A script that does not compile (the store
/// was edited, or a newer build refuses what an older one accepted) or a node the engine
/// cannot build is an `Err`: the task is marked failed with that error, never restarted.
pub fn engine_runner(spec: &TaskSpec, ctx: &WorkerContext) -> Result<Box<dyn TaskRunner>, String> {
    let vars: Vars = if spec.vars_json.trim().is_empty() {
        Vars::new()
    } else {
        serde_json::from_str(&spec.vars_json).map_err(|e| format!("invalid task vars: {e}"))?
    };
    let pipeline =
        tickscript::compile(&spec.script, &vars).map_err(|e| format!("invalid TICKscript: {e}"))?;
    let task = Task::new(
        &spec.id,
        &pipeline,
        TaskContext {
            task_id: spec.id.clone(),
            hostname: ctx.hostname.clone(),
            cluster_id: ctx.cluster_id.clone(),
            server_id: ctx.server_id.clone(),
            http_post: HttpPostContext {
                endpoints: ctx.http_post_endpoints.clone(),
                // A POST's wait is declared to the watchdog (see `process_heartbeat`).
                poster: Some(std::sync::Arc::new(
                    crate::process_heartbeat::WatchedPoster::default(),
                )),
            },
        },
    )
    .map_err(|e| e.to_string())?;
    // Query and influxDBOut nodes naming a cluster that is not configured: refuse the task.
    crate::process_batch::prepare(task.queries(), &ctx.influxdb)?;
    let out_specs = task.influxdb_outs();
    let outs = if out_specs.is_empty() {
        None
    } else {
        Some(OutWriters::start(
            &out_specs,
            &ctx.influxdb,
            ctx.runtime.as_ref(),
        )?)
    };
    Ok(Box::new(EngineRunner {
        task,
        pipeline,
        id: spec.id.clone(),
        outs,
    }))
}

impl EngineRunner {
    fn drain_alerts(&mut self) {
        let outbox = crate::process_alerts::outbox();
        for ev in self.task.drain_alert_events() {
            debug!(task = %self.id, node = %ev.node, id = %ev.id, level = %ev.level,
                message = %ev.message, "alert event");
            outbox.push_engine_event(ev);
        }
    }
}

impl EngineRunner {
    /// Hands influxDBOut's outbox to the writers, and kapacitorLoopback's to the apid link.
    fn ship_writes(&mut self) {
        if let Some(outs) = &self.outs {
            outs.feed(self.task.drain_influxdb_writes());
        }
        crate::process_loopback::outbox().push(self.task.drain_loopback());
    }

    /// Brings the writers' counters into the nodes' statistics.
    fn record_write_results(&mut self) {
        let Some(outs) = &mut self.outs else { return };
        for (node, ok, errors) in outs.take_results() {
            if let Err(e) = self.task.record_influxdb_out_result(node, ok, errors) {
                debug!(task = %self.id, error = %e, "influxDBOut result not recorded");
            }
        }
    }
}

impl TaskRunner for EngineRunner {
    fn push_points(&mut self, db: &str, rp: &str, points: Vec<Point>) {
        self.task.push_points(db, rp, points);
        self.drain_alerts();
        self.ship_writes();
    }

    fn tick(&mut self, now_ns: i64) {
        self.task.tick(now_ns);
        self.drain_alerts();
        self.ship_writes();
        self.record_write_results();
    }

    fn queries(&self) -> Vec<crate::engine::QueryNodeSpec> {
        self.task.queries()
    }

    fn push_batch(&mut self, node: usize, batch: Batch) {
        if let Err(e) = self.task.push_batch(node, batch) {
            tracing::error!(task = %self.id, error = %e, "batch dropped");
        }
        self.drain_alerts();
        self.ship_writes();
    }

    fn alert_topics(&self) -> Vec<String> {
        let mut topics = Vec::new();
        for (node, topic) in self.task.alert_nodes() {
            topics.push(kapacitor_alert::anonymous_topic(&self.id, &node));
            topics.extend(topic);
        }
        topics.sort();
        topics.dedup();
        topics
    }

    fn restore_alert_states(&mut self, states: Vec<kapacitor_ipc::TopicEventState>) {
        let mut by_topic: HashMap<String, HashMap<String, RestoredEvent>> = HashMap::new();
        for s in states {
            let restored = kapacitor_alert::EventState::from_persisted_json(&s.state_json)
                .ok()
                .and_then(|st| {
                    Some(RestoredEvent {
                        level: AlertLevel::parse(st.level.as_str())?,
                        time: st.time,
                        duration: st.duration,
                    })
                });
            match restored {
                Some(r) => {
                    by_topic.entry(s.topic).or_default().insert(s.event_id, r);
                }
                None => tracing::warn!(task = %self.id, topic = %s.topic, event = %s.event_id,
                    "unreadable alert event state; not restored"),
            }
        }
        for (node, topic) in self.task.alert_nodes() {
            // Kapacitor's precedence: the node's anonymous topic, then its named topic.
            let mut states = by_topic
                .get(&kapacitor_alert::anonymous_topic(&self.id, &node))
                .cloned()
                .unwrap_or_default();
            if let Some(named) = topic.and_then(|t| by_topic.get(&t)) {
                for (id, r) in named {
                    states.entry(id.clone()).or_insert(*r);
                }
            }
            if !states.is_empty() {
                tracing::info!(task = %self.id, node = %node, events = states.len(), "alert states restored");
                self.task.restore_alert_states(&node, states);
            }
        }
    }

    fn reload_sideload(&mut self) -> Vec<String> {
        self.task.reload_sideload()
    }

    fn query_failed(&mut self, node: usize) {
        if let Err(e) = self.task.record_query_error(node) {
            tracing::error!(task = %self.id, error = %e, "query error not recorded");
        }
    }

    fn flush(&mut self) {
        self.ship_writes();
        if let Some(outs) = self.outs.take() {
            outs.close();
        }
    }

    fn http_out(&self, endpoint: &str) -> Option<String> {
        self.task.http_out(endpoint)
    }

    fn stats_json(&self) -> String {
        self.task.stats_json()
    }

    fn dot(&self, labels: bool) -> Option<String> {
        let mut stats = dot_stats(&self.task.stats());
        stats.throughput = self.task.throughput();
        stats.labels = labels;
        Some(self.pipeline.dot_with_stats(&self.id, &stats))
    }

    fn measurements(&self) -> Option<Vec<String>> {
        self.task.measurements().map(<[String]>::to_vec)
    }
}

/// The engine's counters in the shape the DOT printer takes: the same attributes as the
/// engine's own DOT (`avg_exec_time_ns` as a Go duration, errors, cardinality, node
/// counters) and the points each edge carried.
fn dot_stats(st: &TaskStats) -> DotStats {
    let mut out = DotStats::default();
    for n in &st.nodes {
        let mut node = NodeDotStats::default();
        for (k, v) in &n.extra {
            node.stats.insert(k.clone(), v.to_string());
        }
        node.stats.insert(
            "avg_exec_time_ns".into(),
            kapacitor_models::time_fmt::go_duration_string(n.avg_exec_time_ns),
        );
        node.stats.insert("errors".into(), n.errors.to_string());
        node.stats.insert(
            "working_cardinality".into(),
            n.working_cardinality.to_string(),
        );
        out.nodes.insert(n.name.clone(), node);
    }
    for (parent, child, processed) in &st.edges {
        if let Some(node) = out.nodes.get_mut(parent) {
            node.processed
                .insert(child.clone(), (*processed).max(0) as u64);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::point::FieldValue;

    fn spec(script: &str) -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: script.into(),
            vars_json: "{}".into(),
        }
    }

    fn point(time_s: i64) -> Point {
        Point {
            name: "test".into(),
            tags: Default::default(),
            fields: [("value".to_string(), FieldValue::Float(1.0))]
                .into_iter()
                .collect(),
            time: time_s * 1_000_000_000,
        }
    }

    #[test]
    fn runs_a_pipeline_and_draws_it_with_stats() {
        let script = "stream|from().measurement('test')|window().period(10s).every(10s)|count('value')|httpOut('count')";
        let mut r = engine_runner(&spec(script), &WorkerContext::default()).unwrap();
        assert_eq!(r.measurements(), Some(vec!["test".to_string()]));
        assert_eq!(r.http_out("count").as_deref(), Some(r#"{"series":null}"#));
        r.push_points("db", "rp", (0..12).map(point).collect());
        let body = r.http_out("count").unwrap();
        assert!(
            body.contains(r#""values":[["1970-01-01T00:00:10Z",10]]"#),
            "{body}"
        );
        let dot = r.dot(false).unwrap();
        assert!(dot.starts_with("digraph t {\ngraph [throughput="), "{dot}");
        assert!(
            dot.contains("stream0 -> from1 [processed=\"12\"];"),
            "{dot}"
        );
        let stats: serde_json::Value = serde_json::from_str(&r.stats_json()).unwrap();
        assert_eq!(stats["node-stats"]["from1"]["collected"], 12);
    }

    #[test]
    fn bad_scripts_and_vars_are_errors_with_positions() {
        let e = engine_runner(&spec("stream|from()\n|nope()"), &WorkerContext::default())
            .err()
            .unwrap();
        assert!(e.starts_with("invalid TICKscript: line 2 char"), "{e}");
        let mut s = spec("stream|from()");
        s.vars_json = "[1]".into();
        let e = engine_runner(&s, &WorkerContext::default()).err().unwrap();
        assert!(e.starts_with("invalid task vars"), "{e}");
    }
}
