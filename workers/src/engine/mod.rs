//! The stream pipeline engine: runs one task's checked `Pipeline` inside a worker process.
//!
//! Design: a synchronous, single-threaded push engine. `Task::push_point` runs the point
//! through the DAG depth-first, so there are no queues between stages and nothing buffers
//! without bound except what a node's semantics require (window contents, join buffers), and
//! those are per group. The only queue is the worker's bounded inbound queue, owned by the
//! process shell. Each node keeps per-group state keyed by an interned `Group`.
//!
//! Time is data-driven (point timestamps) everywhere except barrier idle/period, stats and
//! deadman, which `Task::tick` drives with the wall clock.
//!
//! Batch tasks: the shell schedules the `query()` nodes (`Task::queries`) with
//! `kapacitor-influxdb` and feeds each answer back with `Task::push_batch`. Output that needs
//! the network (`influxDBOut`) is left in a bounded outbox for the shell
//! (`Task::drain_influxdb_writes`). The one exception is `httpPost`, which waits for each
//! answer as Kapacitor does (its `.codeField()` goes on the forwarded data), bounded by its
//! timeout; it reaches the network only through the `HttpPoster` in `TaskContext`.
//!
//! A runtime error on one message (type mismatch, missing field) is counted in the node's
//! `errors` and logged; the task goes on. A panic inside a node is caught at the
//! `push_point`/`tick` boundary and counted as an error of the node that panicked.

mod held;
mod http_post;
mod influxdb_out;
mod lambda;
mod msg;
mod nodes;
mod props;
mod query;
mod result;
mod timeutil;

pub use http_post::{
    HttpPostContext, HttpPostEndpoint, HttpPoster, PostOutcome, PostRequest, ReqwestPoster,
};
pub use influxdb_out::{InfluxDbOutSpec, OutWrite};
pub use nodes::{AlertEvent, AlertLevel, LoopbackWrite, RestoredEvent};
pub use query::QueryNodeSpec;

use msg::{BatchMsg, Group, GroupMap, GroupTable, Msg, PointMsg};
use nodes::NodeImpl;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;
use tickscript::pipeline::{Pipeline, TaskType};

pub use kapacitor_models::{Batch, Point};

/// What a task knows about where it runs; used by alert templates (`.TaskName`,
/// `.ServerInfo.Hostname`, ...).
#[derive(Debug, Clone, Default)]
pub struct TaskContext {
    pub task_id: String,
    pub hostname: String,
    pub cluster_id: String,
    pub server_id: String,
    /// For httpPost nodes: the `[[httppost]]` endpoints and the HTTP client.
    pub http_post: HttpPostContext,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A node's arguments or properties are invalid in a way the checker cannot see.
    #[error("{node}: {msg}")]
    InvalidNode { node: String, msg: String },
    #[error("invalid pipeline: {0}")]
    InvalidPipeline(String),
    /// A call named a node that does not exist or is of the wrong kind.
    #[error("{0}")]
    NoSuchNode(String),
}

/// Statistics of one node, as Kapacitor reports them in task `stats` and the DOT view.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeStats {
    /// `stream0`, `from1`, `window2`, ...
    pub name: String,
    pub collected: i64,
    pub emitted: i64,
    pub errors: i64,
    pub avg_exec_time_ns: i64,
    pub working_cardinality: i64,
    /// Node-specific counters (alert: `alerts_triggered`, `crits_triggered`, ...).
    pub extra: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskStats {
    /// In node order.
    pub nodes: Vec<NodeStats>,
    /// DAG edges `(parent name, child name, messages processed on that edge)`.
    pub edges: Vec<(String, String, i64)>,
}

