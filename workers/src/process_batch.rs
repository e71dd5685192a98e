//! Batch tasks in the worker shell: each `query()` node of the task runs on its schedule
//! (`.every`/`.align`/`.cron`) against the `[[influxdb]]` cluster it names, and the answer is
//! pushed through the pipeline as batches. A failed run (InfluxDB down, a query it refuses)
//! is logged and counted in the node's `query_errors`, and the next tick simply tries again:
//! nothing here can stop the task.

use crate::engine::QueryNodeSpec;
use crate::process_engine::EngineHandle;
use kapacitor_influxdb::{BatchQuery, Client, Clusters};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Longest a single query may take before the run counts as failed. InfluxDB's own
/// `timeout` (of `[[influxdb]]`) usually ends it first; this bound only keeps a hung
/// connection (with `timeout = "0s"`) from stopping the schedule for good.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// One scheduled query node.
pub(crate) struct Scheduled {
    pub spec: QueryNodeSpec,
    pub query: BatchQuery,
    pub client: Client,
}

/// Compiles the task's query nodes and finds their clusters. An `Err` names the node: the
/// task cannot run (Kapacitor refuses such a task at start too).
pub(crate) fn prepare(
    specs: Vec<QueryNodeSpec>,
    clusters: &Clusters,
) -> Result<Vec<Scheduled>, String> {
    specs
        .into_iter()
        .map(|spec| {
            let query = spec
                .batch_query()
                .map_err(|e| format!("{}: {e}", spec.name))?;
            let client = clusters
                .get(&spec.props.cluster)
                .map_err(|e| format!("{}: {e}", spec.name))?
                .clone();
            Ok(Scheduled {
                spec,
                query,
                client,
            })
        })
        .collect()
}

/// Runs every query node until `cancel`.
pub(crate) async fn run(
    task_id: String,
    queries: Vec<Scheduled>,
    engine: EngineHandle,
    cancel: CancellationToken,
) {
    let mut set = JoinSet::new();
    for q in queries {
        set.spawn(run_one(task_id.clone(), q, engine.clone(), cancel.clone()));
    }
    while set.join_next().await.is_some() {}
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The tick to run after `prev`, never one already in the past: when a run took longer
/// than the interval, the missed ticks are skipped (as Go's ticker does in Kapacitor).
pub(crate) fn next_tick(q: &BatchQuery, prev: i64, now: i64) -> Option<i64> {
    let next = q.next_run(prev)?;
    if next > now {
        Some(next)
    } else {
        q.next_run(now)
    }
}

async fn run_one(task_id: String, q: Scheduled, engine: EngineHandle, cancel: CancellationToken) {
    let Scheduled {
        spec,
        query,
        client,
    } = q;
    let Some(mut tick) = query.next_run(now_ns()) else {
        warn!(task = %task_id, node = %spec.name, "the query's schedule has no next run");
        return;
    };
    info!(task = %task_id, node = %spec.name, cluster = %client.name(), "batch query scheduled");
    loop {
        let wait = Duration::from_nanos(tick.saturating_sub(now_ns()).max(0) as u64);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let started = std::time::Instant::now();
        let res = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(RUN_LIMIT, query.run(&client, tick)) => r,
        };
        match res {
            Ok(Ok(batches)) => {
                debug!(task = %task_id, node = %spec.name, batches = batches.len(),
                    took = ?started.elapsed(), "batch query answered");
                if !batches.is_empty() && !engine.push_batches(spec.node, batches).await {
                    return;
                }
            }
            Ok(Err(e)) => {
                error!(task = %task_id, node = %spec.name, query = %query.build(tick),
                    error = %e, "batch query failed; retrying at the next tick");
                engine.query_failed(spec.node).await;
            }
            Err(_) => {
                error!(task = %task_id, node = %spec.name, limit = ?RUN_LIMIT,
                    "batch query did not answer in time; retrying at the next tick");
                engine.query_failed(spec.node).await;
            }
        }
        match next_tick(&query, tick, now_ns()) {
            Some(t) => tick = t,
            None => {
                warn!(task = %task_id, node = %spec.name, "the query's schedule has no next run");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_influxdb::QueryProps;

    fn every(every_s: i64, align: bool) -> BatchQuery {
        BatchQuery::new(
            "SELECT mean(v) FROM db.rp.m",
            QueryProps {
                period: every_s * 1_000_000_000,
                every: every_s * 1_000_000_000,
                align,
                ..QueryProps::default()
            },
        )
        .expect("valid query")
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn next_tick_follows_the_schedule_and_skips_missed_ticks() {
        let q = every(5, true);
        assert_eq!(next_tick(&q, 10 * S, 11 * S), Some(15 * S));
        // The run of tick 10 s ended at 17 s: tick 15 s is gone, 20 s is next.
        assert_eq!(next_tick(&q, 10 * S, 17 * S), Some(20 * S));
        let q = every(5, false);
        assert_eq!(next_tick(&q, 3 * S, 4 * S), Some(8 * S));
        assert_eq!(next_tick(&q, 3 * S, 9 * S), Some(14 * S));
    }

    #[test]
    fn prepare_names_the_node_of_an_unknown_cluster() {
        let spec = QueryNodeSpec {
            node: 1,
            name: "query1".into(),
            query: "SELECT v FROM db.rp.m".into(),
            props: QueryProps {
                every: 10 * S,
                cluster: "nope".into(),
                ..QueryProps::default()
            },
        };
        let clusters = Clusters::from_configs(&[kapacitor_config::InfluxDbConfig::default()])
            .expect("default cluster");
        let err = prepare(vec![spec.clone()], &clusters)
            .err()
            .expect("refused");
        assert_eq!(
            err,
            "query1: invalid InfluxDB configuration: no such InfluxDB config nope"
        );
        let mut ok = spec;
        ok.props.cluster = String::new();
        let s = prepare(vec![ok], &clusters).expect("default cluster");
        assert_eq!(s[0].client.name(), "default");
    }
}
