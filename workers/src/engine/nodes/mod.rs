//! The node implementations and the factory that builds them from a checked pipeline.

mod alert;
mod basic;
mod batch;
mod combine;
mod http_post;
mod influxdb_out;
mod influxql;
mod join;
mod loopback;
#[cfg(test)]
mod semantics_tests;
mod sideload;
mod stats;
mod window;

pub use alert::{AlertEvent, Level as AlertLevel, RestoredEvent};
pub use loopback::LoopbackWrite;

use super::influxdb_out::{InfluxDbOutSpec, OutWrite};
use super::msg::Msg;
use super::props::NodeSpec;
use super::query::QueryNodeSpec;
use super::{Cx, EngineError, TaskContext};
use std::collections::HashMap;
use tickscript::pipeline::Pipeline;

/// One running node. Called with one message at a time; outputs go to `cx.out`.
pub trait NodeImpl: Send {
    /// `port` is the index of the parent the message came from (join/union have several).
    fn on_msg(&mut self, port: usize, msg: Msg, cx: &mut Cx);

    /// Wall-clock work (barrier idle timers, stats intervals).
    fn on_tick(&mut self, _now: i64, _cx: &mut Cx) {}

    /// Whether the node reads batches whose points are still held (`BatchMsg::held`: a
    /// window's output). Every other node gets them as `b.points`, converted on the way in.
    fn reads_held(&self) -> bool {
        false
    }

    /// Number of groups with state in this node (`working_cardinality`).
    fn cardinality(&self) -> usize {
        0
    }

    /// Node-specific counters (alert: `alerts_triggered`, ...).
    fn counters(&self, _out: &mut Vec<(&'static str, i64)>) {}

    /// For httpOut nodes: the endpoint name and the current body.
    fn http_out(&self) -> Option<(&str, String)> {
        None
    }

    /// For from() nodes under `stream`: whether points of this database/retention policy
    /// reach it.
    fn accepts_dbrp(&self, _db: &str, _rp: &str) -> bool {
        true
    }

    /// For stats nodes: the node whose statistics they emit.
    fn observes(&self) -> Option<usize> {
        None
    }

    /// For query nodes: what the shell needs to schedule the query.
    fn query_spec(&self) -> Option<&QueryNodeSpec> {
        None
    }

    /// For query nodes: the shell's query failed (counted in `query_errors`).
    fn query_failed(&mut self) {}

    /// For influxDBOut nodes: the writer configuration.
    fn influxdb_out(&self) -> Option<&InfluxDbOutSpec> {
        None
    }

    /// For influxDBOut nodes: moves the points produced since the last call to `out`.
    fn take_writes(&mut self, _out: &mut Vec<OutWrite>) {}

    /// For influxDBOut nodes: the shell's writer wrote `ok_points` and failed `errors` writes.
    fn write_result(&mut self, _ok_points: u64, _errors: u64) {}

    /// For alert nodes: `Some(named topic)` (`.topic()`, if any), so the shell can fetch the
    /// node's last event states; `None` for every other node.
    fn alert_topic(&self) -> Option<Option<&str>> {
        None
    }

    /// For alert nodes: the last state of each event id before the task (re)started; a group
    /// continues from it when its first point arrives (Kapacitor's `restoreEventState`).
    fn restore_alert_states(&mut self, _states: HashMap<String, RestoredEvent>) {}

    /// For kapacitorLoopback nodes: moves the points produced since the last call to `out`.
    fn take_loopback(&mut self, _out: &mut Vec<LoopbackWrite>) {}

    /// For sideload nodes: reads the source files again; `None` for every other node.
    fn reload_sideload(&mut self) -> Option<Result<(), String>> {
        None
    }
}

/// Builds the implementation of node `id` of `pipeline`.
pub fn build(
    pipeline: &Pipeline,
    id: usize,
    name: String,
    ctx: &TaskContext,
) -> Result<Box<dyn NodeImpl>, EngineError> {
    let node = &pipeline.nodes[id];
    let spec = NodeSpec { node, name };
    let kind = node.kind.as_str();
    Ok(match kind {
        "stream" => Box::new(basic::Source),
        "from" => Box::new(basic::From::new(&spec)?),
        "where" => Box::new(basic::Where::new(&spec)?),
        "eval" => Box::new(basic::Eval::new(&spec)?),
        "groupBy" => Box::new(basic::GroupBy::new(&spec)?),
        "default" => Box::new(basic::Default::new(&spec)?),
        "delete" => Box::new(basic::Delete::new(&spec)?),
        "shift" => Box::new(basic::Shift::new(&spec)?),
        "sample" => Box::new(basic::Sample::new(&spec)?),
        "changeDetect" => Box::new(basic::ChangeDetect::new(&spec)?),
        "stateDuration" | "stateCount" => Box::new(basic::StateTracking::new(&spec)?),
        "log" => Box::new(basic::Log::new(&spec)?),
        "noOp" | "noop" => Box::new(basic::NoOp),
        "httpOut" => Box::new(basic::HttpOut::new(&spec)?),
        "httpPost" => Box::new(http_post::HttpPost::new(&spec, &ctx.http_post)?),
        "union" => Box::new(basic::Union::new(&spec)?),
        "window" => Box::new(window::Window::new(&spec)?),
        "alert" => Box::new(alert::Alert::new(&spec, ctx)?),
        "join" => Box::new(join::Join::new(&spec, pipeline)?),
        "combine" => Box::new(combine::Combine::new(&spec)?),
        "flatten" => Box::new(combine::Flatten::new(&spec)?),
        "barrier" => Box::new(stats::Barrier::new(&spec)?),
        "stats" => Box::new(stats::Stats::new(&spec)?),
        "deadman" => Box::new(stats::Deadman::new(&spec, pipeline, ctx)?),
        k if influxql::is_influxql(k) => influxql::build(&spec)?,
        "batch" => Box::new(batch::BatchSource),
        "query" => Box::new(batch::Query::new(QueryNodeSpec::parse(id, &spec)?)),
        "trickle" => Box::new(batch::Trickle),
        "influxDBOut" => Box::new(influxdb_out::InfluxDbOut::new(InfluxDbOutSpec::parse(
            id,
            &spec,
            pipeline.task_type,
        )?)),
        "sideload" => Box::new(sideload::Sideload::new(&spec)?),
        "kapacitorLoopback" => Box::new(loopback::Loopback::new(&spec)?),
        "queryFlux" => {
            return Err(spec.err("queryFlux() is not supported: use query() with InfluxQL"));
        }
        other => {
            return Err(spec.err(format!("node kind {other:?} is not supported")));
        }
    })
}
