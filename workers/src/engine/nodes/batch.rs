//! Batch-task nodes: the `batch` source, `query()` (fed by the worker shell through
//! `Task::push_batch`) and `trickle()` (batch → stream).

use super::NodeImpl;
use crate::engine::Cx;
use crate::engine::msg::{Msg, PointMsg};
use crate::engine::query::QueryNodeSpec;

/// `batch`: the source of a batch task. Batches enter at its `query()` children, so it only
/// counts them (the task does that).
pub struct BatchSource;

impl NodeImpl for BatchSource {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        cx.emit(msg);
    }
}

/// `query()`: forwards the batches the shell got from InfluxDB (already grouped by the task),
/// and keeps Kapacitor's query statistics.
pub struct Query {
    spec: QueryNodeSpec,
    batches: i64,
    points: i64,
    errors: i64,
}

impl Query {
    pub fn new(spec: QueryNodeSpec) -> Query {
        Query {
            spec,
            batches: 0,
            points: 0,
            errors: 0,
        }
    }
}

impl NodeImpl for Query {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        if let Msg::Batch(bm) = &msg {
            self.batches += 1;
            self.points += bm.b.points.len() as i64;
        }
        cx.emit(msg);
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("batches_queried", self.batches));
        out.push(("points_queried", self.points));
        out.push(("query_errors", self.errors));
    }

    fn query_spec(&self) -> Option<&QueryNodeSpec> {
        Some(&self.spec)
    }

    fn query_failed(&mut self) {
        self.errors += 1;
    }
}

/// `trickle()`: each point of a batch continues as a stream point of the batch's group.
pub struct Trickle;

impl NodeImpl for Trickle {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Batch(mut bm) => {
                let group = bm.group;
                let name = bm.b.name;
                let mut nulls = std::mem::take(&mut bm.nulls).into_iter();
                let in_step = nulls.len() == bm.b.points.len();
                for mut p in bm.b.points {
                    if p.name != name {
                        p.name.clone_from(&name);
                    }
                    cx.emit(Msg::Point(PointMsg {
                        nulls: if in_step {
                            nulls.next().unwrap_or_default()
                        } else {
                            Default::default()
                        },
                        p,
                        group: group.clone(),
                    }));
                }
            }
            other => cx.emit(other),
        }
    }
}