impl TaskStats {
    /// Kapacitor's task `stats` JSON (keys sorted, as Go prints maps).
    pub fn to_json(&self, throughput: f64) -> String {
        let mut nodes = serde_json::Map::new();
        for n in &self.nodes {
            let mut m: BTreeMap<&str, i64> = BTreeMap::new();
            m.insert("avg_exec_time_ns", n.avg_exec_time_ns);
            m.insert("collected", n.collected);
            m.insert("emitted", n.emitted);
            m.insert("errors", n.errors);
            m.insert("working_cardinality", n.working_cardinality);
            for (k, v) in &n.extra {
                m.insert(k, *v);
            }
            nodes.insert(
                n.name.clone(),
                serde_json::Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                        .collect(),
                ),
            );
        }
        let mut sorted: Vec<(String, serde_json::Value)> = nodes.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let tp = serde_json::Number::from_f64(throughput)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::from(0));
        serde_json::json!({
            "node-stats": serde_json::Value::Object(sorted.into_iter().collect()),
            "task-stats": {"throughput": tp},
        })
        .to_string()
    }

    /// The DOT view with attributes, as `GET /kapacitor/v1/tasks/<id>` shows for an
    /// executing task (`dot-view=attributes`).
    pub fn dot(&self, task_id: &str, task_type: TaskType, throughput: f64) -> String {
        let mut s = format!("digraph {task_id} {{\ngraph [throughput=\"{throughput:.2} ");
        s.push_str(if task_type == TaskType::Batch {
            "batches/s\"];\n\n"
        } else {
            "points/s\"];\n\n"
        });
        for n in &self.nodes {
            let _ = write!(s, "{} [", n.name);
            let mut attrs: BTreeMap<&str, String> = BTreeMap::new();
            for (k, v) in &n.extra {
                attrs.insert(k, v.to_string());
            }
            attrs.insert(
                "avg_exec_time_ns",
                kapacitor_models::time_fmt::go_duration_string(n.avg_exec_time_ns),
            );
            attrs.insert("errors", n.errors.to_string());
            attrs.insert("working_cardinality", n.working_cardinality.to_string());
            for (k, v) in attrs {
                let _ = write!(s, "{k}=\"{v}\" ");
            }
            s.push_str("];\n");
            for (p, c, n) in self.edges.iter().filter(|e| e.0 == n.name) {
                let _ = writeln!(s, "{p} -> {c} [processed=\"{n}\"];");
            }
        }
        s.push('}');
        s
    }
}

/// Per-group message counts of a node's input, for `stats` nodes that observe it.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupCounts {
    pub by_group: GroupMap<i64>,
}

/// What a node sees while handling one message.
pub struct Cx<'a> {
    out: &'a mut Vec<Msg>,
    groups: &'a mut GroupTable,
    held: &'a mut held::Interner,
    node_name: &'a str,
    errors: u64,
    alerts: &'a mut Vec<AlertEvent>,
    task: &'a TaskContext,
    observed: Option<(&'a GroupCounts, i64)>,
    dbrp: (&'a str, &'a str),
    /// The node has no children: what it emits is dropped.
    leaf: bool,
}

impl Cx<'_> {
    pub(crate) fn emit(&mut self, m: Msg) {
        self.out.push(m);
    }

    /// Counts and logs a runtime error of this node; the message is dropped by the caller.
    pub(crate) fn error(&mut self, msg: impl std::fmt::Display) {
        self.errors += 1;
        tracing::error!(task = %self.task.task_id, node = %self.node_name, "{msg}");
    }

    pub(crate) fn groups(&mut self) -> &mut GroupTable {
        self.groups
    }

    /// The task's interner, for nodes that hold points (see [`held`]).
    pub(crate) fn held(&mut self) -> &mut held::Interner {
        self.held
    }

    pub(crate) fn task(&self) -> &TaskContext {
        self.task
    }

    pub(crate) fn node_name(&self) -> &str {
        self.node_name
    }

    /// True when nothing receives what this node emits, so a node that keeps a message may
    /// keep it instead of a copy.
    pub(crate) fn is_leaf(&self) -> bool {
        self.leaf
    }

    pub(crate) fn alert(&mut self, e: AlertEvent) {
        // Bounded: if nobody drains the events (no alert handlers wired yet), keep the newest.
        const MAX_PENDING: usize = 10_000;
        if self.alerts.len() >= MAX_PENDING {
            self.alerts.remove(0);
        }
        self.alerts.push(e);
    }

    /// The database and retention policy of the stream point being pushed ("" outside
    /// `push_point`), which Kapacitor keeps on every point and influxDBOut writes back to.
    pub(crate) fn source_dbrp(&self) -> (&str, &str) {
        self.dbrp
    }

    /// For stats nodes during `tick`: the observed node's per-group collected counts and its
    /// total emitted count.
    pub(crate) fn observed(&self) -> Option<(&GroupCounts, i64)> {
        self.observed
    }
}

