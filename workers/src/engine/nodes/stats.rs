//! Wall-clock driven nodes: `barrier()` (idle/period barriers, optional group delete) and
//! `stats(interval)` (the observed node's emitted counts per group).

use super::NodeImpl;
use crate::engine::msg::{GroupMap, Group, Msg, PointMsg};
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError, timeutil};
use kapacitor_models::{FieldValue, Fields, Point};

fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `barrier()`: per group, emits a barrier when the group was idle for `.idle(d)` or every
/// `.period(d)`, and with `.delete(TRUE)` a group delete right after it.
pub struct Barrier {
    idle: i64,
    period: i64,
    delete: bool,
    groups: GroupMap<BarrierGroup>,
}

struct BarrierGroup {
    /// Wall time of the last message (idle) or of the last barrier (period).
    last_wall: i64,
    /// Data time of the last barrier; older points are dropped.
    last_barrier: Option<i64>,
}

impl Barrier {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let idle = spec.prop_duration("idle")?.unwrap_or(0);
        let period = spec.prop_duration("period")?.unwrap_or(0);
        if idle < 0 || period < 0 {
            return Err(spec.err("barrier idle and period must not be negative"));
        }
        if idle > 0 && period > 0 {
            return Err(spec.err("cannot specify both idle and period"));
        }
        if idle == 0 && period == 0 {
            return Err(spec.err("barrier needs .idle() or .period()"));
        }
        Ok(Barrier {
            idle,
            period,
            delete: spec.flag("delete")?,
            groups: GroupMap::default(),
        })
    }
}

impl NodeImpl for Barrier {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        let Some(t) = msg.time() else {
            if let Msg::Delete { ref group } = msg {
                self.groups.remove(group);
            }
            cx.emit(msg);
            return;
        };
        if matches!(msg, Msg::Barrier { .. }) {
            cx.emit(msg);
            return;
        }
        let now = wall_now();
        let idle = self.idle > 0;
        let g = self
            .groups
            .entry(msg.group().clone())
            .or_insert(BarrierGroup {
                last_wall: now,
                last_barrier: None,
            });
        if g.last_barrier.is_some_and(|b| t < b) {
            return;
        }
        if idle {
            g.last_wall = now;
        }
        cx.emit(msg);
    }

    fn on_tick(&mut self, now: i64, cx: &mut Cx) {
        let wait = if self.idle > 0 {
            self.idle
        } else {
            self.period
        };
        let mut fire: Vec<Group> = self
            .groups
            .iter()
            .filter(|(_, g)| now - g.last_wall >= wait)
            .map(|(k, _)| k.clone())
            .collect();
        fire.sort_by(|a, b| a.id().cmp(b.id()));
        for group in fire {
            cx.emit(Msg::Barrier {
                group: group.clone(),
                time: now,
            });
            if self.delete {
                self.groups.remove(&group);
                cx.emit(Msg::Delete { group });
            } else if let Some(g) = self.groups.get_mut(&group) {
                g.last_wall = now;
                g.last_barrier = Some(now);
            }
        }
    }

    fn cardinality(&self) -> usize {
        self.groups.len()
    }
}

/// `stats(interval)`: every interval, one point named `stats` per group of the observed node
/// with its `emitted` count.
pub struct Stats {
    interval: i64,
    align: bool,
    observes: usize,
    next: Option<i64>,
}

impl Stats {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let interval = match spec.arg(0) {
            Some(a) => spec.duration(a, "stats interval")?,
            None => return Err(spec.err("stats needs an interval")),
        };
        if interval <= 0 {
            return Err(spec.err("stats interval must be positive"));
        }
        let observes = *spec
            .node
            .parents
            .first()
            .ok_or_else(|| spec.err("stats needs a parent node"))?;
        Ok(Stats {
            interval,
            align: spec.flag("align")?,
            observes,
            next: None,
        })
    }
}

impl NodeImpl for Stats {
    /// Data from the observed node is not this node's input.
    fn on_msg(&mut self, _port: usize, _msg: Msg, _cx: &mut Cx) {}

    fn on_tick(&mut self, now: i64, cx: &mut Cx) {
        let next = *self.next.get_or_insert(now + self.interval);
        if now < next {
            return;
        }
        self.next = Some(now + self.interval);
        let t = if self.align {
            timeutil::round(now, self.interval)
        } else {
            now
        };
        let mut pts: Vec<(Group, i64)> = match cx.observed() {
            Some((counts, _)) => counts
                .by_group
                .iter()
                .map(|(g, c)| (g.clone(), *c))
                .collect(),
            None => Vec::new(),
        };
        pts.sort_by(|a, b| a.0.id().cmp(b.0.id()));
        if pts.is_empty() {
            let d = cx.groups().dims(Default::default());
            let g = cx.groups().group("stats", &Default::default(), &d);
            pts.push((g, 0));
        }
        for (group, emitted) in pts {
            let mut fields = Fields::new();
            fields.insert("emitted".into(), FieldValue::Int(emitted));
            cx.emit(Msg::Point(PointMsg {
                p: Point {
                    name: "stats".into(),
                    tags: group.tags().clone(),
                    fields,
                    time: t,
                },
                group,
            }));
        }
    }

    fn observes(&self) -> Option<usize> {
        Some(self.observes)
    }
}
