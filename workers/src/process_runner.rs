//! The seam between the worker process shell and the pipeline engine.
//!
//! The shell owns the process: IPC with the supervisor and apid, signals, the runtime. The
//! engine owns the task: it gets points and clock ticks and answers httpOut and stats reads.
//! All calls happen on one dedicated engine thread, in order, so a runner needs no locking
//! and need not be `Send` (it is created on that thread).

use crate::engine::QueryNodeSpec;
use kapacitor_ipc::TaskSpec;
use kapacitor_models::{Batch, Point};

/// Facts about the process a runner may need (alert templates, logging).
#[derive(Debug, Clone, Default)]
pub struct WorkerContext {
    pub task_id: String,
    pub hostname: String,
    /// `.ServerInfo.ClusterID` / `.ServerID` of alert templates, as they were when the task
    /// started (empty when unknown).
    pub cluster_id: String,
    pub server_id: String,
    pub data_dir: std::path::PathBuf,
    /// The enabled `[[influxdb]]` clusters, for batch queries and influxDBOut.
    pub influxdb: kapacitor_influxdb::Clusters,
    /// The `[[httppost]]` endpoints, for httpPost nodes' `.endpoint(name)`.
    pub http_post_endpoints: Vec<crate::engine::HttpPostEndpoint>,
    /// The process's tokio runtime: influxDBOut writers run on it while the runner lives on
    /// the engine thread. `None` in tests without one (then the current runtime, if any).
    pub runtime: Option<tokio::runtime::Handle>,
    /// `[task] memory-limit`, checked by the engine thread (none by default).
    pub memory: crate::process_memory::MemoryBudget,
}

/// A running task, driven by the worker shell.
pub trait TaskRunner {
    /// A batch of points written to `db`.`rp`, in arrival order.
    fn push_points(&mut self, db: &str, rp: &str, points: Vec<Point>);
    /// Wall-clock time passes (about once a second), for work not driven by data.
    fn tick(&mut self, now_ns: i64);
    /// The body of an httpOut endpoint; `None` when the task has no such endpoint.
    fn http_out(&self, endpoint: &str) -> Option<String>;
    /// Node statistics as a JSON object.
    fn stats_json(&self) -> String;
    /// The task's DOT with its statistics (`labels`: graphviz label view); `None` when the
    /// runner has no pipeline to draw.
    fn dot(&self, _labels: bool) -> Option<String> {
        None
    }
    /// The measurements the task reads, for routing; `None` means every measurement of the
    /// task's dbrps.
    fn measurements(&self) -> Option<Vec<String>> {
        None
    }
    /// The process is about to exit: emit whatever must not be lost.
    fn flush(&mut self) {}
    /// Batch tasks: the `query()` nodes the shell schedules against InfluxDB.
    fn queries(&self) -> Vec<QueryNodeSpec> {
        Vec::new()
    }
    /// Batch tasks: one batch answered to query node `node` ([`QueryNodeSpec::node`]).
    fn push_batch(&mut self, _node: usize, _batch: Batch) {}
    /// Batch tasks: a run of query node `node` failed (counted in its `query_errors`).
    fn query_failed(&mut self, _node: usize) {}
    /// The topics whose event states the task's alert nodes continue from after a restart.
    fn alert_topics(&self) -> Vec<String> {
        Vec::new()
    }
    /// The event states of [`alert_topics`](Self::alert_topics), before any data arrives.
    fn restore_alert_states(&mut self, _states: Vec<kapacitor_ipc::TopicEventState>) {}
    /// `POST /sideload/reload`: the sideload nodes read their sources again; the errors.
    fn reload_sideload(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Builds the runner of a task. An `Err` means the task cannot run (bad script...): the
/// worker reports it to the supervisor, which marks the task failed instead of restarting it.
pub type RunnerFactory = fn(&TaskSpec, &WorkerContext) -> Result<Box<dyn TaskRunner>, String>;

/// The stand-in engine until the pipeline plugs in: counts what it receives.
#[derive(Debug, Default)]
pub struct CountingRunner {
    pub points: u64,
    pub batches: u64,
}

impl TaskRunner for CountingRunner {
    fn push_points(&mut self, _db: &str, _rp: &str, points: Vec<Point>) {
        self.batches += 1;
        self.points += points.len() as u64;
    }

    fn tick(&mut self, _now_ns: i64) {}

    fn http_out(&self, _endpoint: &str) -> Option<String> {
        None
    }

    fn stats_json(&self) -> String {
        serde_json::json!({
            "points_received": self.points,
            "batches_received": self.batches,
        })
        .to_string()
    }
}

/// [`RunnerFactory`] of [`CountingRunner`].
pub fn counting_runner(
    _spec: &TaskSpec,
    _ctx: &WorkerContext,
) -> Result<Box<dyn TaskRunner>, String> {
    Ok(Box::new(CountingRunner::default()))
}