struct Slot {
    name: String,
    imp: Box<dyn NodeImpl>,
    /// `(child index, port on the child)`.
    children: Vec<(usize, usize)>,
    /// The chain parent, if any.
    parent: Option<usize>,
    /// Messages received per parent port, for the DOT edge labels.
    processed_by_port: Vec<i64>,
    collected: i64,
    emitted: i64,
    errors: i64,
    calls: u64,
    timed_calls: u64,
    timed_ns: u64,
    /// Set when a stats node observes this node.
    track_groups: bool,
    group_counts: GroupCounts,
}

/// Every how many calls a node's execution time is measured. Reading the clock on every
/// message would cost more than most nodes' work.
const TIME_SAMPLE_EVERY: u64 = 32;

/// A running task: the nodes of one pipeline and their state.
pub struct Task {
    ctx: TaskContext,
    task_type: TaskType,
    slots: Vec<Slot>,
    sources: Vec<usize>,
    /// `query()` nodes, where batches enter.
    queries: Vec<usize>,
    groups: GroupTable,
    held: held::Interner,
    alerts: Vec<AlertEvent>,
    pool: Vec<Vec<Msg>>,
    current: Option<usize>,
    measurements: Option<Vec<String>>,
    nil_group: Option<Group>,
    /// `(time, points received)` at the previous tick, for `throughput`.
    last_tick: Option<(i64, i64)>,
    throughput: f64,
    /// Database and retention policy of the point being pushed, for influxDBOut.
    cur_db: String,
    cur_rp: String,
}

