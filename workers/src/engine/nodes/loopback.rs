//! `kapacitorLoopback()`: writes the task's points back into this kapacitord's own stream,
//! as if they had been written to `/write` with the node's database and retention policy,
//! so that other tasks (or this one) receive them. `.measurement()` renames the points,
//! `.tag(k, v)` adds tags. The points leave through the worker's link to apid
//! ([`Task::drain_loopback`](crate::engine::Task::drain_loopback)).

use super::NodeImpl;
use crate::engine::msg::Msg;
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError};
use kapacitor_models::Point;
use tickscript::pipeline::Arg;

/// Points for this kapacitord's own stream: `(database, retention policy, points)`.
pub type LoopbackWrite = (String, String, Vec<Point>);

pub struct Loopback {
    database: String,
    retention_policy: String,
    measurement: Option<String>,
    tags: Vec<(String, String)>,
    pending: Vec<Point>,
    points_written: i64,
}

impl Loopback {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let database = spec
            .prop_str("database")?
            .filter(|d| !d.is_empty())
            .ok_or_else(|| spec.err("kapacitorLoopback needs a .database()"))?;
        let retention_policy = spec
            .prop_str("retentionPolicy")?
            .filter(|r| !r.is_empty())
            .ok_or_else(|| spec.err("kapacitorLoopback needs a .retentionPolicy()"))?;
        let mut tags = Vec::new();
        for p in spec.props("tag") {
            match p.args.as_slice() {
                [Arg::Str(k), Arg::Str(v)] => tags.push((k.clone(), v.clone())),
                _ => return Err(spec.err(".tag() takes a key and a string value")),
            }
        }
        Ok(Loopback {
            database,
            retention_policy,
            measurement: spec.prop_str("measurement")?.filter(|m| !m.is_empty()),
            tags,
            pending: Vec::new(),
            points_written: 0,
        })
    }

    fn push(&mut self, mut p: Point) {
        if let Some(m) = &self.measurement {
            p.name = m.clone();
        }
        for (k, v) in &self.tags {
            p.tags.insert(k.clone(), v.clone());
        }
        self.points_written += 1;
        self.pending.push(p);
    }
}

impl NodeImpl for Loopback {
    fn on_msg(&mut self, _port: usize, msg: Msg, _cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => self.push(pm.p),
            Msg::Batch(bm) => {
                for mut p in bm.b.points {
                    // A batch point inherits the batch's name and tags, as Kapacitor writes it.
                    if p.name.is_empty() {
                        p.name = bm.b.name.clone();
                    }
                    for (k, v) in &bm.b.tags {
                        p.tags.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    self.push(p);
                }
            }
            _ => {}
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("points_written", self.points_written));
    }

    fn take_loopback(&mut self, out: &mut Vec<LoopbackWrite>) {
        if !self.pending.is_empty() {
            out.push((
                self.database.clone(),
                self.retention_policy.clone(),
                std::mem::take(&mut self.pending),
            ));
        }
    }
}
