//! `influxDBOut()`: turns points and batches into final points in a bounded outbox that the
//! worker shell drains (`Task::drain_influxdb_writes`) and writes with its own writer.

use super::NodeImpl;
use crate::engine::Cx;
use crate::engine::influxdb_out::{InfluxDbOutSpec, OutWrite};
use crate::engine::msg::Msg;
use kapacitor_models::Point;

/// Points kept when the shell does not drain, per node; beyond it the oldest are dropped.
/// Ten writes' worth, like the writer's own bound, and never less than 10,000.
fn max_pending(buffer: usize) -> usize {
    buffer.saturating_mul(10).max(10_000)
}

pub struct InfluxDbOut {
    spec: InfluxDbOutSpec,
    pending: Vec<OutWrite>,
    pending_points: usize,
    max_pending: usize,
    points_written: i64,
    write_errors: i64,
}

impl InfluxDbOut {
    pub fn new(spec: InfluxDbOutSpec) -> InfluxDbOut {
        InfluxDbOut {
            max_pending: max_pending(spec.buffer),
            spec,
            pending: Vec::new(),
            pending_points: 0,
            points_written: 0,
            write_errors: 0,
        }
    }

    fn push(&mut self, db: &str, rp: &str, points: Vec<Point>, cx: &mut Cx) {
        if points.is_empty() {
            return;
        }
        self.pending_points += points.len();
        match self.pending.last_mut() {
            Some(w) if w.database == db && w.retention_policy == rp => w.points.extend(points),
            _ => self.pending.push(OutWrite {
                node: self.spec.node,
                database: db.to_string(),
                retention_policy: rp.to_string(),
                points,
            }),
        }
        if self.pending_points > self.max_pending {
            let mut excess = self.pending_points - self.max_pending;
            let dropped = excess;
            while excess > 0 && !self.pending.is_empty() {
                let first = &mut self.pending[0];
                let n = excess.min(first.points.len());
                first.points.drain(..n);
                excess -= n;
                if first.points.is_empty() {
                    self.pending.remove(0);
                }
            }
            self.pending_points -= dropped;
            cx.error(format!(
                "{dropped} points dropped: the outbox holds at most {} points and was not drained",
                self.max_pending
            ));
        }
    }
}

impl NodeImpl for InfluxDbOut {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        // Nothing is forwarded: influxDBOut has no children but stats, which observe counts.
        match msg {
            Msg::Point(pm) => {
                let mut p = pm.p;
                self.spec.finish_point(&mut p, None);
                let (db, rp) = cx.source_dbrp();
                let db = if self.spec.database.is_empty() {
                    db.to_string()
                } else {
                    self.spec.database.clone()
                };
                let rp = if self.spec.retention_policy.is_empty() {
                    rp.to_string()
                } else {
                    self.spec.retention_policy.clone()
                };
                if db.is_empty() {
                    cx.error("no database to write to: set .database() on influxDBOut");
                    return;
                }
                self.push(&db, &rp, vec![p], cx);
            }
            Msg::Batch(bm) => {
                if self.spec.database.is_empty() {
                    cx.error("a batch carries no database: set .database() on influxDBOut");
                    return;
                }
                let name = bm.b.name;
                let tags = bm.b.tags;
                let mut points = bm.b.points;
                for p in &mut points {
                    self.spec.finish_point(p, Some((&name, &tags)));
                }
                let db = self.spec.database.clone();
                let rp = self.spec.retention_policy.clone();
                self.push(&db, &rp, points, cx);
            }
            Msg::Barrier { .. } | Msg::Delete { .. } => {}
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("points_written", self.points_written));
        out.push(("write_errors", self.write_errors));
    }

    fn influxdb_out(&self) -> Option<&InfluxDbOutSpec> {
        Some(&self.spec)
    }

    fn take_writes(&mut self, out: &mut Vec<OutWrite>) {
        self.pending_points = 0;
        out.append(&mut self.pending);
    }

    fn write_result(&mut self, ok_points: u64, errors: u64) {
        self.points_written = self.points_written.saturating_add(ok_points as i64);
        self.write_errors = self.write_errors.saturating_add(errors as i64);
    }
}