impl Task {
    /// Builds the nodes of `pipeline`. Fails (without panicking) when a node's properties are
    /// invalid in a way the checker cannot detect.
    pub fn new(
        task_id: &str,
        pipeline: &Pipeline,
        mut ctx: TaskContext,
    ) -> Result<Task, EngineError> {
        if ctx.task_id.is_empty() {
            ctx.task_id = task_id.to_string();
        }
        let n = pipeline.nodes.len();
        let mut slots = Vec::with_capacity(n);
        for (i, node) in pipeline.nodes.iter().enumerate() {
            if node.id != i {
                return Err(EngineError::InvalidPipeline(format!(
                    "node {i} has id {}",
                    node.id
                )));
            }
            for &p in &node.parents {
                if p >= i {
                    return Err(EngineError::InvalidPipeline(format!(
                        "node {i} has parent {p} that does not precede it"
                    )));
                }
            }
            let name = pipeline.node_name(i);
            let imp = nodes::build(pipeline, i, name.clone(), &ctx)?;
            slots.push(Slot {
                name,
                imp,
                children: Vec::new(),
                parent: node.parents.first().copied(),
                processed_by_port: vec![0; node.parents.len().max(1)],
                collected: 0,
                emitted: 0,
                errors: 0,
                calls: 0,
                timed_calls: 0,
                timed_ns: 0,
                track_groups: false,
                group_counts: GroupCounts::default(),
            });
        }
        for (i, node) in pipeline.nodes.iter().enumerate() {
            for (port, &p) in node.parents.iter().enumerate() {
                slots[p].children.push((i, port));
            }
        }
        for i in 0..n {
            if let Some(o) = slots[i].imp.observes() {
                slots[o].track_groups = true;
            }
        }
        let sources = pipeline
            .nodes
            .iter()
            .filter(|n| n.kind == "stream")
            .map(|n| n.id)
            .collect();
        let queries = kapacitor_order(&slots)
            .into_iter()
            .filter(|&i| pipeline.nodes[i].kind == "query")
            .collect();
        // Routing hint: the measurements this task can use, unless a from() takes all.
        let mut measurements = Some(Vec::new());
        for node in pipeline.nodes.iter().filter(|n| n.kind == "from") {
            let m = node
                .props
                .iter()
                .rev()
                .find(|p| p.name == "measurement")
                .and_then(|p| match p.args.first() {
                    Some(tickscript::pipeline::Arg::Str(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                });
            match (m, measurements.as_mut()) {
                (Some(m), Some(v)) if !v.contains(&m) => v.push(m),
                (None, _) => measurements = None,
                _ => {}
            }
        }
        Ok(Task {
            ctx,
            task_type: pipeline.task_type,
            slots,
            sources,
            queries,
            groups: GroupTable::default(),
            held: held::Interner::default(),
            alerts: Vec::new(),
            pool: Vec::new(),
            current: None,
            measurements,
            nil_group: None,
            last_tick: None,
            throughput: 0.0,
            cur_db: String::new(),
            cur_rp: String::new(),
        })
    }

    pub fn task_id(&self) -> &str {
        &self.ctx.task_id
    }

    /// Runs one point written to `db`.`rp` through the pipeline.
    pub fn push_point(&mut self, db: &str, rp: &str, p: Point) {
        // Compared before assigning so that the usual case (one dbrp) allocates nothing.
        if self.cur_db != db {
            db.clone_into(&mut self.cur_db);
        }
        if self.cur_rp != rp {
            rp.clone_into(&mut self.cur_rp);
        }
        let sources = std::mem::take(&mut self.sources);
        let mut p = Some(p);
        for (i, &s) in sources.iter().enumerate() {
            let pt = if i + 1 == sources.len() {
                p.take()
            } else {
                p.clone()
            };
            let m = SourceMsg { db, rp, p: pt };
            self.run_guarded(|t| t.deliver_source(s, m));
        }
        self.sources = sources;
    }

    /// Runs a batch of points written to `db`.`rp`, in order.
    pub fn push_points(&mut self, db: &str, rp: &str, points: Vec<Point>) {
        for p in points {
            self.push_point(db, rp, p);
        }
    }

    /// The `query()` nodes of a batch task, for the shell to schedule, in Kapacitor's order
    /// (its topological sort, which lists sibling queries last-written first; batch
    /// recordings number their sources in this order).
    pub fn queries(&self) -> Vec<QueryNodeSpec> {
        self.queries
            .iter()
            .filter_map(|&q| self.slots[q].imp.query_spec().cloned())
            .collect()
    }

    /// Runs one batch answered to query node `query_node` ([`QueryNodeSpec::node`]) through
    /// the pipeline below it. As in Kapacitor, the batch's group is its tags (the query's
    /// GROUP BY tags as InfluxDB returned them), plus the measurement with
    /// `.groupByMeasurement()`; `batch.time` is its tmax. Points without tags inherit the
    /// batch's tags.
    pub fn push_batch(&mut self, query_node: usize, batch: Batch) -> Result<(), EngineError> {
        let by_name = self
            .slots
            .get(query_node)
            .and_then(|s| s.imp.query_spec())
            .map(|q| q.props.group_by_measurement)
            .ok_or_else(|| self.not_a(query_node, "query"))?;
        if let Some(p) = self.slots[query_node].parent {
            self.slots[p].collected += 1;
            self.slots[p].emitted += 1;
            self.slots[p].processed_by_port[0] += 1;
        }
        self.run_guarded(|t| t.deliver_batch(query_node, by_name, batch));
        Ok(())
    }

    /// Counts a failed run of query node `query_node` in its `query_errors`.
    pub fn record_query_error(&mut self, query_node: usize) -> Result<(), EngineError> {
        match self.slots.get_mut(query_node) {
            Some(s) if s.imp.query_spec().is_some() => {
                s.imp.query_failed();
                Ok(())
            }
            _ => Err(self.not_a(query_node, "query")),
        }
    }

    /// The influxDBOut nodes of the task, for the shell to start one writer each.
    pub fn influxdb_outs(&self) -> Vec<InfluxDbOutSpec> {
        self.slots
            .iter()
            .filter_map(|s| s.imp.influxdb_out().cloned())
            .collect()
    }

    /// The points influxDBOut nodes produced since the last call, oldest first per node.
    pub fn drain_influxdb_writes(&mut self) -> Vec<OutWrite> {
        let mut out = Vec::new();
        for s in &mut self.slots {
            s.imp.take_writes(&mut out);
        }
        out
    }

    /// What the shell's writer of influxDBOut node `node` did: `ok_points` points written,
    /// `errors` failed writes. They become the node's `points_written` and `write_errors`
    /// (Kapacitor counts points when InfluxDB accepted them, errors per failed write).
    pub fn record_influxdb_out_result(
        &mut self,
        node: usize,
        ok_points: u64,
        errors: u64,
    ) -> Result<(), EngineError> {
        match self.slots.get_mut(node) {
            Some(s) if s.imp.influxdb_out().is_some() => {
                s.imp.write_result(ok_points, errors);
                Ok(())
            }
            _ => Err(self.not_a(node, "influxDBOut")),
        }
    }

    fn not_a(&self, node: usize, kind: &str) -> EngineError {
        match self.slots.get(node) {
            Some(s) => {
                EngineError::NoSuchNode(format!("node {node} ({}) is not a {kind} node", s.name))
            }
            None => EngineError::NoSuchNode(format!(
                "no node {node}: the task has {} nodes",
                self.slots.len()
            )),
        }
    }

    /// Points per second received since the previous tick (Kapacitor's `throughput`).
    pub fn throughput(&self) -> f64 {
        self.throughput
    }

    /// The task's `stats` object as Kapacitor shows it:
    /// `{"task-stats":{"throughput":..},"node-stats":{"from1":{"avg_exec_time_ns":..,..}}}`.
    pub fn stats_json(&self) -> String {
        self.stats().to_json(self.throughput)
    }

    /// Wall-clock work: barrier idle/period, stats and deadman intervals.
    pub fn tick(&mut self, now_ns: i64) {
        let received: i64 = self
            .sources
            .iter()
            .chain(&self.queries)
            .map(|&s| self.slots[s].collected)
            .sum();
        if let Some((t, n)) = self.last_tick
            && now_ns > t
        {
            self.throughput = (received - n) as f64 / ((now_ns - t) as f64 / 1e9);
        }
        self.last_tick = Some((now_ns, received));
        for i in 0..self.slots.len() {
            self.run_guarded(|t| t.tick_node(i, now_ns));
        }
        self.held.sweep();
    }

    /// The compact JSON body of httpOut endpoint `endpoint`; `None` if the task has no such
    /// endpoint.
    pub fn http_out(&self, endpoint: &str) -> Option<String> {
        self.slots
            .iter()
            .rev()
            .filter_map(|s| s.imp.http_out())
            .find(|(e, _)| *e == endpoint)
            .map(|(_, body)| body)
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|s| s.imp.http_out().map(|(e, _)| e.to_string()))
            .collect()
    }

    pub fn stats(&self) -> TaskStats {
        let mut st = TaskStats::default();
        for s in &self.slots {
            let mut extra = Vec::new();
            s.imp.counters(&mut extra);
            st.nodes.push(NodeStats {
                name: s.name.clone(),
                collected: s.collected,
                emitted: s.emitted,
                errors: s.errors,
                avg_exec_time_ns: s.timed_ns.checked_div(s.timed_calls).unwrap_or(0) as i64,
                working_cardinality: s.imp.cardinality() as i64,
                extra: extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            });
            for &(c, port) in &s.children {
                st.edges.push((
                    s.name.clone(),
                    self.slots[c].name.clone(),
                    self.slots[c].processed_by_port[port],
                ));
            }
        }
        st
    }

    pub fn task_type(&self) -> TaskType {
        self.task_type
    }

    /// Alert events produced since the last call, oldest first.
    /// The alert nodes: `(node name, named topic)`, for fetching their last event states.
    pub fn alert_nodes(&self) -> Vec<(String, Option<String>)> {
        self.slots
            .iter()
            .filter_map(|s| {
                s.imp
                    .alert_topic()
                    .map(|t| (s.name.clone(), t.map(str::to_string)))
            })
            .collect()
    }

    /// Gives alert node `node` the event states of before the restart (see
    /// [`nodes::NodeImpl::restore_alert_states`]).
    pub fn restore_alert_states(
        &mut self,
        node: &str,
        states: std::collections::HashMap<String, RestoredEvent>,
    ) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.name == node) {
            s.imp.restore_alert_states(states);
        }
    }

    /// The points kapacitorLoopback nodes produced since the last call, for this kapacitord's
    /// own stream.
    pub fn drain_loopback(&mut self) -> Vec<LoopbackWrite> {
        let mut out = Vec::new();
        for s in &mut self.slots {
            s.imp.take_loopback(&mut out);
        }
        out
    }

    /// `POST /sideload/reload`: every sideload node reads its source again. The errors, by
    /// node (a node that fails keeps its previous files).
    pub fn reload_sideload(&mut self) -> Vec<String> {
        self.slots
            .iter_mut()
            .filter_map(|s| match s.imp.reload_sideload() {
                Some(Err(e)) => Some(format!("{}: {e}", s.name)),
                _ => None,
            })
            .collect()
    }

    pub fn drain_alert_events(&mut self) -> Vec<AlertEvent> {
        std::mem::take(&mut self.alerts)
    }

    /// Routing hint: the measurements the task's `from()` nodes select, or `None` when some
    /// `from()` takes every measurement of its dbrp.
    pub fn measurements(&self) -> Option<&[String]> {
        self.measurements.as_deref()
    }

    fn run_guarded(&mut self, f: impl FnOnce(&mut Task)) {
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        if r.is_err() {
            let node = self.current.take();
            if let Some(i) = node {
                self.slots[i].errors += 1;
                tracing::error!(task = %self.ctx.task_id, node = %self.slots[i].name,
                    "node panicked; message dropped");
            }
            // Buffers taken from the pool during the unwound call are simply lost.
        }
        self.current = None;
    }

    fn deliver_source(&mut self, s: usize, m: SourceMsg) {
        let SourceMsg { db, rp, p } = m;
        let Some(p) = p else { return };
        self.slots[s].collected += 1;
        self.slots[s].processed_by_port[0] += 1;
        // The stream node fans out to its from() children, which filter on db/rp/measurement.
        let nch = self.slots[s].children.len();
        let mut p = Some(p);
        for ci in 0..nch {
            let (c, _) = self.slots[s].children[ci];
            if !self.slots[c].imp.accepts_dbrp(db, rp) {
                continue;
            }
            let pt = if ci + 1 == nch {
                p.take().expect("point taken once")
            } else {
                p.as_ref().expect("point still present").clone()
            };
            self.slots[s].emitted += 1;
            // Points enter ungrouped; the nil group does not depend on the measurement.
            let group = match &self.nil_group {
                Some(g) => g.clone(),
                None => {
                    let dims = self.nil_dims();
                    let g = self.groups.group(&pt.name, &Default::default(), &dims);
                    self.nil_group = Some(g.clone());
                    g
                }
            };
            self.deliver(c, 0, Msg::Point(PointMsg::new(pt, group)));
        }
    }

    fn deliver_batch(&mut self, q: usize, by_name: bool, mut b: Batch) {
        for p in &mut b.points {
            if p.tags.is_empty() && !b.tags.is_empty() {
                p.tags.clone_from(&b.tags);
            }
            if p.name.is_empty() {
                p.name.clone_from(&b.name);
            }
        }
        let dims = self.groups.dims(msg::Dims {
            tag_names: b.tags.keys().cloned().collect(),
            by_name,
        });
        let group = self.groups.group(&b.name, &b.tags, &dims);
        self.deliver(q, 0, Msg::Batch(BatchMsg::new(b, group)));
    }

    fn nil_dims(&mut self) -> std::sync::Arc<msg::Dims> {
        self.groups.dims(msg::Dims::default())
    }

    fn deliver(&mut self, node: usize, port: usize, mut msg: Msg) {
        let mut out = self.pool.pop().unwrap_or_default();
        let prev = self.current.replace(node);
        {
            let slot = &mut self.slots[node];
            if let Msg::Batch(bm) = &mut msg
                && bm.held.is_some()
                && !slot.imp.reads_held()
            {
                bm.unhold();
            }
            if matches!(msg, Msg::Point(_) | Msg::Batch(_)) {
                slot.collected += 1;
                if let Some(c) = slot.processed_by_port.get_mut(port) {
                    *c += 1;
                }
            }
            slot.calls += 1;
            let timed = slot.calls % TIME_SAMPLE_EVERY == 1;
            let start = timed.then(Instant::now);
            let mut cx = Cx {
                out: &mut out,
                groups: &mut self.groups,
                held: &mut self.held,
                node_name: &slot.name,
                errors: 0,
                alerts: &mut self.alerts,
                task: &self.ctx,
                observed: None,
                dbrp: (&self.cur_db, &self.cur_rp),
                leaf: slot.children.is_empty(),
            };
            slot.imp.on_msg(port, msg, &mut cx);
            slot.errors += cx.errors as i64;
            if let Some(start) = start {
                slot.timed_calls += 1;
                slot.timed_ns += start.elapsed().as_nanos() as u64;
            }
        }
        self.current = prev;
        self.forward(node, &mut out);
        self.pool.push(out);
    }

    fn forward(&mut self, node: usize, out: &mut Vec<Msg>) {
        let nch = self.slots[node].children.len();
        for m in out.drain(..) {
            if matches!(m, Msg::Point(_) | Msg::Batch(_)) {
                let slot = &mut self.slots[node];
                slot.emitted += nch as i64;
                if slot.track_groups {
                    *slot
                        .group_counts
                        .by_group
                        .entry(m.group().clone())
                        .or_insert(0) += 1;
                }
            } else if let Msg::Delete { group } = &m {
                self.slots[node].group_counts.by_group.remove(group);
            }
            let mut m = Some(m);
            for ci in 0..nch {
                let (c, port) = self.slots[node].children[ci];
                let mm = if ci + 1 == nch {
                    m.take().expect("message taken once")
                } else {
                    m.as_ref().expect("message still present").clone()
                };
                self.deliver(c, port, mm);
            }
        }
    }

    fn tick_node(&mut self, node: usize, now: i64) {
        let mut out = self.pool.pop().unwrap_or_default();
        let prev = self.current.replace(node);
        {
            let observed_idx = self.slots[node].imp.observes();
            let (before, rest) = self.slots.split_at_mut(node);
            let slot = &mut rest[0];
            let observed = observed_idx
                .filter(|&o| o < node)
                .map(|o| (&before[o].group_counts, before[o].emitted));
            let mut cx = Cx {
                out: &mut out,
                groups: &mut self.groups,
                held: &mut self.held,
                node_name: &slot.name,
                errors: 0,
                alerts: &mut self.alerts,
                task: &self.ctx,
                observed,
                dbrp: (&self.cur_db, &self.cur_rp),
                leaf: slot.children.is_empty(),
            };
            slot.imp.on_tick(now, &mut cx);
            slot.errors += cx.errors as i64;
        }
        self.current = prev;
        self.forward(node, &mut out);
        self.pool.push(out);
    }
}

