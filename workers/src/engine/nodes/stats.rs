//! Wall-clock driven nodes: `barrier()` (idle/period barriers, optional group delete) and
//! `stats(interval)` (the observed node's emitted counts per group).

use super::NodeImpl;
use crate::engine::msg::{Group, GroupMap, Msg, PointMsg};
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
                nulls: Default::default(),
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

/// Kapacitor's `[deadman]` defaults; `NODE_NAME` and `INTERVAL` are substituted per node.
const DEADMAN_ID: &str = "{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'";
const DEADMAN_MESSAGE: &str = "{{ .ID }} is {{ if eq .Level \"OK\" }}alive{{ else }}dead{{ end }}: {{ index .Fields \"emitted\" | printf \"%0.3f\" }} points/INTERVAL.";

/// `deadman(threshold, interval[, lambdas...])`: Kapacitor's sugar for
/// `stats(interval).align() | derivative('emitted').unit(interval).nonNegative() |
/// alert().crit(lambda: "emitted" <= threshold [AND ...])`, as one node: every interval it
/// takes the observed node's emitted count per group, turns it into points per interval and
/// runs the alert on it.
pub struct Deadman {
    interval: i64,
    observes: usize,
    next: Option<i64>,
    prev: GroupMap<(i64, i64)>,
    alert: super::alert::Alert,
}

impl Deadman {
    pub fn new(
        spec: &NodeSpec,
        pipeline: &tickscript::pipeline::Pipeline,
        ctx: &crate::engine::TaskContext,
    ) -> Result<Self, EngineError> {
        use tickscript::ast::{BinaryOp, Expr};
        use tickscript::pipeline::{Arg, Node, Property};
        let threshold = match spec.arg(0).and_then(crate::engine::props::arg_f64) {
            Some(t) => t,
            None => return Err(spec.err("deadman needs a numeric threshold")),
        };
        let interval = match spec.arg(1) {
            Some(a) => spec.duration(a, "deadman interval")?,
            None => return Err(spec.err("deadman needs an interval")),
        };
        if interval <= 0 {
            return Err(spec.err("deadman interval must be positive"));
        }
        let observes = *spec
            .node
            .parents
            .first()
            .ok_or_else(|| spec.err("deadman needs a parent node"))?;
        let pos = spec.node.pos;
        let mut crit = Expr::Binary {
            op: BinaryOp::LessEq,
            lhs: Box::new(Expr::Reference("emitted".into(), pos)),
            rhs: Box::new(Expr::Float(threshold, pos)),
            pos,
        };
        for a in spec.node.args.iter().skip(2) {
            let Arg::Lambda(e) = a else {
                return Err(spec.err("extra deadman arguments must be lambdas"));
            };
            let e = match e {
                Expr::Lambda(inner, _) => (**inner).clone(),
                e => e.clone(),
            };
            crit = Expr::Binary {
                op: BinaryOp::And,
                lhs: Box::new(crit),
                rhs: Box::new(e),
                pos,
            };
        }
        let parent_name = pipeline.node_name(observes);
        let interval_s = kapacitor_models::time_fmt::go_duration_string(interval);
        let subst = |s: &str| {
            s.replace("NODE_NAME", &parent_name)
                .replace("INTERVAL", &interval_s)
        };
        let prop = |name: &str, args: Vec<Arg>| Property {
            name: name.into(),
            args,
            props: Vec::new(),
            pos,
        };
        let mut props = vec![
            prop("id", vec![Arg::Str(subst(DEADMAN_ID))]),
            prop("message", vec![Arg::Str(subst(DEADMAN_MESSAGE))]),
        ];
        props.extend(spec.node.props.iter().cloned());
        props.push(prop("crit", vec![Arg::Lambda(crit)]));
        let node = Node {
            id: spec.node.id,
            kind: "alert".into(),
            args: Vec::new(),
            props,
            parents: spec.node.parents.clone(),
            pos,
        };
        let alert_spec = NodeSpec {
            node: &node,
            name: spec.name.clone(),
        };
        Ok(Deadman {
            interval,
            observes,
            next: None,
            prev: GroupMap::default(),
            alert: super::alert::Alert::new(&alert_spec, ctx)?,
        })
    }
}

impl NodeImpl for Deadman {
    /// Data from the observed node is not this node's input.
    fn on_msg(&mut self, _port: usize, _msg: Msg, _cx: &mut Cx) {}

    fn on_tick(&mut self, now: i64, cx: &mut Cx) {
        let next = *self.next.get_or_insert(now + self.interval);
        if now < next {
            return;
        }
        self.next = Some(now + self.interval);
        let t = timeutil::round(now, self.interval);
        let mut counts: Vec<(Group, i64)> = match cx.observed() {
            Some((c, _)) => c.by_group.iter().map(|(g, n)| (g.clone(), *n)).collect(),
            None => Vec::new(),
        };
        if counts.is_empty() {
            let d = cx.groups().dims(Default::default());
            let g = cx.groups().group("stats", &Default::default(), &d);
            counts.push((g, 0));
        }
        counts.sort_by(|a, b| a.0.id().cmp(b.0.id()));
        for (group, emitted) in counts {
            let prev = self.prev.insert(group.clone(), (t, emitted));
            let Some((pt, pe)) = prev else { continue };
            if t == pt {
                continue;
            }
            let diff = (emitted - pe) as f64;
            if diff < 0.0 {
                continue;
            }
            let rate = diff / ((t - pt) as f64 / self.interval as f64);
            let mut fields = Fields::new();
            fields.insert("emitted".into(), FieldValue::Float(rate));
            let msg = Msg::Point(PointMsg {
                nulls: Default::default(),
                p: Point {
                    name: "stats".into(),
                    tags: group.tags().clone(),
                    fields,
                    time: t,
                },
                group,
            });
            self.alert.on_msg(0, msg, cx);
        }
    }

    fn observes(&self) -> Option<usize> {
        Some(self.observes)
    }

    fn cardinality(&self) -> usize {
        self.prev.len()
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        self.alert.counters(out);
    }
}
