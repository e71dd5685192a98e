//! influxDBOut in the worker shell: one [`InfluxDbOut`] writer per influxDBOut node. The
//! engine leaves the points its influxDBOut nodes produce in an outbox; the runner hands them
//! here after every push and tick. Enqueueing never waits on the network: each writer buffers
//! (bounded, oldest dropped first), writes on its own tokio task and retries with backoff
//! while InfluxDB is down. What the writers did flows back into the nodes' `points_written`
//! and `write_errors`.

use crate::engine::{InfluxDbOutSpec, OutWrite};
use kapacitor_influxdb::{Clusters, InfluxDbOut, OutStats};
use std::time::Duration;
use tokio::runtime::Handle;
use tracing::{info, warn};

/// How long the last flush at task stop may take before queued points are given up.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

struct Writer {
    node: usize,
    name: String,
    out: InfluxDbOut,
    /// Counters already reported to the engine.
    reported: OutStats,
}

/// The writers of one task.
pub(crate) struct OutWriters {
    writers: Vec<Writer>,
    runtime: Handle,
}

impl OutWriters {
    /// Starts a writer per node on `runtime` (or the current runtime). An `Err` names the
    /// node whose cluster does not exist: the task cannot run.
    pub fn start(
        specs: &[InfluxDbOutSpec],
        clusters: &Clusters,
        runtime: Option<&Handle>,
    ) -> Result<OutWriters, String> {
        let runtime = match runtime.cloned().or_else(|| Handle::try_current().ok()) {
            Some(h) => h,
            None => return Err("influxDBOut needs a tokio runtime to write from".into()),
        };
        // Check every node before starting any writer.
        let clients = specs
            .iter()
            .map(|s| {
                clusters
                    .get(&s.cluster)
                    .cloned()
                    .map_err(|e| format!("{}: {e}", s.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let _enter = runtime.enter();
        let writers = specs
            .iter()
            .zip(clients)
            .map(|(s, client)| Writer {
                node: s.node,
                name: s.name.clone(),
                out: InfluxDbOut::start(client, s.out_config()),
                reported: OutStats::default(),
            })
            .collect();
        Ok(OutWriters { writers, runtime })
    }

    /// Queues the points the engine's outbox held.
    pub fn feed(&self, writes: Vec<OutWrite>) {
        for w in writes {
            match self.writers.iter().find(|x| x.node == w.node) {
                Some(x) => x
                    .out
                    .write_points(&w.database, &w.retention_policy, w.points),
                None => warn!(
                    node = w.node,
                    points = w.points.len(),
                    "points for an influxDBOut node without a writer dropped"
                ),
            }
        }
    }

    /// `(node, points written, failed writes)` since the previous call, for the nodes'
    /// statistics; nodes with nothing new are left out.
    pub fn take_results(&mut self) -> Vec<(usize, u64, u64)> {
        let mut out = Vec::new();
        for w in &mut self.writers {
            let now = w.out.stats();
            let written = now.points_written - w.reported.points_written;
            let errors = now.write_errors - w.reported.write_errors;
            if written > 0 || errors > 0 {
                out.push((w.node, written, errors));
            }
            w.reported = now;
        }
        out
    }

    /// Writes what is queued (waiting at most [`CLOSE_LIMIT`]) and stops the writers. Called
    /// on the engine thread, which is not a runtime thread, when the task stops.
    pub fn close(self) {
        let OutWriters { writers, runtime } = self;
        let closing = async move {
            for w in writers {
                let pending = w.out.pending();
                let name = w.name.clone();
                if tokio::time::timeout(CLOSE_LIMIT, w.out.close())
                    .await
                    .is_err()
                {
                    warn!(node = %name, pending, "influxDBOut could not write its queued points before the task stopped");
                } else if pending > 0 {
                    info!(node = %name, pending, "influxDBOut flushed at task stop");
                }
            }
        };
        if Handle::try_current().is_ok() {
            // Inside a runtime (tests driving a runner directly): finish in the background.
            runtime.spawn(closing);
        } else {
            runtime.block_on(closing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::Precision;

    fn spec(node: usize, cluster: &str) -> InfluxDbOutSpec {
        InfluxDbOutSpec {
            node,
            name: format!("influxdb_out{node}"),
            cluster: cluster.into(),
            database: "db".into(),
            retention_policy: String::new(),
            measurement: String::new(),
            write_consistency: String::new(),
            precision: Precision::Nanosecond,
            buffer: 10,
            flush_interval_ns: 1_000_000_000,
            tags: Default::default(),
            create: false,
        }
    }

    fn clusters() -> Clusters {
        Clusters::from_configs(&[kapacitor_config::InfluxDbConfig {
            urls: vec!["http://127.0.0.1:9".into()],
            ..Default::default()
        }])
        .expect("one cluster")
    }

    #[test]
    fn an_unknown_cluster_names_the_node_and_starts_nothing() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let err = OutWriters::start(
            &[spec(2, ""), spec(3, "nope")],
            &clusters(),
            Some(rt.handle()),
        )
        .err()
        .expect("refused");
        assert_eq!(
            err,
            "influxdb_out3: invalid InfluxDB configuration: no such InfluxDB config nope"
        );
    }

    #[test]
    fn points_for_unknown_nodes_are_dropped_and_results_start_empty() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut w = OutWriters::start(&[spec(2, "")], &clusters(), Some(rt.handle())).unwrap();
        w.feed(vec![OutWrite {
            node: 7,
            database: "db".into(),
            retention_policy: String::new(),
            points: vec![],
        }]);
        assert!(w.take_results().is_empty());
        // Closing from a plain thread waits on the runtime (nothing queued: at once).
        w.close();
    }
}