/// Kapacitor's node order (`Pipeline.sort`): a depth-first topological sort from the sources,
/// taken in reverse, children in creation order, reversed at the end. It puts sibling
/// `query()` nodes last-created first, which is how Kapacitor numbers a task's queries in
/// batch recordings and test data; `Task::queries` keeps that numbering.
fn kapacitor_order(slots: &[Slot]) -> Vec<usize> {
    let n = slots.len();
    let mut has_parent = vec![false; n];
    for s in slots {
        for &(c, _) in &s.children {
            has_parent[c] = true;
        }
    }
    let mut done = vec![false; n];
    let mut sorted = Vec::with_capacity(n);
    for root in (0..n).rev().filter(|&i| !has_parent[i]) {
        // Iterative DFS (a deep pipeline must not overflow the stack): (node, next child).
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if done[node] {
                stack.pop();
                continue;
            }
            match slots[node].children.get(*next) {
                Some(&(c, _)) => {
                    *next += 1;
                    if !done[c] {
                        stack.push((c, 0));
                    }
                }
                None => {
                    done[node] = true;
                    sorted.push(node);
                    stack.pop();
                }
            }
        }
    }
    sorted.reverse();
    sorted
}

struct SourceMsg<'a> {
    db: &'a str,
    rp: &'a str,
    p: Option<Point>,
}
