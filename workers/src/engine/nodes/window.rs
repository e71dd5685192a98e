//! `window()`: turns a stream into batches, by time or by count, per group.
//!
//! Time windows are driven by point time exactly like Kapacitor: a window `[end-period, end)`
//! is emitted when the first point with time ≥ `end` arrives; the next end is that point's
//! time + every (truncated to every with `.align()`). With `every(0)` a window `(t-period, t]`
//! is emitted on every point.

use super::NodeImpl;
use crate::engine::Cx;
use crate::engine::held::HeldPoint;
use crate::engine::msg::{BatchMsg, GroupMap, Msg};
use crate::engine::props::NodeSpec;
use crate::engine::{EngineError, timeutil};
use kapacitor_models::Batch;
use std::collections::VecDeque;

enum Kind {
    Time {
        period: i64,
        every: i64,
        align: bool,
    },
    Count {
        period: usize,
        every: usize,
    },
}

pub struct Window {
    kind: Kind,
    fill_period: bool,
    groups: GroupMap<GroupWindow>,
}

struct GroupWindow {
    name: String,
    /// Points with their null fields, in their compact form.
    buf: VecDeque<HeldPoint>,
    next_emit: i64,
    /// Count windows: points seen and the count at which to emit next.
    count: usize,
    next_count: usize,
}

impl Window {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let period = spec.prop_duration("period")?.unwrap_or(0);
        let every = spec.prop_duration("every")?.unwrap_or(0);
        let period_count = spec.prop_int("periodCount")?.unwrap_or(0);
        let every_count = spec.prop_int("everyCount")?.unwrap_or(0);
        let align = spec.flag("align")?;
        let fill_period = spec.flag("fillPeriod")?;
        if period < 0 || every < 0 || period_count < 0 || every_count < 0 {
            return Err(spec.err("window period and every must not be negative"));
        }
        let time = period > 0 || every > 0;
        let count = period_count > 0 || every_count > 0;
        let kind = match (time, count) {
            (true, true) => {
                return Err(spec.err(
                    "can only use one window type: either period/every or periodCount/everyCount",
                ));
            }
            (true, false) => {
                if period == 0 {
                    return Err(spec.err("window period must be positive"));
                }
                if align && every == 0 {
                    return Err(spec.err("cannot align a window with every(0s)"));
                }
                Kind::Time {
                    period,
                    every,
                    align,
                }
            }
            (false, true) => {
                if period_count == 0 {
                    return Err(spec.err("window periodCount must be positive"));
                }
                let every = if every_count == 0 { 1 } else { every_count };
                Kind::Count {
                    period: period_count as usize,
                    every: every as usize,
                }
            }
            (false, false) => {
                return Err(spec.err("window needs .period() or .periodCount()"));
            }
        };
        Ok(Window {
            kind,
            fill_period,
            groups: GroupMap::default(),
        })
    }
}

impl NodeImpl for Window {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        let pm = match msg {
            Msg::Point(pm) => pm,
            Msg::Batch(_) => {
                cx.error("window expects a stream, got a batch");
                return;
            }
            Msg::Delete { ref group } => {
                self.groups.remove(group);
                cx.emit(msg);
                return;
            }
            other => {
                cx.emit(other);
                return;
            }
        };
        let group = pm.group;
        let time = pm.p.time;
        let fill = self.fill_period;
        let w = self.groups.entry(group.clone()).or_insert_with(|| {
            let next_emit = match self.kind {
                Kind::Time {
                    period,
                    every,
                    align,
                } => {
                    if fill {
                        let first = time + period;
                        if align {
                            let mut n = timeutil::truncate(first, every);
                            if n <= first {
                                n += every;
                            }
                            n
                        } else {
                            first
                        }
                    } else if align {
                        timeutil::truncate(time + every, every)
                    } else {
                        time + every
                    }
                }
                Kind::Count { .. } => 0,
            };
            let next_count = match self.kind {
                Kind::Count { period, every } => {
                    if fill {
                        period
                    } else {
                        every
                    }
                }
                Kind::Time { .. } => 0,
            };
            GroupWindow {
                name: pm.p.name.clone(),
                buf: VecDeque::new(),
                next_emit,
                count: 0,
                next_count,
            }
        });
        // The group's previous point is usually of the same series.
        let p = cx.held().hold(pm.p, pm.nulls, w.buf.back());
        let out = match self.kind {
            Kind::Time {
                period,
                every,
                align,
            } => {
                if every == 0 {
                    w.buf.push_back(p);
                    let t = w.buf.back().map(|p| p.time).unwrap_or_default();
                    if t >= w.next_emit {
                        let oldest = t - period;
                        while w.buf.front().is_some_and(|p| p.time <= oldest) {
                            w.buf.pop_front();
                        }
                        w.next_emit = t;
                        Some((t, w.buf.iter().cloned().collect()))
                    } else {
                        None
                    }
                } else {
                    let mut out = None;
                    if p.time >= w.next_emit {
                        let tmax = w.next_emit;
                        let oldest = tmax - period;
                        while w.buf.front().is_some_and(|p| p.time < oldest) {
                            w.buf.pop_front();
                        }
                        let mut next = p.time + every;
                        if align {
                            next = timeutil::truncate(next, every);
                        }
                        w.next_emit = next;
                        // Points before the next window's start are in no later window: move
                        // them out instead of copying.
                        let keep_from = next - period;
                        let mut pts = Vec::with_capacity(w.buf.len());
                        while w.buf.front().is_some_and(|p| p.time < keep_from) {
                            pts.push(w.buf.pop_front().expect("front exists"));
                        }
                        pts.extend(w.buf.iter().cloned());
                        out = Some((tmax, pts));
                    }
                    w.buf.push_back(p);
                    out
                }
            }
            Kind::Count { period, every } => {
                w.buf.push_back(p);
                if w.buf.len() > period {
                    w.buf.pop_front();
                }
                w.count += 1;
                if w.count == w.next_count {
                    w.next_count += every;
                    let pts: Vec<HeldPoint> = w.buf.iter().cloned().collect();
                    let tmax = pts.last().map(|p| p.time).unwrap_or_default();
                    Some((tmax, pts))
                } else {
                    None
                }
            }
        };
        if let Some((tmax, held)) = out {
            let held: Vec<HeldPoint> = held;
            let mut bm = BatchMsg::new(
                Batch {
                    name: w.name.clone(),
                    tags: group.tags().clone(),
                    time: tmax,
                    points: Vec::new(),
                },
                group,
            );
            if !held.is_empty() {
                bm.held = Some(Box::new(held));
            }
            cx.emit(Msg::Batch(bm));
        }
    }

    fn cardinality(&self) -> usize {
        self.groups.len()
    }
}
